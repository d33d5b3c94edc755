"""The whole kit for benchmarks: the repo's own etc/supervisord.conf in a temporary directory.

The benchmarks measure what a sysadmin runs, so they start the real supervisord with the repo's
config (through the tests' Kit: its own ports, its own var/, a real SMTP server for the alerts)
rather than starting programs by hand.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import psutil

from tests.support import REPO, Kit, SmtpSink, wait_for

ALL_RUNNING_DEADLINE_S = 90.0
PROGRAMS = {"db", "railsim", "web", "predictor:predictor-0", "predictor:predictor-1", "tracker", "trainer", "janitor",
            "outbox", "crashmail", "alertlistener", "memmon", "httpok"}
SUMMARY_CHARS = 60


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


@dataclasses.dataclass(frozen=True)
class ProcessMemory:
    """One process's memory: the program it belongs to, and its RSS and PSS in MiB."""

    program: str
    pid: int
    ppid: int
    process: str  # the start of its command line
    rss_mib: float
    pss_mib: float


@dataclasses.dataclass(frozen=True)
class MemoryTotals:
    """The sums over a list of ProcessMemory."""

    processes: int
    rss_mib: float
    pss_mib: float


def _rollup_mib(pid: int) -> tuple[float, float] | None:
    """RSS and PSS in MiB from one read of /proc/PID/smaps_rollup (both from the same walk of the page
    tables, so PSS <= RSS always holds); None when the process is gone or has no memory (a zombie)."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    kib = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key in ("Rss", "Pss"):
            kib[key] = int(value.split()[0])
    if "Rss" not in kib or "Pss" not in kib:
        return None
    return kib["Rss"] / 1024, kib["Pss"] / 1024


def _summary(proc: psutil.Process) -> str:
    """A process's command line with absolute paths cut to their last part and the interpreter of a
    script left out (its name if it has none), at most SUMMARY_CHARS characters, for a table."""
    args = [Path(a).name if a.startswith("/") and " " not in a else a for a in proc.cmdline()]
    if len(args) > 1 and re.fullmatch(r"python[0-9.]*", args[0]) and not args[1].startswith("-"):
        args = args[1:]
    text = " ".join(args) or proc.name()
    return text if len(text) <= SUMMARY_CHARS else text[:SUMMARY_CHARS - 1] + "…"


def tree_memory(root_pid: int, root_program: str, programs: Mapping[int, str] | None = None) -> list[ProcessMemory]:
    """RSS and PSS of every process of the tree under `root_pid`, itself included, walked with psutil.

    Each process is labelled with the program of its nearest ancestor (or itself) whose pid is in
    `programs` (pid -> program name), else `root_program`. A process that exits while the tree is
    read is left out. Sorted: the root's program first, then by program and pid.

    PSS (proportional set size, the `Pss:` line of /proc/PID/smaps_rollup, which psutil's
    memory_full_info().pss reads too) charges each resident page to the N processes mapping it as 1/N
    of a page. RSS charges it to each of them whole, so summed over processes it counts several
    times the code and data that gunicorn's forked workers share copy-on-write with their master, and
    the libraries (Python, numpy, scipy, zmq...) that every program maps from the same files. The sum
    of PSS over every process is the memory the tree holds, and is what a budget should check; one
    process's RSS is all it maps, an upper bound on what its exit would free.
    """
    programs = programs or {}
    rows: list[ProcessMemory] = []
    try:
        root = psutil.Process(root_pid)
    except psutil.NoSuchProcess:
        return rows
    pending: list[tuple[psutil.Process, str]] = [(root, programs.get(root_pid, root_program))]
    while pending:
        proc, program = pending.pop()
        try:
            memory = _rollup_mib(proc.pid)
            summary, ppid, children = _summary(proc), proc.ppid(), proc.children()
        except psutil.NoSuchProcess:
            continue
        if memory is not None:
            rows.append(ProcessMemory(program, proc.pid, ppid, summary, *memory))
        pending += [(child, programs.get(child.pid, program)) for child in children]
    return sorted(rows, key=lambda r: (r.program != root_program, r.program, r.pid))


def memory_table(kit: Kit) -> list[ProcessMemory]:
    """RSS and PSS of every process of the kit: supervisord, each program, each program's children
    (gunicorn's workers), labelled by program (supervisord itself as "supervisord", a child of it
    that no program reports RUNNING, e.g. one still starting, as "? NAME"). See tree_memory for why
    PSS."""
    if kit.proc is None:
        return []
    programs = {pid: name for name, pid in program_pids(kit).items()}
    try:
        for child in psutil.Process(kit.proc.pid).children():
            programs.setdefault(child.pid, f"? {child.name()}")
    except psutil.NoSuchProcess:
        return []
    return tree_memory(kit.proc.pid, "supervisord", programs)


def memory_totals(rows: Iterable[ProcessMemory]) -> MemoryTotals:
    """The process count, RSS summed and PSS summed over `rows`."""
    rows = list(rows)
    return MemoryTotals(len(rows), sum(r.rss_mib for r in rows), sum(r.pss_mib for r in rows))
