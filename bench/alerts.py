"""Time from a process exit to its alert at the SMTP server: stock crashmail beside ours, one run.

    .venv/bin/python -m bench.alerts [--exits 20]

Starts the kit's real supervisord with its alert listeners (tests/alertkit.py, the same kit the
tests drive) and, beside them, stock superlance crashmail piping to a minimal sendmail (`python -S`,
smtplib only: what stock crashmail does with a working sendmail, and no more). Each of N programs is
killed once (SIGKILL, at a random phase of supervisord's one-second poll, one at a time so
supervisord is otherwise idle); both mails are timed from the kill to their arrival at a local SMTP
server. Then N programs exit 0, which stock crashmail never mails and ours does. Prints the median
and maximum for each path, and the ratio of medians.
"""
from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from alertkit import alert_kit, standin, start  # noqa: E402 (found through the path above)
from support import SmtpSink, wait_for  # noqa: E402

MAIL_DEADLINE_S = 30.0
PLAIN_SENDMAIL = '''\
"""A minimal sendmail: headers and body on stdin, relayed to the kit's SMTP server as they are."""
import os, smtplib, sys
data = sys.stdin.buffer.read()
with smtplib.SMTP(os.environ.get("PNR_SMTP_HOST", "127.0.0.1"), int(os.environ["PNR_SMTP_PORT"])) as s:
    s.sendmail("stock@pnr.test", [os.environ["PNR_ALERT_TO"]], data)
'''
STOCK_CRASHMAIL = """[eventlistener:stockcrashmail]
command = crashmail -a -m %(ENV_PNR_ALERT_TO)s -s "python -S %(here)s/plain_sendmail.py"
events = PROCESS_STATE_EXITED
buffer_size = 1024
stderr_logfile = %(here)s/../../var/log/stockcrashmail.log

"""


class TimedSink(SmtpSink):
    """The tests' SMTP server, noting when each message arrived."""

    def __init__(self) -> None:
        super().__init__()
        self.arrivals: list[tuple[float, Any]] = []
        self._arrivals_lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        arrived = time.time()
        answer = await super().handle_DATA(server, session, envelope)
        with self._arrivals_lock:
            self.arrivals.append((arrived, self.messages[-1]))
        return answer

    def arrived(self, program: str, ours: bool) -> float | None:
        """When the (first) mail about `program` from one path arrived."""
        with self._arrivals_lock:
            for at, mail in self.arrivals:
                if ours and mail["X-PNR-Program"] == program:
                    return at
                if not ours and mail["X-PNR-Program"] is None and str(mail["Subject"]).startswith(f"{program} crashed at "):
                    return at
        return None


def figures(delays: list[float]) -> str:
    """Median and maximum in seconds."""
    return f"median {statistics.median(delays):5.2f} s   max {max(delays):5.2f} s   (n={len(delays)})"


def run(exits: int) -> None:
    """Kill `exits` programs one by one, then let `exits` programs exit 0; print both paths' delays."""
    sink = TimedSink().start()
    with tempfile.TemporaryDirectory(prefix="bench-alerts-") as tmp:
        killed = [f"killed_{i:02d}" for i in range(exits)]
        clean = [f"clean_{i:02d}" for i in range(exits)]
        programs = "".join(standin(n, "serve 1", autostart="true") for n in killed)
        programs += "".join(standin(n, "serve 0", autostart="true", autorestart="false") for n in clean)
        kit = alert_kit(Path(tmp), sink.port, programs + STOCK_CRASHMAIL)
        (kit.etc / "conf.d" / "plain_sendmail.py").write_text(PLAIN_SENDMAIL)
        try:
            start(kit)
            wait_for(lambda: all(kit.states().get(n, ("",))[0] == "RUNNING" for n in killed + clean + ["stockcrashmail"]),
                     60, "every program RUNNING", interval_s=0.2)
            stock, ours = [], []
            for name in killed:
                time.sleep(random.uniform(0.0, 1.0))  # a random phase of supervisord's poll
                pid = int(kit.ctl("pid", name).stdout)
                at = time.time()
                os.kill(pid, signal.SIGKILL)
                wait_for(lambda n=name: sink.arrived(n, True) and sink.arrived(n, False), MAIL_DEADLINE_S, f"both mails for {name}")
                stock.append(sink.arrived(name, False) - at)  # type: ignore[operator]
                ours.append(sink.arrived(name, True) - at)  # type: ignore[operator]
            exit_0 = []
            for name in clean:
                time.sleep(random.uniform(0.0, 1.0))
                pid = int(kit.ctl("pid", name).stdout)
                at = time.time()
                os.kill(pid, signal.SIGUSR1)
                wait_for(lambda n=name: sink.arrived(n, True), MAIL_DEADLINE_S, f"our mail for {name}")
                exit_0.append(sink.arrived(name, True) - at)  # type: ignore[operator]
            stock_exit_0 = sum(1 for n in clean if sink.arrived(n, False))
        finally:
            kit.stop()
            sink.stop()
    print(f"exit -> mail at the SMTP server, {exits} SIGKILLed programs, idle supervisord")
    print(f"  stock crashmail + minimal sendmail   {figures(stock)}")
    print(f"  ours (crashmail + pnr-sendmail)      {figures(ours)}")
    print(f"  ours / stock, medians                {statistics.median(ours) / statistics.median(stock):5.2f}")
    print(f"exit 0 of {exits} programs")
    print(f"  stock crashmail                      {stock_exit_0} mailed")
    print(f"  ours (alertlistener)                 {figures(exit_0)}")


def main(argv: list[str] | None = None) -> int:
    """Command line: --exits N."""
    parser = argparse.ArgumentParser(prog="bench.alerts", description=__doc__.split("\n\n")[0])
    parser.add_argument("--exits", type=int, default=20, help="programs killed (and programs exiting 0)")
    run(parser.parse_args(argv).exits)
    return 0


if __name__ == "__main__":
    sys.exit(main())
