"""A stand-in program for alert tests, run by the real supervisord from a test's etc/conf.d/.

Modes:
  serve CODE           runs until signalled: SIGUSR1 exits with CODE, SIGUSR2 raises (uncaught)
  startup-crash        raises at once (an exception during start-up)
  crashloop FILE N     counts its runs in FILE; runs 1..N exit 1 at once, later runs wait

serve and startup-crash install the same last-words hook as the kit's processes. crashloop is
made to die fast (it imports nothing, so it can run under `python -S`), and it leaves a child
holding its stdout for a moment: supervisord notices an exit by the pipe closing and reaps it in
the same pass instead of on its next one-second poll, so a 100-exit loop takes seconds, not minutes.
"""
from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path


class StandInFailure(RuntimeError):
    """What the stand-in raises, so tests can find it in a traceback."""


def serve(code: int) -> None:
    def fail(*_: object) -> None:
        raise StandInFailure("stand-in: simulated failure on SIGUSR2")

    signal.signal(signal.SIGUSR1, lambda *_: sys.exit(code))
    signal.signal(signal.SIGUSR2, fail)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print("stand-in: up", flush=True)
    while True:
        signal.pause()


def crashloop(counter: Path, limit: int) -> None:
    runs = int(counter.read_text() or 0) + 1 if counter.exists() else 1
    counter.write_text(str(runs))
    if runs > limit:
        print(f"stand-in: run {runs}, staying up", flush=True)
        while True:
            signal.pause()
    print(f"stand-in: run {runs}, failing", flush=True)
    if os.fork() == 0:
        time.sleep(0.01)
        os._exit(0)
    sys.exit(1)


def main(argv: list[str]) -> None:
    mode = argv[0]
    if mode == "crashloop":
        crashloop(Path(argv[1]), int(argv[2]))
    from plumbing.lastwords import install

    install()
    if mode == "serve":
        serve(int(argv[1]))
    elif mode == "startup-crash":
        print("stand-in: loading settings", flush=True)
        raise StandInFailure("stand-in: cannot load settings")
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
