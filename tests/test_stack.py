"""The whole kit under the real supervisord, from the repo's own etc/, in a temporary directory."""
from __future__ import annotations

import datetime as dt
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from support import BIN, REPO, free_port, wait_for

pytestmark = pytest.mark.integration

ALL_RUNNING_DEADLINE_S = 60.0
ENV_LINE = re.compile(r"^([A-Z_][A-Z0-9_]*)=(.*)$")


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines as a shell would export them (surrounding quotes removed)."""
    env = {}
    for line in path.read_text().splitlines():
        m = ENV_LINE.match(line.strip())
        if m:
            env[m.group(1)] = m.group(2).strip().strip('"')
    return env


def consecutive_free_ports(n: int) -> int:
    """A base port with n free ports from it."""
    for _ in range(50):
        base = free_port()
        if base + n < 65535 and all(_is_free(base + i) for i in range(n)):
            return base
    raise RuntimeError("no run of free ports")


def _is_free(port: int) -> bool:
    import socket

    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class Kit:
    """A copy of etc/ with its own ports and var/, and the supervisord running it."""

    def __init__(self, root: Path, smtp_port: int):
        self.root = root
        self.etc = root / "etc"
        self.var = root / "var"
        self.etc.mkdir()
        for name in ("supervisord.conf", "crashmail.conf", "gunicorn.conf.py"):
            shutil.copy(REPO / "etc" / name, self.etc / name)
        for d in ("run", "log", "db", "mail", "spool"):
            (self.var / d).mkdir(parents=True)
        (self.var / "run").chmod(0o700)
        self.web_port, db_port = free_port(), free_port()
        predictor_base = consecutive_free_ports(2)
        self.env = {
            **os.environ,
            **read_env_file(REPO / "etc" / "pnr.env.example"),
            "PNR_SUPERVISOR_PASSWORD": secrets.token_urlsafe(16),
            "PNR_SECRET_KEY": secrets.token_urlsafe(16),
            "PNR_WEB_PORT": str(self.web_port),
            "PNR_PUBLIC_URL": f"http://127.0.0.1:{self.web_port}",
            "PNR_DB_PORT": str(db_port),
            "PNR_MONGO_URI": f"mongodb://127.0.0.1:{db_port}/?directConnection=true",
            "PNR_PREDICTOR_PORT_BASE": str(predictor_base),
            "PNR_SMTP_PORT": str(smtp_port),
            "PNR_MAILSINK_AUTOSTART": "false",
            "PNR_ALERT_TO": "oncall@pnr.test",
            "PNR_VAR_DIR": str(self.var),
            "PATH": f"{BIN}:{os.environ['PATH']}",
        }
        self.proc: subprocess.Popen[bytes] | None = None

    def run(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(list(args), env=self.env, cwd=self.root, capture_output=True, text=True, timeout=timeout)

    def ctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        """The sysadmin's command: supervisorctl -c etc/supervisord.conf ..."""
        return self.run(str(BIN / "supervisorctl"), "-c", str(self.etc / "supervisord.conf"), *args, timeout=30)

    def states(self) -> dict[str, tuple[str, str]]:
        out = self.ctl("status").stdout
        states = {}
        for line in out.splitlines():
            parts = line.split(None, 2)
            if len(parts) >= 2:
                states[parts[0]] = (parts[1], parts[2] if len(parts) > 2 else "")
        return states

    def start(self) -> None:
        with open(self.var / "log" / "supervisord.stdout", "ab") as out:
            self.proc = subprocess.Popen(
                [str(BIN / "supervisord"), "--nodaemon", "-c", str(self.etc / "supervisord.conf")],
                env=self.env, cwd=self.root, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.web_port}{path}", timeout=30) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()


@pytest.fixture
def kit(tmp_path: Path, smtp_sink) -> Iterator[Kit]:
    k = Kit(tmp_path, smtp_sink.port)
    yield k
    k.stop()


EXPECTED_PROGRAMS = {
    "db", "web", "predictor:predictor-0", "predictor:predictor-1", "tracker", "trainer", "janitor", "outbox", "crashmail",
}


def test_whole_stack_runs_answers_and_mails_on_a_predictor_crash(kit: Kit, smtp_sink) -> None:
    trained = kit.run(str(BIN / "flask"), "--app", "app", "trainer", "--once")
    assert trained.returncode == 0, trained.stderr[-3000:]
    assert (kit.var / "model.json").is_file()

    kit.start()
    wait_for(
        lambda: EXPECTED_PROGRAMS <= {n for n, (s, _) in kit.states().items() if s == "RUNNING"},
        ALL_RUNNING_DEADLINE_S, f"every program RUNNING (last: {kit.states()})", interval_s=0.5,
    )
    assert kit.states()["mailsink"][0] == "STOPPED"  # off: the test's own SMTP server stands in

    status, body = kit.get("/healthz")
    assert status == 200 and json.loads(body) == {"status": "ok"}

    from app.sources.simulator import SimulatorSource

    pnr = SimulatorSource(seed=int(kit.env["PNR_SIM_SEED"]), era=kit.env["PNR_SIM_ERA"]).sample_pnrs(
        dt.datetime.now(dt.timezone.utc), 1
    )[0]
    status, body = wait_for(lambda: (r := kit.get(f"/pnr/{pnr}"))[0] == 200 and r, 20, "the PNR page")
    assert f"PNR {pnr}" in body and "% confirmed" in body
    status, body = kit.get(f"/api/v1/pnr/{pnr}")
    data = json.loads(body)
    assert status == 200 and data["prediction_available"] is True
    predicted = [p["prediction"] for p in data["pnr"]["passengers"] if p["prediction"]]
    assert predicted and all(0.0 <= p["p_cnf"] <= 1.0 for p in predicted)

    status, body = kit.get("/pnr/12345")
    assert status == 400 and "exactly 10 digits" in body
    status, body = kit.get("/api/v1/pnr/0123456789")
    assert status == 400 and json.loads(body)["error"]["code"] == "invalid_pnr"

    supervisord = psutil.Process(kit.proc.pid)
    listening = [
        (p.name(), c.laddr)
        for p in [supervisord, *supervisord.children(recursive=True)]
        for c in p.net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN
    ]
    assert listening and all(addr.ip == "127.0.0.1" for _, addr in listening), listening

    old_pid = int(kit.ctl("pid", "predictor:predictor-0").stdout.strip())
    os.kill(old_pid, signal.SIGKILL)
    mail = wait_for(
        lambda: [m for m in smtp_sink.received() if "predictor-0" in str(m["Subject"])], 30, "the crash mail"
    )[0]
    assert "oncall@pnr.test" in str(mail["To"]) and "unexpectedly" in mail.get_content()
    wait_for(
        lambda: kit.states()["predictor:predictor-0"][0] == "RUNNING"
        and int(kit.ctl("pid", "predictor:predictor-0").stdout.strip()) != old_pid,
        30, "predictor-0 back", interval_s=0.5,
    )
