"""The layers stay as the folders draw them (setup.cfg's import-linter contracts): the domain and the
settings at the bottom, services above them, alerts above those, and web, jobs and ops on top,
never importing each other; plumbing, the predictor and railsim never import the site."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from support import REPO

LINT_IMPORTS = Path(REPO) / ".venv" / "bin" / "lint-imports"
PACKAGES = ("app", "predictor", "plumbing", "railsim")


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """lint-imports on the packages under `root`, with the repo's contracts, afresh (no cache)."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([str(LINT_IMPORTS), "--no-cache", "--config", str(Path(REPO) / "setup.cfg")],
                          cwd=root, env=env, capture_output=True, text=True, timeout=120, check=False)


def test_every_layer_contract_is_kept() -> None:
    done = lint_imports(Path(REPO))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout, done.stdout


def test_a_service_reaching_up_into_the_web_app_breaks_the_layers(tmp_path: Path) -> None:
    for package in PACKAGES:
        shutil.copytree(Path(REPO) / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__", "data"))
    lookup = tmp_path / "app" / "services" / "lookup.py"
    lookup.write_text(lookup.read_text() + "\nfrom app.web import pages  # noqa\n")
    done = lint_imports(tmp_path)
    assert done.returncode != 0
    assert "BROKEN" in done.stdout and "app.services.lookup -> app.web.pages" in done.stdout, done.stdout
