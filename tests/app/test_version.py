"""The version alerts and deploys name: the checkout's commit, marked when the tree differs."""
from __future__ import annotations

import subprocess
from pathlib import Path

from app.version import UNKNOWN, of_checkout


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, check=True).stdout.strip()


def test_a_checkout_is_named_by_its_commit_and_a_changed_tree_is_marked_dirty(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    (tmp_path / "f.txt").write_text("one\n")
    git(tmp_path, "add", "f.txt")
    git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@pnr.test", "commit", "-q", "-m", "one")
    commit = git(tmp_path, "rev-parse", "HEAD")
    assert of_checkout(tmp_path) == commit[:12]
    (tmp_path / "f.txt").write_text("two\n")
    assert of_checkout(tmp_path) == commit[:12] + "-dirty"


def test_outside_a_checkout_the_version_says_so(tmp_path: Path) -> None:
    assert of_checkout(tmp_path) == UNKNOWN
