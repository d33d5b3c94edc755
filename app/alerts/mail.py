"""Mail transport shared by every sender: SMTP settings, delivery, and the on-disk spool.

Mail that cannot be delivered is never dropped: it waits in the spool directory until the outbox
job (or the alert listener) delivers it. A spooled file is claimed with an exclusive lock before it
is sent and removed while still locked, so two drainers racing over the spool never send it twice.
"""
from __future__ import annotations

import dataclasses
import email.policy
import email.utils
import fcntl
import logging
import os
import smtplib
import socket
import ssl
import sys
import tempfile
from collections.abc import Callable, Mapping
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from plumbing import settings

from .. import config

log = logging.getLogger(__name__)

SPOOL_SUFFIX = ".eml"
TMP_PREFIX = ".tmp-"
# Mail the server refuses for good (5xx) moves here, so it cannot block the spool forever.
REJECTED_DIR = "rejected"

# The settings of config.SETTINGS that mail needs.
MAIL_SETTINGS = (
    "VAR_DIR", "SMTP_HOST", "SMTP_PORT", "SMTP_SECURITY", "SMTP_USER", "SMTP_PASSWORD", "SMTP_TIMEOUT_S",
    "MAIL_FROM", "ALERT_TO",
)
# Alert settings read like config.SETTINGS (PNR_<name>): name -> (default, coercer).
ALERT_SETTINGS: dict[str, tuple[Any, Any]] = {
    # The first alert of a kind is mailed at once; repeats within this window wait for a digest.
    "ALERT_DIGEST_S": (300.0, float),
    # Each further digest window doubles, up to this.
    "ALERT_DIGEST_MAX_S": (3600.0, float),
    # Held repeats go out early, once per window, when the alert has stopped for this long.
    "ALERT_QUIET_S": (60.0, float),
    # A program alerted about and RUNNING this long since, with no alert, gets one "resolved" mail.
    "ALERT_RESOLVED_S": (60.0, float),
    # A late job (app/alerts/lateness.py) is also killed, so that supervisord restarts it.
    "JOB_LATE_RESTART": (False, config.boolean),
    # A dead man's switch outside the host (app/alerts/outside.py): GET this every so often; "" is off.
    "HEARTBEAT_URL": ("", str),
    "HEARTBEAT_EVERY_S": (60.0, float),
}


def alert_settings_from_env(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Every alert setting, from the environment or its default; raises SettingsError naming a bad one."""
    return {**settings.defaults(ALERT_SETTINGS), **settings.from_env(ALERT_SETTINGS, environ, empty_is_default=True)}


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
    digest_s: float = ALERT_SETTINGS["ALERT_DIGEST_S"][0]
    digest_max_s: float = ALERT_SETTINGS["ALERT_DIGEST_MAX_S"][0]
    quiet_s: float = ALERT_SETTINGS["ALERT_QUIET_S"][0]
    resolved_s: float = ALERT_SETTINGS["ALERT_RESOLVED_S"][0]

    @property
    def var_dir(self) -> Path:
        """The kit's var/ directory, which holds the spool."""
        return self.spool_dir.parent

    @property
    def state_dir(self) -> Path:
        """Where flood-control state lives: var/alerts/."""
        return self.var_dir / "alerts"

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
            digest_s=float(cfg.get("ALERT_DIGEST_S", ALERT_SETTINGS["ALERT_DIGEST_S"][0])),
            digest_max_s=float(cfg.get("ALERT_DIGEST_MAX_S", ALERT_SETTINGS["ALERT_DIGEST_MAX_S"][0])),
            quiet_s=float(cfg.get("ALERT_QUIET_S", ALERT_SETTINGS["ALERT_QUIET_S"][0])),
            resolved_s=float(cfg.get("ALERT_RESOLVED_S", ALERT_SETTINGS["ALERT_RESOLVED_S"][0])),
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> MailSettings:
        """For processes outside Flask (the sendmail shim, listeners).

        Only the mail settings are read: a bad unrelated setting (say PNR_MONGO_TIMEOUT_MS) must
        not silence the alerts about the programs it breaks.
        """
        cfg = config.defaults()
        cfg.update(settings.from_env({name: config.SETTINGS[name] for name in MAIL_SETTINGS}, environ))
        cfg.update(alert_settings_from_env(environ))
        return cls.from_config(cfg)


def settings_for_command(prog: str) -> MailSettings | None:
    """Settings for a command-line program, or None after saying on stderr which setting is bad."""
    try:
        return MailSettings.from_env()
    except config.SettingsError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return None


def smtp_send(settings: MailSettings, message: EmailMessage, accepted: Callable[[], None] | None = None) -> None:
    """Hand one message to the SMTP server; raises OSError/SMTPException when it is not accepted.

    `accepted` runs the moment the server has taken the message (its reply to DATA), before the
    goodbye: a sender that forgets the message there can be killed between the server's acceptance
    and that record only for the time of one reply, so a re-send after a crash stays rare. Once the
    message is accepted, a failing goodbye is no failure: re-sending would deliver it twice.
    """
    recipients = [a for _, a in email.utils.getaddresses(message.get_all("To", []) + message.get_all("Cc", []))]
    recipients = recipients or list(settings.recipients)
    if settings.security == "ssl":
        smtp: smtplib.SMTP = smtplib.SMTP_SSL(
            settings.host, settings.port, timeout=settings.timeout_s, context=ssl.create_default_context()
        )
    else:
        smtp = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout_s)
    try:
        if settings.security == "starttls":
            smtp.starttls(context=ssl.create_default_context())
        if settings.user:
            smtp.login(settings.user, settings.password)
        smtp.send_message(message, from_addr=email.utils.parseaddr(settings.sender)[1], to_addrs=recipients)
        if accepted is not None:
            accepted()
    finally:
        _goodbye(smtp)


