"""The spool against a real SMTP server: racing drainers deliver each mail once; a refusal for good
is moved aside instead of blocking everything behind it."""
from __future__ import annotations

import multiprocessing
from collections import Counter
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from alertkit import mail_settings
from support import free_port

from app.alerts.mail import (
    MailSettings,
    deliver,
    drain_spool,
    send_or_keep,
    spool,
    spooled,
)


def settings_for(port: int, var: Path) -> MailSettings:
    return mail_settings(port, var)


def alert(n: int) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = f"alert {n}"
    message.set_content(f"body {n}")
    return message


def _drain(port: int, var: str, go: Any, results: Any) -> None:
    go.wait()
    results.put(drain_spool(settings_for(port, Path(var)))[0])


def test_racing_drainers_deliver_every_spooled_mail_exactly_once(smtp_sink, tmp_path: Path) -> None:
    down = settings_for(1, tmp_path)
    for n in range(60):
        assert deliver(down, alert(n)) is False
    up = settings_for(smtp_sink.port, tmp_path)
    ctx = multiprocessing.get_context("spawn")
    go, results = ctx.Barrier(4), ctx.Queue()
    drainers = [ctx.Process(target=_drain, args=(smtp_sink.port, str(tmp_path), go, results)) for _ in range(3)]
    for p in drainers:
        p.start()
    fresh = spool(up, alert(60))
    go.wait()
    # The sender of a fresh mail races the drainers for its own file, as flood control does.
    sent_here = int(send_or_keep(up, fresh)) + drain_spool(up)[0]
    for p in drainers:
        p.join(60)
        assert p.exitcode == 0
    assert sent_here + sum(results.get(timeout=5) for _ in drainers) == 61
    received = Counter(m["Subject"] for m in smtp_sink.received())
    assert received == Counter(f"alert {n}" for n in range(61))
    assert spooled(up) == []


class Refusing:
    """An SMTP server that refuses one recipient for good (550) and accepts the others."""

    def __init__(self) -> None:
        self.accepted: list[str] = []

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address.startswith("nobody@"):
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.accepted.append(envelope.content.decode())
        return "250 OK"


def test_a_mail_refused_for_good_is_moved_aside_and_the_rest_delivered(tmp_path: Path) -> None:
    handler = Refusing()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        down = settings_for(1, tmp_path)
        bad = alert(0)
        bad["To"] = "nobody@pnr.test"
        deliver(down, bad)
        deliver(down, alert(1))
        up = settings_for(controller.port, tmp_path)
        assert drain_spool(up) == (1, 0)
        assert len(handler.accepted) == 1 and "alert 1" in handler.accepted[0]
        assert [p.name for p in (tmp_path / "spool" / "rejected").iterdir()] and spooled(up) == []
    finally:
        controller.stop()


def test_a_bad_setting_unrelated_to_mail_does_not_stop_alerts(tmp_path: Path) -> None:
    settings = MailSettings.from_env({"PNR_MONGO_TIMEOUT_MS": "soon", "PNR_SMTP_PORT": "2525", "PNR_VAR_DIR": str(tmp_path)})
    assert settings.port == 2525 and settings.spool_dir == tmp_path / "spool"
