"""One mail pipeline for every alert: the `pnr-sendmail` shim crashmail pipes to, the error-mail
logging handler of the web app and the jobs, and the spool the `outbox` job drains.

Mail that cannot be delivered is never dropped: it is written to the spool directory and
delivered later, so an SMTP outage delays alerts instead of losing them.
"""
from __future__ import annotations

import dataclasses
import email.policy
import email.utils
import logging
import logging.handlers
import os
import queue
import smtplib
import socket
import ssl
import sys
import tempfile
from collections.abc import Mapping
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from . import config

log = logging.getLogger(__name__)

SPOOL_SUFFIX = ".eml"


@dataclasses.dataclass(frozen=True)
class MailSettings:
    """SMTP and addressing, shared by every sender of alerts."""

    host: str
    port: int
    security: str  # none | starttls | ssl
    user: str
    password: str
    timeout_s: float
    sender: str
    recipients: tuple[str, ...]
    spool_dir: Path

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> MailSettings:
        """Build from app-style settings (create_app's config, or config.defaults() plus the env)."""
        security = cfg["SMTP_SECURITY"].lower()
        if security not in {"none", "starttls", "ssl"}:
            raise config.SettingsError(f"PNR_SMTP_SECURITY: expected none, starttls or ssl, got {security!r}")
        return cls(
            host=cfg["SMTP_HOST"],
            port=cfg["SMTP_PORT"],
            security=security,
            user=cfg["SMTP_USER"],
            password=cfg["SMTP_PASSWORD"],
            timeout_s=cfg["SMTP_TIMEOUT_S"],
            sender=cfg["MAIL_FROM"],
            recipients=tuple(a.strip() for a in cfg["ALERT_TO"].split(",") if a.strip()),
            spool_dir=Path(cfg["VAR_DIR"]) / "spool",
        )

    @classmethod
    def from_env(cls) -> MailSettings:
        """For processes outside Flask (the sendmail shim, listeners)."""
        cfg = config.defaults()
        cfg.update(config.from_env())
        return cls.from_config(cfg)


def smtp_send(settings: MailSettings, message: EmailMessage) -> None:
    """Hand one message to the SMTP server; raises OSError/SMTPException on failure."""
    recipients = [a for _, a in email.utils.getaddresses(message.get_all("To", []) + message.get_all("Cc", []))]
    recipients = recipients or list(settings.recipients)
    if settings.security == "ssl":
        smtp: smtplib.SMTP = smtplib.SMTP_SSL(
            settings.host, settings.port, timeout=settings.timeout_s, context=ssl.create_default_context()
        )
    else:
        smtp = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout_s)
    with smtp:
        if settings.security == "starttls":
            smtp.starttls(context=ssl.create_default_context())
        if settings.user:
            smtp.login(settings.user, settings.password)
        smtp.send_message(message, from_addr=email.utils.parseaddr(settings.sender)[1], to_addrs=recipients)


def complete(message: EmailMessage, settings: MailSettings) -> EmailMessage:
    """Add the headers every alert carries: From, To, Date, Message-ID and the sending host."""
    if not message["From"]:
        message["From"] = settings.sender
    if not message["To"]:
        message["To"] = ", ".join(settings.recipients)
    if not message["Date"]:
        message["Date"] = email.utils.formatdate(localtime=False)
    if not message["Message-ID"]:
        message["Message-ID"] = email.utils.make_msgid(domain=socket.getfqdn() or "localhost")
    if not message["X-PNR-Host"]:
        message["X-PNR-Host"] = socket.gethostname()
    return message


def spool(settings: MailSettings, message: EmailMessage) -> Path:
    """Write the message atomically into the spool for the outbox job; returns its path."""
    settings.spool_dir.mkdir(parents=True, exist_ok=True)
    data = message.as_bytes(policy=email.policy.SMTP)
    fd, tmp = tempfile.mkstemp(dir=settings.spool_dir, prefix=".tmp-", suffix=SPOOL_SUFFIX)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    # The Message-ID names the file, so spooling the same mail twice cannot deliver it twice.
    name = "".join(c if c.isalnum() else "_" for c in str(message["Message-ID"]))[:120] + SPOOL_SUFFIX
    final = settings.spool_dir / name
    os.replace(tmp, final)
    return final


