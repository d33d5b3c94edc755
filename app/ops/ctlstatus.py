"""`./scripts/ctl status`: per program what `supervisorctl status` shows, and what it does not.

supervisorctl shows state, pid and uptime; an operator also wants to know how often a program
restarted since supervisord started, how much memory and CPU it (with its children: gunicorn's
workers) uses, and why it last exited. The state comes from supervisord's XML-RPC, the restarts
and the last exit from supervisord's own log, the memory and CPU from /proc.

    python -m app.ops.ctlstatus ROOT [--json]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..alerts.process import EXITED, SPAWNED, rpc_at

SOCKET = Path("var") / "run" / "supervisor.sock"
MAIN_LOG = Path("var") / "log" / "supervisord.log"
STARTED = "supervisord started with pid"
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _children() -> dict[int, list[int]]:
    """Every process's children, from /proc."""
    out: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            out.setdefault(ppid, []).append(int(entry.name))
    return out


def usage(pid: int, children: dict[int, list[int]]) -> tuple[int, float]:
    """(resident bytes, CPU seconds) of a process and all its descendants."""
    rss, cpu, todo = 0, 0.0, [pid]
    while todo:
        p = todo.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        cpu += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime
        rss += int(fields[21]) * PAGE_SIZE
        todo += children.get(p, [])
    return rss, cpu


def history(main_log: str) -> tuple[Counter[str], dict[str, str]]:
    """(restarts, last exit's reason) per process name since supervisord last started."""
    start = main_log.rfind(STARTED)
    since = main_log[start:] if start >= 0 else main_log
    spawned: Counter[str] = Counter()
    last: dict[str, str] = {}
    for line in since.splitlines():
        if m := SPAWNED.match(line):
            spawned[m["name"]] += 1
        elif m := EXITED.match(line):
            last[m["name"]] = f"{m['reason']}; {m['expected']} at {m['time']}"
    return Counter({name: n - 1 for name, n in spawned.items() if n > 1}), last


def status(root: Path) -> list[dict[str, Any]]:
    """One row per program, in supervisord's order."""
    infos = rpc_at(f"unix://{root / SOCKET}").supervisor.getAllProcessInfo()
    try:
        main_log = (root / MAIN_LOG).read_text(errors="replace")
    except OSError:
        main_log = ""
    restarts, last = history(main_log)
    children = _children()
    rows = []
    for info in infos:
        name = info["name"]
        rss, cpu = usage(info["pid"], children) if info["pid"] else (0, 0.0)
        rows.append({
            "program": name if info["group"] == name else f"{info['group']}:{name}", "state": info["statename"],
            "pid": info["pid"] or None, "restarts": restarts.get(name, 0), "rss_mib": round(rss / 2**20, 1),
            "cpu_s": round(cpu, 1), "last_exit": last.get(name) or info.get("spawnerr") or None,
        })
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    """The rows as aligned text."""
    head = ("program", "state", "pid", "restarts", "RSS MiB", "CPU s", "last exit")
    cells = [head] + [(r["program"], r["state"], str(r["pid"] or "-"), str(r["restarts"]), f"{r['rss_mib']:.1f}",
                       f"{r['cpu_s']:.1f}", r["last_exit"] or "-") for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(head) - 1)]
    return "\n".join("  ".join(c[i].ljust(widths[i]) for i in range(len(widths))) + "  " + c[-1] for c in cells)


def main(argv: Sequence[str] | None = None) -> int:
    """Print the table (or JSON); exit 1 when supervisord cannot be reached."""
    parser = argparse.ArgumentParser(prog="ctl status", description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("--json", action="store_true", help="one JSON object per program, in a list")
    args = parser.parse_args(argv)
    try:
        rows = status(args.root)
    except OSError as exc:
        print(f"ctl status: supervisord is not answering on {args.root / SOCKET}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(rows, indent=1) if args.json else table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
