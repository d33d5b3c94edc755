"""A deploy under steady load: `./scripts/deploy` of a new commit, `supervisorctl restart web` beside
it as the reference, and a commit whose web app cannot start.

    .venv/bin/python -m bench.deploy [--clients 8] [--settle 3]

Clones this repo's HEAD into a temporary folder and sets the clone up as a sysadmin would
(`scripts/setup`, its own .venv and etc/pnr.env on free loopback ports, a real SMTP server for the
alerts), starts it with `scripts/run`, and keeps `--clients` threads looking PNRs up (bench.chaos's
client: every fifth request the page, the others the API, every lookup asked afresh) through
three phases, each with `--settle` seconds of load before and after:

1. `scripts/deploy` of a new commit (a change to app/web/pages.py), expected: 0 failed requests;
2. `supervisorctl restart web`, the reference: what a deploy without a command did;
3. `scripts/deploy` of a commit whose create_app raises, expected: rolled back, 0 failed, one mail.

Prints per phase the requests, failed ones (no HTTP answer or a 5xx), the share of API answers with
a prediction, how long the command took and the mails it caused, then failed requests and command
time against the restart's.
"""
from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.chaos import OVERRIDES, Load
from tests.support import REPO, SmtpSink, consecutive_free_ports, free_port, wait_for

PROGRAMS = {"db", "web", "predictor:predictor-0", "predictor:predictor-1", "tracker", "trainer", "janitor",
            "outbox", "crashmail", "alertlistener", "memmon", "httpok"}
SETUP_TIMEOUT_S = 900
ALERT_TO = "oncall@pnr.test"


@dataclass
class Result:
    name: str
    requests: int
    failed: int
    api_answers: int
    predicted: int
    command_s: float
    exit_code: int
    mails: list[str]


class Clone:
    """A clone of HEAD set up and run as a new sysadmin would, on its own ports."""

    def __init__(self, root: Path, smtp_port: int):
        self.root = root
        subprocess.run(["git", "clone", "--quiet", str(REPO), str(root)], check=True)
        self.web_port, db_port = free_port(), free_port()
        self.settings = {
            **OVERRIDES,
            "PNR_WEB_PORT": str(self.web_port), "PNR_PUBLIC_URL": f"http://127.0.0.1:{self.web_port}",
            "PNR_DB_PORT": str(db_port), "PNR_MONGO_URI": f"mongodb://127.0.0.1:{db_port}/?directConnection=true",
            "PNR_PREDICTOR_PORT_BASE": str(consecutive_free_ports(2)), "PNR_SMTP_PORT": str(smtp_port),
            "PNR_MAILSINK_AUTOSTART": "false", "PNR_ALERT_TO": ALERT_TO,
        }
        self.proc: subprocess.Popen[bytes] | None = None

    def git(self, *args: str) -> str:
        return subprocess.run(["git", "-C", str(self.root), "-c", "user.name=bench", "-c", "user.email=bench@pnr.test",
                               *args], check=True, capture_output=True, text=True).stdout.strip()

    def set_up(self) -> float:
        started = time.monotonic()
        subprocess.run([str(self.root / "scripts" / "setup")], check=True, timeout=SETUP_TIMEOUT_S,
                       stdout=subprocess.DEVNULL)
        env_file = self.root / "etc" / "pnr.env"
        text = env_file.read_text()
        for name, value in self.settings.items():
            text, found = re.subn(rf"^{name}=.*$", f"{name}={value}", text, flags=re.M)
            if not found:
                text += f"{name}={value}\n"
        env_file.write_text(text)
        return time.monotonic() - started

    def start(self) -> None:
        with open(self.root / "run.log", "ab") as log:
            self.proc = subprocess.Popen([str(self.root / "scripts" / "run")], cwd=self.root, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True,
                                         env={k: v for k, v in os.environ.items() if not k.startswith("PNR_")})
        wait_for(lambda: PROGRAMS <= self.running(), 120, "every program RUNNING", interval_s=0.5)

    def ctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(self.root / ".venv" / "bin" / "supervisorctl"), "-c",
                               str(self.root / "etc" / "supervisord.conf"), *args],
                              capture_output=True, text=True, timeout=120)

    def running(self) -> set[str]:
        return {line.split()[0] for line in self.ctl("status").stdout.splitlines()
                if len(line.split()) > 1 and line.split()[1] == "RUNNING"}

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(90)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def commit(self, path: str, old: str, new: str, message: str) -> str:
        file = self.root / path
        text = file.read_text()
        assert old in text, (path, old)
        file.write_text(text.replace(old, new, 1))
        self.git("commit", "--quiet", "-am", message)
        return self.git("rev-parse", "HEAD")


