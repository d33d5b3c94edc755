"""The alert listener driven through its streams, as supervisord drives it, mailing a real SMTP server."""
from __future__ import annotations

import io
from pathlib import Path

from alertkit import mail_settings

from app.alerts.mail import MailSettings
from app.ops.listener import Listener, run


def settings_for(port: int, var: Path, digest_s: float = 300.0) -> MailSettings:
    return mail_settings(port, var, digest_s=digest_s)


def event(serial: int, name: str, payload: str) -> str:
    return f"ver:3.0 server:supervisor serial:{serial} pool:alertlistener poolserial:{serial} eventname:{name} len:{len(payload)}\n{payload}"


EXIT_0 = "processname:janitor groupname:janitor from_state:RUNNING expected:1 pid:4242"
EXIT_1 = "processname:janitor groupname:janitor from_state:RUNNING expected:0 pid:4243"
BACKOFF = "processname:trainer groupname:trainer from_state:STARTING tries:{n}"
FATAL = "processname:trainer groupname:trainer from_state:BACKOFF"


def drive(listener: Listener, events: list[str]) -> str:
    stdout = io.StringIO()
    run(listener.handle, io.StringIO("".join(events)), stdout)
    return stdout.getvalue()


def test_each_event_is_acknowledged_and_mailed_once(smtp_sink, tmp_path: Path) -> None:
    listener = Listener(settings_for(smtp_sink.port, tmp_path), rpc=None, host="web1")
    events = [
        event(1, "PROCESS_STATE_EXITED", EXIT_0),
        event(2, "PROCESS_STATE_EXITED", EXIT_1),  # crashmail's to mail
        *(event(2 + n, "PROCESS_STATE_BACKOFF", BACKOFF.format(n=n)) for n in (1, 2, 3, 4)),
        event(7, "PROCESS_STATE_FATAL", FATAL),
        event(8, "TICK_5", "when:1800000000"),
    ]
    out = drive(listener, events)
    assert out == "READY\n" + "RESULT 2\nOKREADY\n" * len(events)
    mails = smtp_sink.received()
    assert [m["X-PNR-Kind"] for m in mails] == ["exit", "startup", "fatal"]
    exit_0, backoff, fatal = mails
    assert exit_0["Subject"].startswith("[pnr.me web1] janitor: ") and "an expected exit code" in exit_0["Subject"]
    assert "Pid:          4242" in exit_0.get_content()
    assert "attempt 1" in backoff["Subject"] and "./scripts/ctl start trainer" in backoff.get_content()
    assert "FATAL" in fatal["Subject"] and fatal["X-PNR-Absorbed"] == "3"
    # Without supervisord the mail still goes, saying what it could not find out.
    assert "Could not find out: supervisord" in fatal.get_content()


def test_ticks_mail_the_digests_that_are_due(smtp_sink, tmp_path: Path, wait) -> None:
    listener = Listener(settings_for(smtp_sink.port, tmp_path, digest_s=0.5), rpc=None, host="web1")
    drive(listener, [event(n, "PROCESS_STATE_EXITED", EXIT_0) for n in range(5)])
    assert len(smtp_sink.received()) == 1
    # Ticks until the half-second window has passed and its digest is out.
    wait(lambda: drive(listener, [event(9, "TICK_5", "when:1")]) and len(smtp_sink.received()) == 2, 10, "the digest")
    _, digest = smtp_sink.received()
    assert digest["X-PNR-Count"] == "4"


def test_a_broken_event_is_logged_and_acknowledged(smtp_sink, tmp_path: Path) -> None:
    listener = Listener(settings_for(smtp_sink.port, tmp_path), rpc=None, host="web1")
    out = drive(listener, [event(1, "PROCESS_STATE_FATAL", "garbage"), event(2, "PROCESS_STATE_EXITED", EXIT_0)])
    assert out.count("RESULT 2\nOK") == 2
    assert len(smtp_sink.received()) == 1
