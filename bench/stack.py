"""The whole kit for benchmarks: the repo's own etc/supervisord.conf in a temporary directory.

The benchmarks measure what a sysadmin runs, so they start the real supervisord with the repo's
config (through the tests' Kit: its own ports, its own var/, a real SMTP server for the alerts)
rather than starting programs by hand.
"""
from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil

from tests.support import REPO, Kit, SmtpSink, wait_for

ALL_RUNNING_DEADLINE_S = 90.0
PROGRAMS = {"db", "railsim", "web", "predictor:predictor-0", "predictor:predictor-1", "tracker", "trainer", "janitor",
            "outbox", "crashmail", "alertlistener", "memmon", "httpok"}


@contextmanager
def running_stack(**overrides: str) -> Iterator[tuple[Kit, SmtpSink]]:
    """Start the kit (every program RUNNING, /healthz 200) with env overrides; stop it all after."""
    smtp = SmtpSink().start()
    with tempfile.TemporaryDirectory(prefix="pnr-bench-") as tmp:
        kit = Kit(Path(tmp), smtp.port, **overrides)
        shutil.copy(REPO / "app" / "data" / "model-default.json", kit.var / "model.json")  # as scripts/run does
        try:
            kit.start()
            wait_for(lambda: PROGRAMS <= {n for n, (s, _) in kit.states().items() if s == "RUNNING"},
                     ALL_RUNNING_DEADLINE_S, "every program RUNNING", interval_s=0.5)
            wait_for(lambda: kit.get("/healthz")[0] == 200, 30, "/healthz 200")
            yield kit, smtp
        finally:
            kit.stop()
            smtp.stop()


def sample_pnrs(kit: Kit, n: int) -> list[str]:
    """PNRs the kit's simulator knows (same seed and era as the running web app)."""
    from railsim.railway import Railway

    source = Railway(seed=int(kit.env["PNR_SIM_SEED"]), era=kit.env["PNR_SIM_ERA"])
    return source.sample_pnrs(dt.datetime.now(dt.UTC), n)


def program_pids(kit: Kit) -> dict[str, int]:
    """Program name -> pid, for the programs supervisord reports RUNNING."""
    pids = {}
    for name, (state, _) in kit.states().items():
        if state == "RUNNING":
            out = kit.ctl("pid", name).stdout.strip()
            if out.isdigit():
                pids[name] = int(out)
    return pids


def resident_memory(kit: Kit) -> dict[str, float]:
    """Resident memory in MiB per process: each program, and each gunicorn worker apart."""
    rss: dict[str, float] = {}
    for name, pid in sorted(program_pids(kit).items()):
        try:
            proc = psutil.Process(pid)
            rss[name] = proc.memory_info().rss / 2**20
            for i, child in enumerate(proc.children(recursive=True)):
                rss[f"{name} child {i} ({child.name()})"] = child.memory_info().rss / 2**20
        except psutil.NoSuchProcess:
            continue
    return rss
