"""`pnr-sendmail [-t] [-i] [addr ...]`: the sendmail that crashmail, memmon and httpok pipe to.

It turns what they pipe in into the same alert the listener would send (host, program, reason,
traceback or log tail, what supervisord did), passes it through flood control, and delivers by SMTP
or spools. It runs once per mail, so it imports nothing heavy and keeps its state on disk.
"""
from __future__ import annotations

import logging
import socket
import sys

from plumbing import logs

from . import flood
from .compose import piped_alert
from .mail import deliver, parse_piped, settings_for_command
from .process import rpc_from_env

log = logging.getLogger(__name__)


def sendmail_main(argv: list[str] | None = None) -> int:
    """Read one mail on stdin and deliver it as an alert; 0 once delivered, spooled or counted."""
    args = [a for a in (sys.argv[1:] if argv is None else argv) if not a.startswith("-")]
    logs.configure()
    settings = settings_for_command("pnr-sendmail")
    if settings is None:
        return 2
    message = parse_piped(sys.stdin.buffer.read())
    if args and not message["To"]:
        message["To"] = ", ".join(args)
    host = socket.gethostname()
    try:
        alert = piped_alert(message, rpc_from_env(), settings.var_dir, host)
        outcome = flood.post(settings, alert, host)
        subject = alert.subject
    except Exception:
        # Whatever went wrong in composing, the original mail still goes out.
        log.exception("could not compose the alert; delivering the mail as piped")
        outcome = "sent" if deliver(settings, message) else "spooled"
        subject = str(message["Subject"])
    log.info("%s: %s", outcome, subject)
    # Spooled or held counts as accepted: the caller must not resend.
    return 0
