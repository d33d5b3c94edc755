"""A job that hangs without exiting, under the real supervisord with the repo's config: the tracker
SIGSTOPped is mailed once as late within its interval, its grace and one TICK_5, is left alone (or
killed for supervisord to restart, when the operator asked for that), and is mailed once as back
when it finishes an iteration again."""
from __future__ import annotations

import json
import os
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import REPO, Kit, SmtpSink, wait_for

pytestmark = pytest.mark.integration

EVERY_S, GRACE_S, TICK_S = 1, 3, 5
LATE_DEADLINE_S = EVERY_S + GRACE_S + TICK_S + 2  # the last 2 s: the listener's own work and SMTP


@pytest.fixture
def kit(tmp_path: Path, smtp_sink: SmtpSink, request: pytest.FixtureRequest) -> Iterator[Kit]:
    k = Kit(tmp_path, smtp_sink.port, PNR_TRACKER_EVERY_S=str(EVERY_S), PNR_JOB_GRACE_S=str(GRACE_S),
            PNR_JOB_LATE_RESTART=request.param)
    shutil.copy(REPO / "app" / "data" / "model-default.json", k.var / "model.json")
    k.start()
    yield k
    k.stop()


def heartbeat(kit: Kit) -> dict:
    return json.loads((kit.var / "run" / "heartbeats" / "tracker.json").read_text())


def tracker_up(kit: Kit) -> int:
    """The tracker's pid once supervisord says RUNNING (past startsecs) and its heartbeat, of the
    same process, shows a finished iteration. Never 0: os.kill(0, ...) would signal this test."""
    def up() -> int:
        pid = running_pid(kit)
        beat = heartbeat(kit)
        return pid if pid > 0 and beat["pid"] == pid and beat.get("finished_at") else 0
    return int(wait_for(up, 60, "the tracker RUNNING with a finished iteration", interval_s=0.5))


def tracker_mails(sink: SmtpSink) -> list[str]:
    return [str(m["Subject"]) for m in sink.received() if m["X-PNR-Program"] == "tracker"]


def running_pid(kit: Kit) -> int:
    state, description = kit.states()["tracker"]
    return int(description.split("pid ")[1].split(",")[0]) if state == "RUNNING" else 0


@pytest.mark.parametrize("kit", ["false"], indirect=True)
def test_a_stopped_tracker_is_late_once_left_running_and_back_once_when_continued(kit: Kit, smtp_sink: SmtpSink) -> None:
    pid = tracker_up(kit)
    os.kill(pid, signal.SIGSTOP)
    stopped = time.monotonic()
    try:
        [late] = wait_for(lambda: tracker_mails(smtp_sink), LATE_DEADLINE_S, "the late mail")
        assert time.monotonic() - stopped <= LATE_DEADLINE_S
        assert "tracker: late: an iteration overdue by" in late and late.endswith("not restarted")
        body = smtp_sink.received()[-1].get_content()
        assert f"Pid:          {pid}" in body and "PNR_JOB_LATE_RESTART=false" in body and "Last finished: " in body
        # For two more ticks, still stopped: still one mail, and supervisord still runs the same process.
        quiet_until = time.monotonic() + 2 * TICK_S
        while time.monotonic() < quiet_until:
            assert len(tracker_mails(smtp_sink)) == 1, tracker_mails(smtp_sink)
            time.sleep(0.25)
        assert running_pid(kit) == pid
    finally:
        os.kill(pid, signal.SIGCONT)
    _late, back = wait_for(lambda: tracker_mails(smtp_sink)[1:] and tracker_mails(smtp_sink), EVERY_S + TICK_S + 5, "the back mail")
    assert "tracker: back: finished an iteration" in back
    assert running_pid(kit) == pid and len(tracker_mails(smtp_sink)) == 2


@pytest.mark.parametrize("kit", ["true"], indirect=True)
def test_with_late_restart_on_a_stopped_tracker_is_killed_restarted_and_back(kit: Kit, smtp_sink: SmtpSink) -> None:
    pid = tracker_up(kit)
    os.kill(pid, signal.SIGSTOP)
    late = wait_for(lambda: [s for s in tracker_mails(smtp_sink) if ": late: " in s], LATE_DEADLINE_S, "the late mail")
    assert late[0].endswith("killed for supervisord to restart")
    wait_for(lambda: running_pid(kit) not in (0, pid), 30, "the tracker restarted by supervisord", interval_s=0.5)
    back = wait_for(lambda: [s for s in tracker_mails(smtp_sink) if ": back: " in s], EVERY_S + TICK_S + 10, "the back mail")
    assert len(back) == 1
    exits = [s for s in tracker_mails(smtp_sink) if "terminated by SIGKILL" in s]
    assert len(exits) == 1, tracker_mails(smtp_sink)  # crashmail: the kill, as any exit, is mailed too
