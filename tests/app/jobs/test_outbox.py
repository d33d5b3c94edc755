"""The outbox job as supervisord runs it, killed with SIGKILL while it delivers: nothing sent twice."""
from __future__ import annotations

import os
import signal
import subprocess
from email.message import EmailMessage
from pathlib import Path

from alertkit import mail_settings
from support import BIN, SmtpSink, wait_for

from app.alerts.mail import complete, spool, spooled

KILL_DEADLINE_S = 30.0


def outbox_env(var: Path, smtp_port: int) -> dict[str, str]:
    """The outbox's environment: the test's SMTP server and var/."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PNR_")}
    return {**env, "PNR_SECRET_KEY": "a-test-key-of-enough-length", "PNR_VAR_DIR": str(var),
            "PNR_SMTP_PORT": str(smtp_port), "PNR_ALERT_MAIL": "false", "PNR_RATE_LIMIT_STORAGE": "memory",
            "PATH": f"{BIN}:{env['PATH']}"}


def test_a_mail_the_server_accepted_is_not_sent_again_after_the_outbox_is_killed(smtp_sink: SmtpSink,
                                                                                 tmp_path: Path) -> None:
    settings = mail_settings(smtp_sink.port, tmp_path)
    message = EmailMessage()
    message["Subject"] = "spooled while SMTP was down"
    message.set_content("body")
    spool(settings, complete(message, settings))
    command = [str(BIN / "pnr-job"), "outbox", "--once"]
    env = outbox_env(tmp_path, smtp_sink.port)

    # The server has the mail and the outbox waits for the answer to its goodbye: killed there.
    smtp_sink.holding_quit = True
    job = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_for(lambda: smtp_sink.quits_held, KILL_DEADLINE_S, "the outbox saying goodbye after its mail")
    finally:
        os.killpg(job.pid, signal.SIGKILL)
        job.wait()
        smtp_sink.holding_quit = False
    assert len(smtp_sink.received()) == 1

    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=KILL_DEADLINE_S)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "delivered=0 waiting=0" in again.stderr
    assert [m["Subject"] for m in smtp_sink.received()] == ["spooled while SMTP was down"]
    assert spooled(settings) == []
