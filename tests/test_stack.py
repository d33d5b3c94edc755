"""The whole kit under the real supervisord, from the repo's own etc/, in a temporary directory."""
from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from support import BIN, REPO, Kit, wait_for

pytestmark = pytest.mark.integration

ALL_RUNNING_DEADLINE_S = 60.0


@pytest.fixture
def kit(tmp_path: Path, smtp_sink) -> Iterator[Kit]:
    k = Kit(tmp_path, smtp_sink.port)
    yield k
    k.stop()


EXPECTED_PROGRAMS = {
    "db", "railsim", "web", "predictor:predictor-0", "predictor:predictor-1", "tracker", "trainer", "janitor", "outbox",
    "crashmail", "alertlistener", "memmon", "httpok",
}


def listening_sockets(root: psutil.Process) -> list[tuple[str, object]]:
    """(process name, address) of every listening socket in `root`'s tree. A process that ends while
    it is looked at is passed over: the janitor's and the tracker's passes run in short-lived children."""
    found = []
    for p in [root, *root.children(recursive=True)]:
        try:
            found += [(p.name(), c.laddr) for c in p.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN]
        except psutil.NoSuchProcess:
            continue
    return found


def test_whole_stack_runs_answers_and_mails_on_a_predictor_crash(kit: Kit, smtp_sink) -> None:
    shutil.copy(REPO / "app" / "data" / "model-default.json", kit.var / "model.json")  # as scripts/run does

    kit.start()
    wait_for(
        lambda: EXPECTED_PROGRAMS <= {n for n, (s, _) in kit.states().items() if s == "RUNNING"},
        ALL_RUNNING_DEADLINE_S, f"every program RUNNING (last: {kit.states()})", interval_s=0.5,
    )
    assert kit.states()["mailsink"][0] == "STOPPED"  # off: the test's own SMTP server stands in

    status, body = kit.get("/healthz")
    assert status == 200 and json.loads(body) == {"status": "ok"}

    # The sysadmin's command works with nothing sourced, from the root too; only its user may connect.
    bare = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root")}
    for args in (["-c", str(kit.etc / "supervisord.conf"), "status"], ["status"]):
        plain = subprocess.run([str(BIN / "supervisorctl"), *args], env=bare, cwd=kit.root, capture_output=True,
                               text=True, timeout=30)
        assert "web " in plain.stdout and "RUNNING" in plain.stdout and "Error" not in plain.stderr, plain
    sock = kit.var / "run" / "supervisor.sock"
    assert stat.S_IMODE(sock.stat().st_mode) & 0o077 == 0 and stat.S_IMODE(sock.parent.stat().st_mode) == 0o700

    from railsim.railway import Railway

    pnr = Railway(seed=int(kit.env["PNR_SIM_SEED"]), era=kit.env["PNR_SIM_ERA"]).sample_pnrs(
        dt.datetime.now(dt.UTC), 1
    )[0]
    status, body = wait_for(lambda: (r := kit.get(f"/pnr/{pnr}"))[0] == 200 and r, 20, "the PNR page")
    assert f"PNR {pnr}" in body and '<span class="pct">' in body and "chance of a confirmed berth" in body
    assert 'data-notice="prediction"' not in body
    status, body = kit.get(f"/api/v1/pnr/{pnr}")
    data = json.loads(body)
    assert status == 200 and data["prediction_available"] is True
    predicted = [p["prediction"] for p in data["pnr"]["passengers"] if p["prediction"]]
    assert predicted and all(0.0 <= p["p_cnf"] <= 1.0 for p in predicted)

    status, body = kit.get("/pnr/12345")
    assert status == 400 and "exactly 10 digits" in body
    status, body = kit.get("/api/v1/pnr/0123456789")
    assert status == 400 and json.loads(body)["error"]["code"] == "invalid_pnr"

    listening = listening_sockets(psutil.Process(kit.proc.pid))
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

    # Two more crashes: `./scripts/ctl status` counts three restarts and names the last exit.
    for _ in range(2):
        old_pid = int(kit.ctl("pid", "predictor:predictor-0").stdout.strip())
        os.kill(old_pid, signal.SIGKILL)
        wait_for(
            lambda old=old_pid: kit.states()["predictor:predictor-0"][0] == "RUNNING"
            and int(kit.ctl("pid", "predictor:predictor-0").stdout.strip()) != old,
            30, "predictor-0 back", interval_s=0.5,
        )
    (kit.root / "scripts").mkdir(exist_ok=True)
    shutil.copy(REPO / "scripts" / "ctl", kit.root / "scripts" / "ctl")
    if not (kit.root / ".venv").exists():
        (kit.root / ".venv").symlink_to(BIN.parent)
    shown = subprocess.run([str(kit.root / "scripts" / "ctl"), "status", "--json"], capture_output=True, text=True,
                           timeout=30, env={"PATH": os.environ["PATH"]}, check=False)
    assert shown.returncode == 0, shown.stderr
    rows = {r["program"]: r for r in json.loads(shown.stdout)}
    assert EXPECTED_PROGRAMS <= set(rows)
    crashed = rows["predictor:predictor-0"]
    assert crashed["restarts"] == 3 and crashed["last_exit"].startswith("terminated by SIGKILL; not expected"), crashed
    assert rows["predictor:predictor-1"]["restarts"] == 0 and rows["predictor:predictor-1"]["rss_mib"] > 10
    assert rows["web"]["state"] == "RUNNING" and rows["web"]["rss_mib"] > rows["predictor:predictor-1"]["rss_mib"]
    text = subprocess.run([str(kit.root / "scripts" / "ctl"), "status"], capture_output=True, text=True, timeout=30,
                          env={"PATH": os.environ["PATH"]}, check=False).stdout
    assert "restarts" in text.splitlines()[0] and "terminated by SIGKILL" in text
