"""A clone of this repo's HEAD (committed code only) set up and run as a new sysadmin would, for
`./scripts/deploy`'s test and benchmark: its own .venv (so its programs run its code, not this
checkout's), its own etc/pnr.env on free loopback ports, started with `scripts/run`."""
from __future__ import annotations

import http.client
import os
import re
import signal
import subprocess
import time
from pathlib import Path

try:  # under pytest (pythonpath = tests): the one support module, whose ports are handed out once
    from support import REPO, consecutive_free_ports, free_port, wait_for
except ImportError:  # from bench/
    from tests.support import REPO, consecutive_free_ports, free_port, wait_for

PROGRAMS = {"db", "railsim", "web", "predictor:predictor-0", "predictor:predictor-1", "tracker", "trainer", "janitor",
            "outbox", "crashmail", "alertlistener", "memmon", "httpok"}
SETUP_TIMEOUT_S = 900
ALERT_TO = "oncall@pnr.test"


class Clone:
    """A clone of HEAD set up and run as a new sysadmin would, on its own ports."""

    def __init__(self, root: Path, smtp_port: int, **settings: str):
        self.root = root
        subprocess.run(["git", "clone", "--quiet", str(REPO), str(root)], check=True)
        self.web_port, db_port = free_port(), free_port()
        self.settings = {
            "PNR_WEB_PORT": str(self.web_port), "PNR_PUBLIC_URL": f"http://127.0.0.1:{self.web_port}",
            "PNR_DB_PORT": str(db_port), "PNR_MONGO_URI": f"mongodb://127.0.0.1:{db_port}/?directConnection=true",
            "PNR_PREDICTOR_PORT_BASE": str(consecutive_free_ports(2)), "PNR_RAILSIM_PORT": str(free_port()),
            "PNR_SMTP_PORT": str(smtp_port),
            "PNR_MAILSINK_AUTOSTART": "false", "PNR_ALERT_TO": ALERT_TO, **settings,
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
                                         env=self.plain_env())
        wait_for(lambda: PROGRAMS <= self.running(), 120, "every program RUNNING", interval_s=0.5)
        # RUNNING is supervisord's word for "alive for startsecs"; a gunicorn worker still importing
        # on a busy machine holds the first request longer than that. Ready is what /readyz says.
        wait_for(self.ready, 120, "/readyz to answer 200", interval_s=0.5)

    def ready(self) -> bool:
        conn = http.client.HTTPConnection("127.0.0.1", self.web_port, timeout=5)
        try:
            conn.request("GET", "/readyz")
            return conn.getresponse().status == 200
        finally:
            conn.close()

    @staticmethod
    def plain_env() -> dict[str, str]:
        """This environment without PNR_* settings: the clone's come from its etc/pnr.env alone."""
        return {k: v for k, v in os.environ.items() if not k.startswith("PNR_")}

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