def _goodbye(smtp: smtplib.SMTP) -> None:
    """QUIT, or just close when the server is gone or answers it badly."""
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()


def complete(message: EmailMessage, settings: MailSettings) -> EmailMessage:
    """Add the headers every mail carries: From, To, Date, Message-ID and the sending host."""
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
    """Write the message atomically into the spool; returns its path."""
    settings.spool_dir.mkdir(parents=True, exist_ok=True)
    data = message.as_bytes(policy=email.policy.SMTP)
    fd, tmp = tempfile.mkstemp(dir=settings.spool_dir, prefix=TMP_PREFIX, suffix=SPOOL_SUFFIX)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    # The Message-ID names the file, so spooling the same mail twice cannot deliver it twice.
    name = "".join(c if c.isalnum() else "_" for c in str(message["Message-ID"]))[:120] + SPOOL_SUFFIX
    final = settings.spool_dir / name
    os.replace(tmp, final)
    return final


def permanent(exc: Exception) -> bool:
    """A refusal that retrying will not cure (5xx), as opposed to an outage."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in exc.recipients.values())
    return isinstance(exc, smtplib.SMTPResponseException) and exc.smtp_code >= 500


def send_spooled(settings: MailSettings, path: Path) -> bool | None:
    """Claim one spooled file, send it and remove it: True when sent, None when someone else has it.

    Raises OSError/SMTPException when the server is unreachable or refuses for now, leaving the file
    for a later attempt; a permanent refusal moves it to spool/rejected/ and returns False.
    """
    try:
        with open(path, "rb") as f:
            return _send_claimed(settings, path, f)
    except FileNotFoundError:  # sent and removed by a racing drainer
        return None


def _send_claimed(settings: MailSettings, path: Path, f: Any) -> bool | None:
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return None
    # Between our open() and the lock, a racing drainer may have sent and removed this file.
    if os.stat(path).st_ino != os.fstat(f.fileno()).st_ino:
        return None
    try:
        # Removed as soon as the server has it, still under the lock: a crash after that cannot send it again.
        smtp_send(settings, parse_piped(f.read()), accepted=lambda: os.unlink(path))
    except (smtplib.SMTPException, OSError) as exc:
        if not isinstance(exc, smtplib.SMTPException) or not permanent(exc):
            raise
        rejected = path.parent / REJECTED_DIR
        rejected.mkdir(exist_ok=True)
        os.replace(path, rejected / path.name)
        log.error("SMTP refused %s for good (%s); moved to %s/", path.name, exc, rejected)
        return False
    return True


def send_or_keep(settings: MailSettings, path: Path) -> bool:
    """Try a freshly spooled mail now; on SMTP failure it stays spooled for the outbox."""
    try:
        return bool(send_spooled(settings, path))
    except (OSError, smtplib.SMTPException) as exc:
        log.warning("SMTP %s:%s failed (%s); %s stays spooled", settings.host, settings.port, exc, path.name)
        return False


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


def spooled(settings: MailSettings) -> list[Path]:
    """The spooled mail, oldest first."""
    if not settings.spool_dir.is_dir():
        return []
    found = []
    for p in settings.spool_dir.iterdir():
        if p.suffix == SPOOL_SUFFIX and not p.name.startswith(TMP_PREFIX):
            try:
                found.append((p.stat().st_mtime, p))
            except FileNotFoundError:  # sent by a racing drainer meanwhile
                continue
    return [p for _, p in sorted(found)]


def drain_spool(settings: MailSettings) -> tuple[int, int]:
    """Deliver spooled mail oldest first; returns (delivered, still waiting). Stops at the first failure."""
    files = spooled(settings)
    delivered = 0
    for index, path in enumerate(files):
        try:
            sent = send_spooled(settings, path)
        except (OSError, smtplib.SMTPException) as exc:
            waiting = len(files) - index
            log.warning("outbox: SMTP still failing (%s); %d waiting", exc, waiting)
            return delivered, waiting
        if sent:
            delivered += 1
    return delivered, 0


def parse_piped(data: bytes) -> EmailMessage:
    """Parse what sendmail-style callers pipe in: headers, a blank line, the body."""
    return BytesParser(_class=EmailMessage, policy=email.policy.default).parsebytes(data)  # type: ignore[return-value]