def deliver(settings: MailSettings, message: EmailMessage) -> bool:
    """Send now, or spool on failure; True when it reached the SMTP server."""
    complete(message, settings)
    try:
        smtp_send(settings, message)
        return True
    except (OSError, smtplib.SMTPException) as exc:
        path = spool(settings, message)
        log.warning("SMTP %s:%s failed (%s); spooled %s", settings.host, settings.port, exc, path.name)
        return False


def drain_spool(settings: MailSettings) -> tuple[int, int]:
    """Deliver spooled mail oldest first; returns (delivered, still waiting). Stops at the first failure."""
    if not settings.spool_dir.is_dir():
        return 0, 0
    files = sorted(
        (p for p in settings.spool_dir.iterdir() if p.suffix == SPOOL_SUFFIX and not p.name.startswith(".tmp-")),
        key=lambda p: p.stat().st_mtime,
    )
    delivered = 0
    for index, path in enumerate(files):
        try:
            message = parse_piped(path.read_bytes())
        except OSError:
            log.exception("cannot read spooled mail %s; left in place", path.name)
            continue
        try:
            smtp_send(settings, message)  # type: ignore[arg-type]
        except (OSError, smtplib.SMTPException) as exc:
            log.warning("outbox: SMTP still failing (%s); %d waiting", exc, len(files) - index)
            return delivered, len(files) - index
        path.unlink()
        delivered += 1
    return delivered, 0


def parse_piped(data: bytes) -> EmailMessage:
    """Parse what sendmail-style callers pipe in: headers, a blank line, the body."""
    return BytesParser(_class=EmailMessage, policy=email.policy.default).parsebytes(data)  # type: ignore[return-value]


def sendmail_main(argv: list[str] | None = None) -> int:
    """`pnr-sendmail [-t] [-i] [addr ...]`: the sendmail that crashmail pipes to, delivering by SMTP."""
    args = [a for a in (sys.argv[1:] if argv is None else argv) if not a.startswith("-")]
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="pnr-sendmail: %(message)s")
    try:
        settings = MailSettings.from_env()
    except config.SettingsError as exc:
        print(f"pnr-sendmail: {exc}", file=sys.stderr)
        return 2
    message = parse_piped(sys.stdin.buffer.read())
    if args and not message["To"]:
        message["To"] = ", ".join(args)
    ok = deliver(settings, message)
    log.info("%s: %s", "sent" if ok else "spooled", message["Subject"])
    # Spooled counts as accepted: the outbox job delivers it, so the caller must not resend.
    return 0


class MailHandler(logging.Handler):
    """Mails ERROR records; formatting happens in the caller, delivery on a background thread."""

    def __init__(self, settings: MailSettings, program: str):
        super().__init__(level=logging.ERROR)
        self.settings = settings
        self.program = program
        self.queue: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
        self.listener = logging.handlers.QueueListener(self.queue, _Sender(self))
        self.listener.start()

    def emit(self, record: logging.LogRecord) -> None:
        """Queue the record; never blocks the request that logged it."""
        try:
            record.msg = self.format(record)
            record.args = None
            record.exc_info = None
            record.exc_text = None
            self.queue.put_nowait(record)
        except Exception:
            self.handleError(record)

    def close(self) -> None:
        """Flush queued mail before the process ends."""
        self.listener.stop()
        super().close()


class _Sender(logging.Handler):
    def __init__(self, owner: MailHandler):
        super().__init__()
        self.owner = owner

    def emit(self, record: logging.LogRecord) -> None:
        host = socket.gethostname()
        message = EmailMessage()
        first_line = str(record.msg).splitlines()[0][:120] if record.msg else record.levelname
        message["Subject"] = f"[pnr.me {host}] {self.owner.program}: {record.levelname} {first_line}"
        message["X-PNR-Program"] = self.owner.program
        message.set_content(f"host: {host}\nprogram: {self.owner.program}\nlogger: {record.name}\n\n{record.msg}\n")
        deliver(self.owner.settings, message)


def init_app(app: Any, program: str) -> None:
    """Attach the error-mail handler to the root logger, except in debug and tests."""
    if app.debug or app.testing or not app.config["ALERT_MAIL"]:
        return
    root = logging.getLogger()
    if any(isinstance(h, MailHandler) for h in root.handlers):
        return
    handler = MailHandler(MailSettings.from_config(app.config), program)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
