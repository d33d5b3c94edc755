"""What each kind of process imports: the web app carries neither the trainer nor scipy, and no job
carries Flask (STYLE 1a). Each check runs in a fresh interpreter, as the process itself would start;
bench/load prints what that costs in memory."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
from support import REPO

HEAVY = ("numpy", "scipy", "matplotlib")
WEB = ("flask", "werkzeug", "jinja2", "flask_limiter", "flask_wtf")
JOBS = ("tracker", "janitor", "outbox", "trainer")


def imported_after(code: str) -> set[str]:
    """The top-level packages in sys.modules after running `code` in a new interpreter."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))"
    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "PNR_VAR_DIR": "/nonexistent"})
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_the_web_app_imports_neither_numpy_nor_scipy(tmp_path) -> None:
    modules = imported_after(f"from app import create_app\ncreate_app({{'TESTING': True, 'VAR_DIR': {str(tmp_path)!r}}})")
    assert "flask" in modules  # the probe did build the app
    assert not modules & set(HEAVY), sorted(modules & set(HEAVY))


@pytest.mark.parametrize("job", JOBS)
def test_a_job_command_imports_no_flask(job: str) -> None:
    modules = imported_after(f"from app.jobs.main import cli\nassert cli.get_command(None, {job!r}) is not None")
    assert "click" in modules
    assert not modules & set(WEB), sorted(modules & set(WEB))


@pytest.mark.parametrize("job", ("tracker", "janitor", "outbox"))
def test_a_job_other_than_the_trainer_imports_neither_numpy_nor_scipy(job: str) -> None:
    modules = imported_after(f"from app.jobs.main import cli\ncli.get_command(None, {job!r})")
    assert not modules & set(HEAVY), sorted(modules & set(HEAVY))


def test_the_trainer_waits_between_fits_without_numpy_or_scipy() -> None:
    """Its fit runs in a spawned child (app/jobs/child.py); the job itself only loops."""
    modules = imported_after("from app.jobs.main import cli\ncli.get_command(None, 'trainer')\n"
                             "import app.jobs.trainer, app.jobs.child")
    assert not modules & set(HEAVY), sorted(modules & set(HEAVY))


@pytest.mark.parametrize("job", ("tracker", "janitor"))
def test_a_job_whose_passes_run_in_children_waits_without_the_store_client(job: str) -> None:
    """Each pass runs in a spawned child (app/jobs/loop.py, run_each_in_child); the job only loops."""
    modules = imported_after(f"from app.jobs.main import cli\ncli.get_command(None, {job!r})\n"
                             "import app.jobs.loop, app.jobs.child")
    assert "click" in modules
    assert not modules & {"pymongo", "bson", "urllib3", "zmq"}, sorted(modules & {"pymongo", "bson", "urllib3", "zmq"})
