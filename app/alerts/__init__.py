"""One mail pipeline for every alert.

- `mail`: SMTP settings, delivery, the spool the outbox job drains (never two deliveries of one file);
- `flood`: one mail now, digests later, everything counted (state on disk, shared by all senders);
- `process`, `compose`: what supervisord knows about a dead process, and the alert's words;
- `shim`: `pnr-sendmail`, the sendmail crashmail, memmon and httpok pipe to;
- `handler`: the error-mail logging handler of the web app and the jobs.

The alert listener (`pnr-alertlistener`, app/ops/listener.py) uses the same parts. Nothing here imports
Flask at module level: the shim runs once per mail and must start fast.
"""
from __future__ import annotations

from .flood import Alert, flush, post
from .handler import MailHandler, bound, init_app, install
from .mail import MailSettings, deliver, drain_spool, smtp_send, spool
from .shim import sendmail_main

__all__ = [
    "Alert", "MailHandler", "MailSettings", "bound", "deliver", "drain_spool", "flush", "init_app", "install", "post",
    "sendmail_main", "smtp_send", "spool",
]
