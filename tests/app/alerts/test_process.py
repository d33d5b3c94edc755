"""Reading what supervisord knows: exit reasons from its log, last words matched to the dead pid."""
from __future__ import annotations

import os
import time
from pathlib import Path

from app.alerts.process import find_exit, read_lastwords, rpc_from_env

MAIN_LOG = """\
2026-11-29 08:00:00,001 INFO spawned: 'predictor-0' with pid 100
2026-11-29 08:00:00,002 INFO spawned: 'predictor-1' with pid 101
2026-11-29 08:00:01,500 INFO success: predictor-0 entered RUNNING state, process has stayed up for > than 1 seconds (startsecs)
2026-11-29 08:10:00,000 WARN exited: predictor-0 (terminated by SIGKILL; not expected)
2026-11-29 08:10:01,000 INFO spawned: 'predictor-0' with pid 200
2026-11-29 08:10:05,000 WARN exited: predictor-0 (exit status 3; not expected)
2026-11-29 08:10:06,000 INFO spawned: 'predictor-0' with pid 300
2026-11-29 08:10:06,100 INFO exited: predictor-1 (exit status 0; expected)
2026-11-29 08:10:07,000 INFO spawned: 'tracker' with pid 400
2026-11-29 08:10:07,200 WARN exited: tracker (exit status 2; not expected)
"""


def test_the_exit_of_a_given_pid_is_found_among_several() -> None:
    killed = find_exit(MAIN_LOG, "predictor-0", 100)
    assert killed is not None and killed.reason == "terminated by SIGKILL" and not killed.expected
    assert killed.ran_s == 600.0
    crashed = find_exit(MAIN_LOG, "predictor-0", 200)
    assert crashed is not None and crashed.reason == "exit status 3" and crashed.ran_s == 4.0


def test_without_a_pid_the_latest_exit_and_its_pid() -> None:
    latest = find_exit(MAIN_LOG, "tracker")
    assert latest is not None and (latest.reason, latest.pid, latest.expected) == ("exit status 2", 400, False)
    clean = find_exit(MAIN_LOG, "predictor-1")
    assert clean is not None and clean.expected and clean.reason == "exit status 0"


def test_an_exit_whose_spawn_is_older_than_the_log_read_is_still_found() -> None:
    cut = "\n".join(MAIN_LOG.splitlines()[2:])  # the spawn of pid 101 is not in the part read
    found = find_exit(cut, "predictor-1", 101)
    assert found is not None and found.reason == "exit status 0" and found.pid == 101 and found.ran_s is None


def test_no_exit_no_answer() -> None:
    assert find_exit(MAIN_LOG, "janitor") is None
    assert find_exit(MAIN_LOG, "predictor-0", 300) is None  # still running


def test_last_words_belong_to_the_dead_pid_only(tmp_path: Path) -> None:
    words = tmp_path / "lastwords" / "trainer.txt"
    words.parent.mkdir()
    words.write_text("pid 4242 at 2026-11-29 08:00:00 UTC\nTraceback (most recent call last):\nValueError: bad\n")
    old = time.time() - 3600
    os.utime(words, (old, old))
    assert "ValueError: bad" in read_lastwords(tmp_path, "trainer", 4242, since=None)
    assert read_lastwords(tmp_path, "trainer", 4343, since=time.time() - 60) == ""  # an older death
    assert "ValueError" in read_lastwords(tmp_path, "trainer", 4343, since=old - 1)  # e.g. a worker of 4343
    assert read_lastwords(tmp_path, "janitor", 1, since=None) == ""


def test_no_supervisord_no_rpc() -> None:
    assert rpc_from_env({}) is None
    assert rpc_from_env({"SUPERVISOR_SERVER_URL": "unix:///tmp/x.sock", "PNR_SUPERVISOR_USER": "u"}) is not None
