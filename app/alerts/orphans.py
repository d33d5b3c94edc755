"""What supervisord runs, recorded outside it, so that its death is not silent and its orphans are
found without guessing by process name.

When supervisord is killed (`kill -9`, the OOM killer) its programs live on, re-parented, holding
their ports, and the next start fails ("Exited too quickly": address in use). The alert listener
records every process supervisord reports RUNNING (pid and kernel start time, so a reused pid is not
taken for it) in var/run/programs.json, and supervisord's own pid. When its stdin reaches
end-of-file, supervisord is gone without a clean shutdown (a clean one stops the listeners itself):
it mails a last gasp naming the programs still alive (app/ops/listener.py). `scripts/run` calls
`python -m app.alerts.orphans VAR_DIR` before starting supervisord: the recorded processes still alive are
stopped (their process groups: gunicorn's workers with their master), and one mail says so.

Standard library only, plus the kit's mail pipeline for that one mail.
"""
from __future__ import annotations

import os
import signal
import socket
import sys
import time
from pathlib import Path

from plumbing import jsonfile

STOP_DEADLINE_S = 30.0
# The kit's listeners read the same end-of-file and exit by themselves: not orphans to name.
SELF_ENDING = ("crashmail", "alertlistener", "memmon", "httpok")


def records_path(var_dir: Path | str) -> Path:
    return Path(var_dir) / "run" / "programs.json"


def start_time(pid: int) -> int | None:
    """The kernel's start time of a process (clock ticks after boot), or None if it is gone. A
    zombie is gone: it has exited and waits for its parent (or an init that may never reap it)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return None if fields[0] in ("Z", "X") else int(fields[19])
    except (OSError, IndexError, ValueError):
        return None


def load(var_dir: Path | str) -> dict[str, dict[str, int]]:
    return jsonfile.read_dict(records_path(var_dir), "process records")


def save(var_dir: Path | str, records: dict[str, dict[str, int]]) -> None:
    jsonfile.write(records_path(var_dir), records)


def record(records: dict[str, dict[str, int]], name: str, pid: int | None) -> bool:
    """Note `name` as running with `pid` (None: not running any more); whether anything changed."""
    if pid is None:
        return records.pop(name, None) is not None
    started = start_time(pid)
    if started is None:
        return records.pop(name, None) is not None
    entry = {"pid": pid, "start": started}
    if records.get(name) == entry:
        return False
    records[name] = entry
    return True


def alive(records: dict[str, dict[str, int]], exclude: set[int] | None = None) -> dict[str, int]:
    """name -> pid of the recorded processes still running (the same process: same start time)."""
    exclude = exclude or set()
    return {name: r["pid"] for name, r in records.items()
            if r["pid"] not in exclude and start_time(r["pid"]) == r["start"]}


def oom_kills() -> int | None:
    """The kernel's count of OOM kills since boot (/proc/vmstat oom_kill), or None."""
    try:
        for line in Path("/proc/vmstat").read_text().splitlines():
            if line.startswith("oom_kill "):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


def stop(orphans: dict[str, int], deadline_s: float = STOP_DEADLINE_S) -> dict[str, str]:
    """SIGTERM each orphan's process group, SIGKILL what is left at the deadline; name -> how it ended."""
    starts = {name: start_time(pid) for name, pid in orphans.items()}

    def running(name: str) -> bool:
        return start_time(orphans[name]) == starts[name]

    for pid in orphans.values():
        try:
            os.killpg(pid, signal.SIGTERM)
        except OSError:
            pass
    deadline = time.monotonic() + deadline_s
    while any(running(n) for n in orphans) and time.monotonic() < deadline:
        time.sleep(0.1)
    ended = {}
    for name, pid in orphans.items():
        if running(name):
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass
            ended[name] = f"pid {pid}: killed (SIGKILL) after {deadline_s:.0f} s"
        else:
            ended[name] = f"pid {pid}: stopped (SIGTERM)"
    return ended


def main(argv: list[str] | None = None) -> int:
    """`python -m app.alerts.orphans VAR_DIR`: stop what an earlier supervisord left running; 0 unless
    supervisord of the same kit is still alive (then 1: nothing to start)."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m app.alerts.orphans VAR_DIR", file=sys.stderr)
        return 2
    var_dir = Path(args[0])
    records = load(var_dir)
    found = alive(records)
    if "supervisord" in found:
        print(f"orphans: supervisord of this kit is running (pid {found['supervisord']}): not starting another",
              file=sys.stderr)
        return 1
    if not found:
        records_path(var_dir).unlink(missing_ok=True)
        return 0
    print(f"orphans: the earlier supervisord ended without stopping {', '.join(f'{n} (pid {p})' for n, p in sorted(found.items()))}; stopping them")
    ended = stop(found)
    records_path(var_dir).unlink(missing_ok=True)
    for name, how in sorted(ended.items()):
        print(f"orphans: {name} {how}")
    _mail(var_dir, ended)
    return 0


def _mail(var_dir: Path, ended: dict[str, str]) -> None:
    from . import flood
    from .compose import orphans_alert
    from .mail import settings_for_command

    settings = settings_for_command("orphans")
    if settings is None:
        return
    host = socket.gethostname()
    print(f"orphans: {flood.post(settings, orphans_alert(ended, var_dir, host), host)}")


if __name__ == "__main__":
    sys.exit(main())
