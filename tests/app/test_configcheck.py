"""`./scripts/ctl check`: the shipped configuration passes; each kind of mistake is named with its line."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from support import REPO


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A copy of the kit's etc/ with an env file made from the example, as scripts/setup makes it."""
    etc = tmp_path / "etc"
    shutil.copytree(REPO / "etc", etc, ignore=shutil.ignore_patterns("pnr.env"))
    shutil.copy(etc / "pnr.env.example", etc / "pnr.env")
    (tmp_path / "scripts").mkdir()
    shutil.copy(REPO / "scripts" / "ctl", tmp_path / "scripts" / "ctl")
    (tmp_path / ".venv").symlink_to(REPO / ".venv")
    for folder in ("run", "log"):
        (tmp_path / "var" / folder).mkdir(parents=True)
    return tmp_path


def ctl_check(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(root / "scripts" / "ctl"), "check"], capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin"}, check=False)


def line_of(path: Path, start: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if line.startswith(start))


def replace(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def test_the_shipped_configuration_passes(root: Path) -> None:
    result = ctl_check(root)
    assert result.returncode == 0, result.stderr
    assert "are fine" in result.stdout


@pytest.mark.parametrize(("file", "old", "new", "expected"), [
    ("supervisord.conf", "autostart = %(ENV_PNR_DB_AUTOSTART)s", "autostart = %(ENV_PNR_DB_AUTOSTRT)s",
     "program:db.autostart: %(ENV_PNR_DB_AUTOSTRT)s cannot be expanded"),
    ("supervisord.conf", "startsecs = 5", "startsecs = five", "program:tracker.startsecs: 'five' is not a whole number"),
    ("crashmail.conf", "buffer_size = 1024", "bufer_size = 1024",
     "eventlistener:crashmail.bufer_size: unknown key"),
    ("pnr.env", "PNR_SMTP_PORT=8025", "PNR_SMTP_PORT=eighty", "PNR_SMTP_PORT: invalid literal for int()"),
    ("pnr.env", "PNR_SMTP_PORT=8025", "PNR_SMTP_PROT=8025", "PNR_SMTP_PROT: unknown setting"),
    ("pnr.env", "PNR_SOURCE=http", "PNR_SOURCE=simulator", "PNR_SOURCE: simulator is its own program now (pnr-railsim"),
    ("pnr.env", "PNR_HTTP_RAILSIM=auto", "PNR_HTTP_RAILSIM=maybe", "PNR_HTTP_RAILSIM: expected true/false"),
])
def test_a_mistake_is_exit_2_naming_file_line_and_setting(root: Path, file: str, old: str, new: str,
                                                          expected: str) -> None:
    path = root / "etc" / file
    replace(path, old, new)
    result = ctl_check(root)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert f"{path}:{line_of(path, new)}: {expected}" in result.stderr, result.stderr
