"""Boot integration: the systemd units written for a checkout pass systemd-analyze verify, and the
OnFailure= hook mails through the kit's pipeline to a real SMTP server."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from support import REPO, SmtpSink, wait_for

ANALYZE = shutil.which("systemd-analyze")


def test_the_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    if ANALYZE is None:
        pytest.skip("systemd-analyze is not installed (Debian's systemd package)")
    written = subprocess.run([str(REPO / "scripts" / "install-systemd"), "--dest", str(tmp_path), "--user", "root"],
                             capture_output=True, text=True, timeout=60, check=True)
    units = sorted(tmp_path.glob("*.service"))
    assert [u.name for u in units] == ["pnr-failure.service", "pnr.service"], written.stdout
    text = (tmp_path / "pnr.service").read_text()
    assert f"ExecStart={REPO}/scripts/run" in text and "KillMode=mixed" in text and "@" not in text.split("[Unit]")[1]
    # Its exit code is 0 even on errors: an empty stderr is the verdict.
    verified = subprocess.run([ANALYZE, "verify", *map(str, units)], capture_output=True, text=True, timeout=60)
    assert verified.stderr == "", verified.stderr


def test_the_onfailure_hook_mails_what_systemd_said(tmp_path: Path, smtp_sink: SmtpSink) -> None:
    root = tmp_path / "kit"
    (root / "etc").mkdir(parents=True)
    (root / "scripts").mkdir()
    shutil.copy(REPO / "scripts" / "onfailure", root / "scripts" / "onfailure")
    (root / ".venv").symlink_to(REPO / ".venv")
    # As scripts/setup writes it, with the test's SMTP server (a later line wins in the shell).
    example = (REPO / "etc" / "pnr.env.example").read_text()
    (root / "etc" / "pnr.env").write_text(f"{example}\nPNR_SMTP_PORT={smtp_sink.port}\nPNR_ALERT_TO=oncall@pnr.test\n")
    monitor = {"MONITOR_SERVICE_RESULT": "exit-code", "MONITOR_EXIT_CODE": "exited", "MONITOR_EXIT_STATUS": "1",
               "MONITOR_UNIT": "pnr.service", "PATH": os.environ["PATH"]}
    hook = subprocess.run([str(root / "scripts" / "onfailure")], env=monitor, capture_output=True, text=True,
                          timeout=60, check=False)
    assert hook.returncode == 0, hook.stderr
    mail = wait_for(lambda: smtp_sink.received(), 15, "the failure mail")[0]
    assert "oncall@pnr.test" in str(mail["To"])
    assert "pnr.service failed" in str(mail["Subject"]) and "exit-code" in str(mail["Subject"])
    assert "exited 1" in mail.get_content()
