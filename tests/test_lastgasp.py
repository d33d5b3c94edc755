"""supervisord itself killed, with the real supervisord and the repo's config: the alert listener's
last gasp names the orphans within 5 s, and the next start (the step scripts/run takes before
supervisord, then supervisord) stops them, comes up whole and says so in one mail."""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import REPO, Kit, SmtpSink, wait_for

from app.alerts import orphans

pytestmark = pytest.mark.integration

LAST_GASP_DEADLINE_S = 5.0
PROGRAMS = {"db", "railsim", "web", "predictor:predictor-0", "predictor:predictor-1", "tracker", "trainer", "janitor",
            "outbox", "crashmail", "alertlistener", "memmon", "httpok"}
ORPHANED = PROGRAMS - set(orphans.SELF_ENDING)


@pytest.fixture
def kit(tmp_path: Path, smtp_sink: SmtpSink) -> Iterator[Kit]:
    k = Kit(tmp_path, smtp_sink.port)
    shutil.copy(REPO / "app" / "data" / "model-default.json", k.var / "model.json")
    yield k
    k.stop()
    left = orphans.alive(orphans.load(k.var))  # should the test fail midway, nothing outlives it
    orphans.stop({n: p for n, p in left.items() if n != "supervisord"}, deadline_s=5)


def all_running(kit: Kit) -> bool:
    return PROGRAMS <= {n for n, (s, _) in kit.states().items() if s == "RUNNING"}


# Not beside the OOM test (tests/test_alerting.py): its kill moves the host-wide count this reads.
@pytest.mark.xdist_group("host_oom_kill_count")
def test_supervisord_killed_is_mailed_with_its_orphans_and_the_next_start_stops_them(kit: Kit, smtp_sink: SmtpSink) -> None:
    kit.start()
    wait_for(lambda: all_running(kit), 60, "every program RUNNING", interval_s=0.5)
    wait_for(lambda: ORPHANED <= set(orphans.load(kit.var)), 10, "every program recorded")
    pids = {name: int(kit.ctl("pid", name).stdout) for name in ORPHANED}
    assert kit.proc is not None
    supervisord = kit.proc.pid

    os.kill(supervisord, signal.SIGKILL)
    killed = time.monotonic()
    kit.proc.wait(10)
    [gasp] = wait_for(smtp_sink.received, LAST_GASP_DEADLINE_S, "the last gasp")
    assert time.monotonic() - killed <= LAST_GASP_DEADLINE_S
    subject = str(gasp["Subject"])
    assert f"supervisord (pid {supervisord}) is gone without a clean shutdown; {len(ORPHANED)} programs orphaned" in subject
    body = gasp.get_content()
    for name, pid in pids.items():
        assert f"{name} (pid {pid})" in body, (name, body)
    assert "killed by a signal" in body and "./scripts/run" in body
    assert all(orphans.start_time(pid) is not None for pid in pids.values())  # alive, holding their ports

    # The next start, as scripts/run does it: the orphans first, then supervisord.
    cleanup = subprocess.run([sys.executable, "-m", "app.alerts.orphans", str(kit.var)], env=kit.env, cwd=kit.root,
                             capture_output=True, text=True, timeout=120)
    assert cleanup.returncode == 0, cleanup.stderr
    assert all(orphans.start_time(pid) is None for pid in pids.values()), cleanup.stdout
    kit.start()
    wait_for(lambda: all_running(kit), 60, f"every program RUNNING again (last: {kit.states()})", interval_s=0.5)
    mails = smtp_sink.received()
    assert len(mails) == 2, [str(m["Subject"]) for m in mails]
    said = mails[1]
    stopped = dict(re.findall(r"^  (\S+): (pid \d+: [^\r\n]+)", said.get_content(), re.M))
    # The orphans, each by its pid; a listener slower to exit than its end-of-file may be among them.
    assert all(stopped.get(name) == f"pid {pid}: stopped (SIGTERM)" for name, pid in pids.items()), stopped
    assert set(stopped) - ORPHANED <= set(orphans.SELF_ENDING), stopped
    assert str(said["Subject"]).endswith(f"supervisord started again; {len(stopped)} orphans of the earlier run stopped first")
    # Nothing is left of the first run, and a clean stop leaves nothing to find.
    kit.stop()
    assert orphans.alive(orphans.load(kit.var)) == {}


def test_the_start_refuses_while_the_kits_supervisord_lives(kit: Kit) -> None:
    kit.start()
    wait_for(lambda: "supervisord" in orphans.load(kit.var), 60, "supervisord recorded by the listener")
    refused = subprocess.run([sys.executable, "-m", "app.alerts.orphans", str(kit.var)], env=kit.env, cwd=kit.root,
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1 and "supervisord of this kit is running" in refused.stderr
