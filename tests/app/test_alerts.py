"""The mail pipeline against a real SMTP server: the sendmail shim, the spool and its drain."""
from __future__ import annotations

import os
import subprocess
import sys
from email.message import EmailMessage
from pathlib import Path

from app.alerts import MailSettings, deliver, drain_spool

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[2]


def settings_for(port: int, var: Path) -> MailSettings:
    return MailSettings(
        host="127.0.0.1", port=port, security="none", user="", password="", timeout_s=5.0,
        sender="alerts@pnr.test", recipients=("oncall@pnr.test",), spool_dir=var / "spool",
    )


def env_for(port: int, var: Path) -> dict[str, str]:
    return {**os.environ, "PNR_SMTP_PORT": str(port), "PNR_VAR_DIR": str(var), "PNR_ALERT_TO": "oncall@pnr.test"}


CRASHMAIL_STYLE = b"To: oncall@pnr.test\nSubject: predictor-0 crashed at 2026-11-29 08:00:00\n\nProcess predictor-0 in group predictor exited unexpectedly (pid 4242) from state RUNNING\n"


def test_sendmail_shim_delivers_what_crashmail_pipes(smtp_sink, tmp_path: Path, wait) -> None:
    result = subprocess.run(
        [str(BIN / "pnr-sendmail"), "-t", "-i"], input=CRASHMAIL_STYLE, env=env_for(smtp_sink.port, tmp_path),
        capture_output=True, timeout=30,
    )
    assert result.returncode == 0, result.stderr
    wait(smtp_sink.received, 10, "the mail at the SMTP server")
    [message] = smtp_sink.received()
    # Rewritten as the kit's alert: host and program in the subject; outside supervisord, no reason.
    assert message["Subject"].startswith("[pnr.me ") and "] predictor:predictor-0: " in message["Subject"]
    assert "Pid:          4242" in message.get_content() and message["X-PNR-Program"] == "predictor:predictor-0"
    # The code deployed: the checkout's commit, as git itself names it.
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout
    [version] = [line for line in message.get_content().splitlines() if line.startswith("Version:")]
    assert commit[:12] in version, version
    assert message["X-PNR-Host"] and message["Message-ID"] and message["From"].addresses[0].addr_spec == "alerts@pnr.me.invalid"
    assert smtp_sink.envelopes == [["oncall@pnr.test"]]


def test_sendmail_shim_spools_when_smtp_is_down(tmp_path: Path) -> None:
    closed_port = 1  # nothing listens on port 1 of loopback
    result = subprocess.run(
        [str(BIN / "pnr-sendmail"), "-t"], input=CRASHMAIL_STYLE, env=env_for(closed_port, tmp_path),
        capture_output=True, timeout=30,
    )
    assert result.returncode == 0
    assert len(list((tmp_path / "spool").glob("*.eml"))) == 1


def test_spooled_mail_is_delivered_once_when_smtp_returns(smtp_sink, tmp_path: Path) -> None:
    down = settings_for(1, tmp_path)
    for n in range(5):
        message = EmailMessage()
        message["Subject"] = f"alert {n}"
        message.set_content("body")
        assert deliver(down, message) is False
    assert drain_spool(down) == (0, 5)
    up = settings_for(smtp_sink.port, tmp_path)
    assert drain_spool(up) == (5, 0)
    assert drain_spool(up) == (0, 0)
    assert sorted(m["Subject"] for m in smtp_sink.received()) == [f"alert {n}" for n in range(5)]


def test_bad_smtp_security_setting_is_a_clear_error(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(BIN / "pnr-sendmail")], input=CRASHMAIL_STYLE,
        env={**env_for(1, tmp_path), "PNR_SMTP_SECURITY": "tls-please"}, capture_output=True, timeout=30,
    )
    assert result.returncode == 2
    assert b"PNR_SMTP_SECURITY" in result.stderr and b"Traceback" not in result.stderr
