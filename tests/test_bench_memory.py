"""bench.stack's memory table on a real process tree: a parent, its child holding 50 MiB, and a
grandchild forked after the child touched them, sharing the pages copy-on-write (as gunicorn's
workers share their master's)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
from support import wait_for

from bench.stack import memory_totals, tree_memory

HELD_MIB = 50
PAGE = 4096

# Each level forwards SIGTERM to the process it forked and reaps it before exiting, so stopping the
# parent stops and reaps the whole tree. A handler is installed only after the fork, in the forking
# process: a child inheriting its parent's would signal the wrong pid.
TREE = f"""
import os, signal, sys

def forward(pid):
    signal.signal(signal.SIGTERM, lambda *_: os.kill(pid, signal.SIGTERM))
    os.waitpid(pid, 0)
    sys.exit(0)

ready = sys.argv[1]
child = os.fork()
if child:
    forward(child)
held = bytearray({HELD_MIB} * 2**20)
held[::{PAGE}] = b"\\x01" * len(range(0, len(held), {PAGE}))  # every page resident
grandchild = os.fork()
if grandchild == 0:
    while True:
        signal.pause()
with open(ready + ".tmp", "w") as f:
    f.write(f"{{os.getpid()}} {{grandchild}}")
os.rename(ready + ".tmp", ready)
forward(grandchild)
"""


@pytest.fixture
def tree(tmp_path: Path):
    """The running tree: (parent, child, grandchild) pids; stopped and reaped after the test."""
    ready = tmp_path / "ready"
    parent = subprocess.Popen([sys.executable, "-c", TREE, str(ready)], start_new_session=True)
    pids: list[int] = []
    try:
        wait_for(lambda: ready.exists() or parent.poll() is not None, 30, "the child's ready file")
        assert parent.poll() is None, f"the tree's parent exited with {parent.returncode}"
        child, grandchild = (int(p) for p in ready.read_text().split())
        pids = [child, grandchild]
        yield parent.pid, child, grandchild
    finally:
        parent.send_signal(signal.SIGTERM)
        try:
            parent.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(parent.pid, signal.SIGKILL)  # its session's group: the child and grandchild too
            parent.wait()
        wait_for(lambda: all(_gone(p) for p in pids), 30, "the tree's processes gone")


def _gone(pid: int) -> bool:
    """No such process, or only its zombie (killed and orphaned, left for init to reap)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_tree_memory_finds_every_process_with_rss_and_pss(tree: tuple[int, int, int]) -> None:
    parent, child, grandchild = tree

    rows = tree_memory(parent, "root", {child: "held"})

    by_pid = {r.pid: r for r in rows}
    assert set(by_pid) == {parent, child, grandchild}, rows
    assert by_pid[parent].program == "root"
    assert by_pid[child].program == by_pid[grandchild].program == "held"  # a program's descendants are its own
    assert "python" in by_pid[parent].process, by_pid[parent]
    assert by_pid[child].rss_mib >= 40 and by_pid[grandchild].rss_mib >= 40, rows
    for r in rows:
        assert 0 < r.pss_mib <= r.rss_mib, r
    # The 50 MiB are resident once, shared by two processes: RSS counts them twice, PSS once.
    pair_rss = by_pid[child].rss_mib + by_pid[grandchild].rss_mib
    pair_pss = by_pid[child].pss_mib + by_pid[grandchild].pss_mib
    assert pair_rss - pair_pss >= 40, rows

    totals = memory_totals(rows)
    assert totals.processes == 3
    assert totals.rss_mib == pytest.approx(sum(r.rss_mib for r in rows))
    assert totals.pss_mib == pytest.approx(sum(r.pss_mib for r in rows))
    assert totals.pss_mib < totals.rss_mib

    assert by_pid[child].ppid == parent and by_pid[grandchild].ppid == child
    # Without programs, every process is the root's.
    assert {r.program for r in tree_memory(parent, "root")} == {"root"}


def test_tree_memory_of_a_gone_process_is_empty() -> None:
    exited = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                            text=True, check=True)
    assert tree_memory(int(exited.stdout), "gone") == []
