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
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.chaos import OVERRIDES, Load
from tests.deploykit import PROGRAMS, Clone
from tests.support import SmtpSink, wait_for


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


def sample(clone: Clone, n: int) -> list[str]:
    """PNRs waitlisted now in the clone's simulator (its seed and era, the example's)."""
    import datetime as dt

    from railsim.railway import Railway
    from tests.support import read_env_file

    env = read_env_file(clone.root / "etc" / "pnr.env")
    return Railway(seed=int(env["PNR_SIM_SEED"]), era=env["PNR_SIM_ERA"]).sample_pnrs(dt.datetime.now(dt.UTC), n)


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
        clone = Clone(Path(tmp) / "pnr", smtp.port, **OVERRIDES)
        try:
            print(f"set up a clone of {clone.git('rev-parse', '--short=12', 'HEAD')} in {clone.set_up():.0f} s")
            clone.start()
            good = clone.commit("app/web/pages.py", '"""Process alive;', '"""Process alive (deployed by bench.deploy);',
                                "bench.deploy: a new commit")
            bad = clone.commit("app/__init__.py", '    from plumbing import lastwords\n',
                               '    raise RuntimeError("bench.deploy: a web app that cannot start")\n    from plumbing import lastwords\n',
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