def sample(clone: Clone, n: int) -> list[str]:
    """PNRs waitlisted now in the clone's simulator (its seed and era, the example's)."""
    import datetime as dt

    from app.sources.simulator import SimulatorSource
    from tests.support import read_env_file

    env = read_env_file(clone.root / "etc" / "pnr.env")
    return SimulatorSource(seed=int(env["PNR_SIM_SEED"]), era=env["PNR_SIM_ERA"]).sample_pnrs(dt.datetime.now(dt.UTC), n)


def phase(name: str, load: Load, smtp: SmtpSink, settle_s: float, command: Sequence[str], cwd: Path) -> Result:
    mails_before = len(smtp.received())
    start = time.monotonic()
    time.sleep(settle_s)  # load before: the phase's requests include the steady state around the command
    began = time.monotonic()
    done = subprocess.run(list(command), cwd=cwd, capture_output=True, text=True, timeout=600,
                          env={k: v for k, v in os.environ.items() if not k.startswith("PNR_")})
    command_s = time.monotonic() - began
    sys.stdout.write("".join(f"    {line}\n" for line in (done.stdout + done.stderr).splitlines()[-14:]))
    time.sleep(settle_s)
    answers = load.between(start, time.monotonic())
    api = [a for a in answers if not a.page and a.status == 200]
    mails = [str(m["Subject"]) for m in smtp.received()[mails_before:]]
    return Result(name, len(answers), sum(1 for a in answers if a.status == 0 or a.status >= 500), len(api),
                  sum(1 for a in api if a.predicted), command_s, done.returncode, mails)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--settle", type=float, default=3.0)
    args = parser.parse_args(argv)
    smtp = SmtpSink().start()
    with tempfile.TemporaryDirectory(prefix="pnr-bench-deploy-") as tmp:
        clone = Clone(Path(tmp) / "pnr", smtp.port)
        try:
            print(f"set up a clone of {clone.git('rev-parse', '--short=12', 'HEAD')} in {clone.set_up():.0f} s")
            clone.start()
            good = clone.commit("app/web/pages.py", '"""Process alive;', '"""Process alive (deployed by bench.deploy);',
                                "bench.deploy: a new commit")
            bad = clone.commit("app/__init__.py", '    from . import lastwords\n',
                               '    raise RuntimeError("bench.deploy: a web app that cannot start")\n    from . import lastwords\n',
                               "bench.deploy: a commit whose web app cannot start")
            clone.git("checkout", "--quiet", "--detach", "HEAD~2")  # the running commit: deploy names what it moves to
            pnrs = sample(clone, 24)
            results = []
            deploy = str(clone.root / "scripts" / "deploy")
            with Load(clone.web_port, pnrs, args.clients) as load:
                wait_for(lambda: len(load.answers) > 50, 60, "the load running")
                for name, command in (("deploy of a new commit", [deploy, good]),
                                      ("supervisorctl restart web", [str(clone.root / ".venv" / "bin" / "supervisorctl"),
                                                                     "-c", str(clone.root / "etc" / "supervisord.conf"),
                                                                     "restart", "web"]),
                                      ("deploy of a commit that cannot start", [deploy, bad])):
                    print(f"{name}:")
                    results.append(phase(name, load, smtp, args.settle, command, clone.root))
                    wait_for(lambda: PROGRAMS <= clone.running(), 60, "every program RUNNING again", interval_s=0.5)
            running = clone.git("rev-parse", "HEAD")
        finally:
            clone.stop()
            smtp.stop()
    print()
    print("| phase | exit | command s | requests | failed | API answers with a prediction | mails |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        share = f"{100 * r.predicted / r.api_answers:.1f} % of {r.api_answers}" if r.api_answers else "—"
        print(f"| {r.name} | {r.exit_code} | {r.command_s:.1f} | {r.requests} | {r.failed} | {share} | "
              f"{len(r.mails)}{': ' + '; '.join(r.mails) if r.mails else ''} |")
    reference = results[1]
    print(f"\nfailed requests, deploy / restart: {results[0].failed} / {reference.failed}; "
          f"roll-back / restart: {results[2].failed} / {reference.failed}")
    print(f"command time, deploy / restart: {results[0].command_s / reference.command_s:.2f}; "
          f"after the roll-back the checkout is at {'the new commit' if running == good else running[:12]}"
          f" ({'as expected' if running == good else 'NOT the deployed commit'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
