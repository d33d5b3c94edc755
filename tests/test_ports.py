"""The port helper: ports a server can bind at once, never handed out twice, out of the kernel's reach."""
from __future__ import annotations

import socket
from pathlib import Path

from support import PORT_RANGE, free_port, free_ports


def test_ports_are_outside_the_ephemeral_range_and_never_repeat() -> None:
    ports = [free_port() for _ in range(50)]
    assert len(set(ports)) == 50
    assert all(PORT_RANGE[0] <= p < PORT_RANGE[1] for p in ports)
    low, _high = (int(x) for x in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    assert max(ports) < low


def test_a_run_of_ports_is_free_together() -> None:
    base = free_ports(5)
    for port in range(base, base + 5):
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))
