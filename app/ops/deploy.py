"""`./scripts/deploy [REV]`: a commit into the running kit, dropping no request, or back out.

Each step has a deadline. A failure at any of them checks the previous commit out again, puts back
whatever had already moved, and mails why (through `pnr-sendmail`, as every alert goes):

1. check out REV (default HEAD: what `git pull` left); refused on a work tree with changes;
2. `scripts/setup` (dependencies, when setup.cfg changed) and `scripts/ctl check`;
3. a canary: the new web app under gunicorn on a spare loopback port, until its /readyz answers
   with the new version. A commit whose web app cannot start stops here, before the running site
   is touched;
4. web: gunicorn's HUP (new workers start, old ones finish their requests: `supervisorctl restart
   web` refuses connections while nothing listens) until /readyz names the new version on every
   one of several answers in a row;
5. the predictors one at a time, each until it answers ping, so the pool always has one;
6. the jobs and the kit's listeners, restarted.

"The previous commit" is what the live web app says it runs, so `git pull && ./scripts/deploy` can
go back too. Ready means as ready as before: if /readyz was 503 before the deploy (a predictor
down, say), the new version must answer it, not make it 200.

    python -m app.ops.deploy ROOT [REV] [--deadline SECONDS]
"""
from __future__ import annotations

import argparse
import configparser
import fcntl
import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import xmlrpc.client
from collections.abc import Callable, Sequence
from email.message import EmailMessage
from functools import partial
from pathlib import Path
from typing import Any

from ..alerts.process import rpc_at
from ..version import of_checkout
from .configcheck import ENV_FILE

NOT_RESTARTED = frozenset({"db", "mailsink", "web", "predictor"})  # not the kit's code, or moved by their own step
IN_A_ROW = 6  # consecutive /readyz answers naming the new version: two web workers, three times over
LOG = Path("var") / "log" / "deploy.log"
STOP_DEADLINE_S = 90.0  # above the trainer's stopwaitsecs (60): a fit is given its time


class DeployFailed(Exception):
    """A step that did not complete: the message says which and why."""


