"""Last words: the traceback of an uncaught exception, kept for the exit alert, headed by the pid."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

RAISE = "from plumbing.lastwords import install; install(); raise {exc}('model file unreadable')"


def run(code: str, var: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != "SUPERVISOR_PROCESS_NAME"}
    environ.update(PNR_VAR_DIR=str(var), **env)
    return subprocess.run([sys.executable, "-c", code], env=environ, capture_output=True, text=True, timeout=60, check=False)


def test_an_uncaught_exception_leaves_its_traceback_under_the_program_name(tmp_path: Path) -> None:
    result = run(RAISE.format(exc="ValueError"), tmp_path, SUPERVISOR_PROCESS_NAME="trainer")
    assert result.returncode == 1
    assert "ValueError: model file unreadable" in result.stderr  # the log still gets it too
    words = (tmp_path / "lastwords" / "trainer.txt").read_text()
    assert words.startswith("pid ") and "Traceback (most recent call last)" in words
    assert words.rstrip().endswith("ValueError: model file unreadable")


@pytest.mark.parametrize("env", [{}, {"SUPERVISOR_PROCESS_NAME": "trainer"}])
def test_nothing_is_kept_outside_supervisord_or_for_ctrl_c(tmp_path: Path, env: dict[str, str]) -> None:
    exc = "KeyboardInterrupt" if env else "ValueError"
    result = run(RAISE.format(exc=exc), tmp_path, **env)
    assert result.returncode != 0 and not (tmp_path / "lastwords").exists()


def test_create_app_keeps_the_last_words_of_a_failed_start(tmp_path: Path) -> None:
    """Installed first thing in create_app, so any failure while building the app is kept."""
    fail_in_init = "import app.web.logs; app.web.logs.init_app = lambda app: 1 / 0; from app import create_app; create_app()"
    result = run(fail_in_init, tmp_path, SUPERVISOR_PROCESS_NAME="outbox")
    assert result.returncode == 1
    words = (tmp_path / "lastwords" / "outbox.txt").read_text()
    assert words.startswith("pid ") and "ZeroDivisionError" in words and "create_app" in words


def test_a_job_keeps_the_last_words_of_an_iteration_that_raises(tmp_path: Path) -> None:
    """pnr-job installs them before anything else, as create_app does. The janitor's pass runs in a
    child, whose exception is raised in the job (tests/app/jobs/test_child.py): here it fails at once."""
    failing = ("import app.jobs.child as c; c.run = lambda *args, **kwargs: 1 / 0; "
               "from app.jobs.main import main; main(['janitor', '--once'])")
    result = run(failing, tmp_path, SUPERVISOR_PROCESS_NAME="janitor", PNR_ALERT_MAIL="false")
    assert result.returncode == 1, result.stderr
    words = (tmp_path / "lastwords" / "janitor.txt").read_text()
    assert words.startswith("pid ") and "ZeroDivisionError" in words and "run_every" in words
