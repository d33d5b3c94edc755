"""app/jobs/child.py: the trainer's fit in a spawned child — result, exception, death and stop."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import childtargets
import psutil
import pytest
from support import REPO, wait_for

from app import services
from app.jobs import child


@pytest.fixture
def bound():
    with services.bound(services.Services({"VAR_DIR": "var", "SECRET_KEY": "child-test", "ALERT_MAIL": False})):
        yield


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_the_child_returns_its_result_from_another_process_with_the_jobs_settings(bound) -> None:
    result = child.run(childtargets.who_and_what, ("SECRET_KEY",), threading.Event(), name="test child")
    assert result["pid"] != os.getpid() and result["setting"] == "child-test" and result["numpy"]


def test_between_children_the_job_holds_no_other_process(bound) -> None:
    """multiprocessing's resource tracker, started with the first spawned child, is ended with it."""
    for _ in range(2):
        child.run(childtargets.who_and_what, ("SECRET_KEY",), threading.Event())
        assert psutil.Process().children(recursive=True) == []


def test_an_exception_in_the_child_is_raised_in_the_job(bound) -> None:
    with pytest.raises(ValueError, match="no rows to fit"):
        child.run(childtargets.fail, ("no rows to fit",), threading.Event())


def test_a_child_killed_is_an_error_naming_its_exit(bound) -> None:
    with pytest.raises(child.ChildDied, match="exit code -9"):
        child.run(childtargets.die, (), threading.Event())


def test_a_stop_ends_the_child(bound, tmp_path: Path) -> None:
    stop, pid_file = threading.Event(), tmp_path / "child.pid"

    def stop_once_it_runs() -> None:
        wait_for(lambda: pid_file.exists() and pid_file.read_text(), 60, "the child's pid file")
        stop.set()

    threading.Thread(target=stop_once_it_runs, daemon=True).start()
    with pytest.raises(child.Stopped):
        child.run(childtargets.hang, (str(pid_file),), stop)
    assert gone(int(pid_file.read_text()))


def test_a_child_whose_job_is_killed_stops_by_itself(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    code = ("import sys, threading; sys.path.insert(0, 'tests'); import childtargets; "
            "from app import services; from app.jobs import child\n"
            "with services.bound(services.Services({'ALERT_MAIL': False})):\n"
            f"    child.run(childtargets.hang, ({str(pid_file)!r},), threading.Event())")
    job = subprocess.Popen([sys.executable, "-c", code], cwd=REPO)
    try:
        wait_for(lambda: pid_file.exists() and pid_file.read_text(), 60, "the child's pid file")
        job.kill()
        job.wait(10)
        wait_for(lambda: gone(int(pid_file.read_text())), 10, "the orphaned child to stop")
    finally:
        if job.poll() is None:
            job.kill()
            job.wait()


def test_a_stop_that_also_reaches_the_child_is_a_stop_not_a_death(tmp_path: Path) -> None:
    """SIGTERM to the job's whole process group (the kit's orphan clean-up, systemd stopping the kit)
    ends the child before the job notices its stop: that is still a stop, not a child that died."""
    pid_file = tmp_path / "child.pid"
    code = ("import signal, sys, threading; sys.path.insert(0, 'tests'); import childtargets; "
            "from app import services; from app.jobs import child\n"
            "stop = threading.Event(); signal.signal(signal.SIGTERM, lambda *_: stop.set())\n"
            "with services.bound(services.Services({'ALERT_MAIL': False})):\n"
            "    try:\n"
            f"        child.run(childtargets.hang, ({str(pid_file)!r},), stop)\n"
            "    except child.Stopped:\n"
            "        print('stopped')")
    job = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, start_new_session=True)
    try:
        wait_for(lambda: pid_file.exists() and pid_file.read_text(), 60, "the child's pid file")
        os.killpg(job.pid, signal.SIGTERM)
        out, err = job.communicate(timeout=30)
        assert job.returncode == 0 and out.strip() == "stopped", err
        assert gone(int(pid_file.read_text()))
    finally:
        if job.poll() is None:
            job.kill()
            job.wait()