class Deploy:
    """One deploy of one checkout; every step prints what it did and how long it took."""

    def __init__(self, root: Path, deadline_s: float, out: Callable[[str], None] = print):
        self.root = root
        self.deadline_s = deadline_s
        self.out = out
        self.env = {**exported(root / ENV_FILE), "PNR_VAR_DIR": str(root / "var")}
        self.bin = root / ".venv" / "bin"
        self.web = f"http://{self.env.get('PNR_WEB_HOST', '127.0.0.1')}:{self.env.get('PNR_WEB_PORT', '8000')}"
        self.started = time.monotonic()
        self.supervisor = rpc_at(f"unix://{root / 'var' / 'run' / 'supervisor.sock'}").supervisor
        self.moved: list[str] = []  # what runs the new code already: "web", "predictor:predictor-0", ...

    # --- small pieces -------------------------------------------------------------------------

    def say(self, text: str) -> None:
        self.out(f"deploy: [{time.monotonic() - self.started:5.1f} s] {text}")

    def git(self, *args: str) -> str:
        result = subprocess.run(["git", "-C", str(self.root), *args], capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            raise DeployFailed(f"git {' '.join(args)}: {result.stderr.strip()}")
        return result.stdout.strip()

    def run(self, what: str, args: Sequence[str], timeout_s: float = 600) -> str:
        try:
            result = subprocess.run(list(args), env=self.env, cwd=self.root, capture_output=True, text=True,
                                    timeout=timeout_s)
        except subprocess.TimeoutExpired as exc:
            raise DeployFailed(f"{what}: no answer in {timeout_s:.0f} s") from exc
        output = (result.stdout + result.stderr).strip()
        if result.returncode != 0 or "ERROR" in output:
            raise DeployFailed(f"{what} failed (exit {result.returncode}): {output[-2000:]}")
        return output

    def ask(self, what: str, call: Callable[[], Any]) -> Any:
        """One call to supervisord's RPC (the control socket supervisorctl uses); DeployFailed if refused."""
        try:
            return call()
        except (OSError, xmlrpc.client.Fault) as exc:
            raise DeployFailed(f"{what} through supervisord: {exc}") from exc

    def running(self) -> list[str]:
        """The programs supervisord reports RUNNING (group:name for groups)."""
        infos = self.ask("listing the programs", self.supervisor.getAllProcessInfo)
        return [i["name"] if i["group"] == i["name"] else f"{i['group']}:{i['name']}"
                for i in infos if i["statename"] == "RUNNING"]

    def wait(self, what: str, condition: Callable[[], bool], deadline_s: float | None = None) -> None:
        deadline = time.monotonic() + (deadline_s or self.deadline_s)
        while not condition():
            if time.monotonic() > deadline:
                raise DeployFailed(f"{what}: not within {deadline_s or self.deadline_s:.0f} s")
            time.sleep(0.2)

    # --- the steps ----------------------------------------------------------------------------

    def checkout(self, commit: str) -> None:
        if self.git("rev-parse", "HEAD") != commit:
            self.git("checkout", "--quiet", "--detach", commit)
        self.say(f"checked out {of_checkout(self.root)}")

    def install_and_check(self) -> None:
        self.run("scripts/setup", [str(self.root / "scripts" / "setup")])
        self.run("scripts/ctl check", [str(self.root / "scripts" / "ctl"), "check"], 60)
        self.say("installed; configuration checked")

    def canary(self, version: str, must_be_ready: bool) -> None:
        """The new web app on a spare port: it starts and answers, or the live site is not touched."""
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        log_path = self.root / "var" / "log" / "deploy-canary.log"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                [str(self.bin / "gunicorn"), "--config", str(self.root / "etc" / "gunicorn.conf.py"),
                 "--bind", f"127.0.0.1:{port}", "--workers", "1", "app:create_app()"],
                env={**self.env, "SUPERVISOR_PROCESS_NAME": "deploy-canary"}, cwd=self.root,
                stdout=log, stderr=subprocess.STDOUT)
        try:
            def answers() -> bool:
                if proc.poll() is not None:
                    tail = log_path.read_text(errors="replace")[-3000:]
                    raise DeployFailed(f"the new web app exited {proc.returncode} on start:\n{tail}")
                status, body = readyz(f"http://127.0.0.1:{port}")
                return body.get("version") == version and (status == 200 or not must_be_ready)
            self.wait(f"the new web app (canary on port {port}) ready with version {version}", answers)
        finally:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.say(f"canary answered /readyz with {version}")

    def reload_web(self, version: str, must_be_ready: bool) -> None:
        self.ask("HUP to web", lambda: self.supervisor.signalProcess("web", "HUP"))
        self.moved.append("web")
        streak = [0]

        def all_new() -> bool:
            status, body = readyz(self.web)
            fresh = body.get("version") == version and (status == 200 or not must_be_ready)
            streak[0] = streak[0] + 1 if fresh else 0
            return streak[0] >= IN_A_ROW
        self.wait(f"web reloaded (HUP) to version {version}", all_new)
        self.say(f"web reloaded: {IN_A_ROW} answers in a row from {version}")

    def restart_predictors(self) -> None:
        from predictor.client import PredictorClient, PredictorUnavailable

        host = self.env.get("PNR_PREDICTOR_HOST", "127.0.0.1")
        base = int(self.env.get("PNR_PREDICTOR_PORT_BASE", "5600"))
        for name in sorted(n for n in self.running() if n.startswith("predictor:")):
            index = int(name.rsplit("-", 1)[1])
            self.ask(f"stopping {name}", partial(self.supervisor.stopProcess, name, True))
            self.ask(f"starting {name}", partial(self.supervisor.startProcess, name, True))
            self.moved.append(name)
            client = PredictorClient([f"tcp://{host}:{base + index}"], request_timeout_ms=500, deadline_ms=1000)

            def pings(client: PredictorClient = client) -> bool:
                try:
                    return bool(client.ping())
                except PredictorUnavailable:
                    return False
            try:
                self.wait(f"{name} answering ping", pings)
            finally:
                client.close()
            self.say(f"{name} restarted and answering")

    def restart_the_rest(self) -> None:
        """The jobs and listeners, side by side: `supervisorctl restart a b c` waits for each
        start in turn (startsecs 5 for a job), 27 s for the kit's eight."""
        names = [n for n in self.running() if n.split(":")[0] not in NOT_RESTARTED and n.split(":")[0] in self.kit_programs()]
        supervisor = self.supervisor

        def all_in(states: set[str]) -> bool:
            return all(supervisor.getProcessInfo(n)["statename"] in states for n in names)

        def restart() -> None:
            for name in names:
                supervisor.stopProcess(name, False)
            self.moved += names
            self.wait("the jobs and listeners stopped", lambda: all_in({"STOPPED", "EXITED"}), STOP_DEADLINE_S)
            for name in names:
                supervisor.startProcess(name, False)
            self.wait("the jobs and listeners RUNNING again", lambda: all_in({"RUNNING"}))
        self.ask(f"restarting {', '.join(names)}", restart)
        self.say(f"restarted {', '.join(names) or 'no job'}")

    def kit_programs(self) -> set[str]:
        """The programs and listeners of the kit's own files (site-local conf.d ones are the site's)."""
        names = set()
        for file in ("supervisord.conf", "crashmail.conf"):
            parser = configparser.RawConfigParser()
            parser.read(self.root / "etc" / file, encoding="utf-8")
            names |= {s.split(":", 1)[1] for s in parser.sections() if s.startswith(("program:", "eventlistener:"))}
        return names

    # --- the whole --------------------------------------------------------------------------

    def deploy(self, rev: str) -> int:
        if self.git("status", "--porcelain", "--untracked-files=no"):
            raise SystemExit("deploy: the work tree has changes: commit or stash them first (git status)")
        target = self.git("rev-parse", "--verify", f"{rev}^{{commit}}")
        live_status, live = readyz(self.web)
        if live_status == 0:
            raise SystemExit(f"deploy: the web app does not answer at {self.web}/readyz: is the kit running? (./scripts/run)")
        must_be_ready = live_status == 200
        previous = self._commit_of(str(live.get("version", ""))) or self.git("rev-parse", "HEAD")
        self.say(f"{live.get('version')} running ({'ready' if must_be_ready else 'not ready'}); deploying {target[:12]}")
        step = "check-out"
        try:
            self.checkout(target)
            version = of_checkout(self.root)
            step = "install"
            self.install_and_check()
            step = "canary"
            self.canary(version, must_be_ready)
            step = "web"
            self.reload_web(version, must_be_ready)
            step = "predictors"
            self.restart_predictors()
            step = "jobs"
            self.restart_the_rest()
        except DeployFailed as exc:
            self.say(f"FAILED at {step}: {exc}")
            back = self.roll_back(previous, must_be_ready)
            self.mail(target, previous, step, str(exc), back)
            self.record(f"{target[:12]} failed at {step}, rolled back to {previous[:12]}: {back}")
            return 1
        self.record(f"{previous[:12]} -> {version} deployed in {time.monotonic() - self.started:.1f} s")
        self.say(f"deployed {version}")
        return 0

    def roll_back(self, previous: str, must_be_ready: bool) -> str:
        """Put the previous commit back wherever the new one got to; how that went, in words."""
        moved, self.moved = self.moved, []
        try:
            self.checkout(previous)
            self.run("scripts/setup", [str(self.root / "scripts" / "setup")])
            version = of_checkout(self.root)
            if "web" in moved:
                self.reload_web(version, must_be_ready)
            if any(n.startswith("predictor:") for n in moved):
                self.restart_predictors()
            if any(n != "web" and not n.startswith("predictor:") for n in moved):
                self.restart_the_rest()
        except DeployFailed as exc:
            self.say(f"ROLL-BACK FAILED: {exc}")
            return f"the roll-back failed too: {exc}"
        self.say(f"rolled back to {version}")
        return f"rolled back to {version}; the site kept serving it"

    def _commit_of(self, version: str) -> str | None:
        """The commit a version string names, if it names one that is not dirty."""
        if not version or version.endswith("-dirty"):
            return None
        try:
            return self.git("rev-parse", "--verify", f"{version.rsplit('-g', 1)[-1]}^{{commit}}")
        except DeployFailed:
            return None

    def mail(self, target: str, previous: str, step: str, why: str, back: str) -> None:
        message = EmailMessage()
        message["To"] = self.env.get("PNR_ALERT_TO", "")
        message["Subject"] = f"deploy of {target[:12]} failed at the {step} step; {back.split(';')[0]}"
        message.set_content(
            f"./scripts/deploy of {target} failed at the {step} step.\n\nWhy:\n{why}\n\n{back.capitalize()}.\n"
            f"Previous commit: {previous}\nCheckout: {self.root}\n\n"
            f"What to run: ./scripts/ctl status; less {self.root / LOG}; less {self.root}/var/log/deploy-canary.log\n")
        sent = subprocess.run([str(self.bin / "pnr-sendmail"), "-t", "-i"], input=message.as_bytes(),
                              env={**self.env, "SUPERVISOR_PROCESS_NAME": "deploy"}, capture_output=True, timeout=60)
        if sent.returncode != 0:
            self.say(f"could not hand the mail to pnr-sendmail: {sent.stderr.decode(errors='replace')}")

    def record(self, line: str) -> None:
        with open(self.root / LOG, "a", encoding="utf-8") as log:
            log.write(f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {line}\n")


def exported(env_file: Path) -> dict[str, str]:
    """The environment scripts/run gives supervisord: this one with the env file sourced by bash
    (`set -a`), quotes and all, as the programs of the running kit see it."""
    result = subprocess.run(["bash", "-c", 'set -a; . "$1"; env -0', "deploy", str(env_file)],
                            capture_output=True, timeout=30, check=False)
    if result.returncode != 0:
        raise SystemExit(f"deploy: {env_file} cannot be sourced: {result.stderr.decode(errors='replace').strip()}")
    return dict(item.split("=", 1) for item in result.stdout.decode().split("\0") if "=" in item)


def readyz(base: str) -> tuple[int, dict[str, Any]]:
    """(status, JSON) of GET base/readyz on a fresh connection; (0, {}) when nothing answers."""
    try:
        with urllib.request.urlopen(f"{base}/readyz", timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            return exc.code, json.loads(exc.read())
        except ValueError:
            return exc.code, {}
    except (OSError, ValueError):
        return 0, {}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./scripts/deploy", description=__doc__.split("\n\n")[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("rev", nargs="?", default="HEAD", help="the commit to deploy (default: HEAD)")
    parser.add_argument("--deadline", type=float, default=60.0, help="seconds for each step to be ready")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    (root / LOG).parent.mkdir(parents=True, exist_ok=True)
    with open(root / "var" / "run" / "deploy.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print("deploy: another deploy is running (var/run/deploy.lock)", file=sys.stderr)
            return 2
        return Deploy(root, args.deadline).deploy(args.rev)


if __name__ == "__main__":
    sys.exit(main())
