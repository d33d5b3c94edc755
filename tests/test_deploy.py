"""`./scripts/deploy` on a clone set up and run as a sysadmin would: a commit whose web app cannot
start is rolled back before the site is touched, with one mail; a good one lands everywhere, and
the site answers every request throughout. (bench/deploy measures the same under load, beside
`supervisorctl restart web`.)"""
from __future__ import annotations

import http.client
import json
import subprocess
import threading
from pathlib import Path

import pytest
from deploykit import ALERT_TO, Clone

pytestmark = [pytest.mark.integration, pytest.mark.long, pytest.mark.timeout(900)]


class Visitors:
    """Two threads asking the home page and /healthz as fast as answers come; failures counted."""

    def __init__(self, port: int):
        self.port = port
        self.answered = 0
        self.failed: list[str] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._ask, args=(path,), daemon=True) for path in ("/", "/healthz")]

    def _ask(self, path: str) -> None:
        while not self._stop.is_set():
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
            try:
                conn.request("GET", path)
                status = conn.getresponse().status
                if status >= 500:
                    self.failed.append(f"{path}: {status}")
                else:
                    self.answered += 1
            except (OSError, http.client.HTTPException) as exc:
                self.failed.append(f"{path}: {exc!r}")
            finally:
                conn.close()

    def __enter__(self) -> Visitors:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(30)


def deploy(clone: Clone, rev: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(clone.root / "scripts" / "deploy"), rev], cwd=clone.root, capture_output=True,
                          text=True, timeout=300, env=clone.plain_env())


def version_served(clone: Clone) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", clone.web_port, timeout=10)
    try:
        conn.request("GET", "/readyz")
        return json.loads(conn.getresponse().read())["version"]
    finally:
        conn.close()


def test_a_web_app_that_cannot_start_is_rolled_back_with_one_mail_and_a_good_commit_lands(tmp_path: Path, smtp_sink, wait) -> None:
    clone = Clone(tmp_path / "pnr", smtp_sink.port)
    clone.set_up()
    clone.start()
    try:
        running = clone.git("rev-parse", "HEAD")
        good = clone.commit("app/web/pages.py", '"""Process alive;', '"""Process alive (deployed);', "a new commit")
        bad = clone.commit("app/__init__.py", '    from plumbing import lastwords\n',
                           '    raise RuntimeError("a web app that cannot start")\n    from plumbing import lastwords\n',
                           "a commit whose web app cannot start")
        clone.git("checkout", "--quiet", "--detach", running)
        assert version_served(clone) == running[:12]

        with Visitors(clone.web_port) as visitors:
            failed = deploy(clone, bad)
            assert failed.returncode == 1, failed.stdout + failed.stderr
            assert clone.git("rev-parse", "HEAD") == running
            assert version_served(clone) == running[:12]
            [mail] = wait(smtp_sink.received, 10, "the deploy's mail")
            assert f"deploy of {bad[:12]} failed at the canary step; rolled back to {running[:12]}" in str(mail["Subject"])
            assert "a web app that cannot start" in mail.get_content() and ALERT_TO in str(mail["To"])

            landed = deploy(clone, good)
            assert landed.returncode == 0, landed.stdout + landed.stderr
            assert version_served(clone) == good[:12]
        assert visitors.failed == [] and visitors.answered > 100, (visitors.failed[:5], visitors.answered)
        assert len(smtp_sink.received()) == 1, [str(m["Subject"]) for m in smtp_sink.received()]
        restarted = [line for line in landed.stdout.splitlines() if "restarted" in line]
        assert any("predictor:predictor-0" in line for line in restarted)
        assert any("tracker" in line and "outbox" in line for line in restarted)
        assert {"tracker", "outbox", "predictor:predictor-0", "predictor:predictor-1"} <= clone.running()
        log = (clone.root / "var" / "log" / "deploy.log").read_text().splitlines()
        assert [line.split(" ", 1)[1] for line in log][-1].startswith(f"{running[:12]} -> {good[:12]} deployed")
        assert f"{bad[:12]} failed at canary, rolled back to {running[:12]}" in log[0]
    finally:
        clone.stop()
