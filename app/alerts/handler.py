"""Error mail from the web app and every job: a logging handler that never makes its caller wait.

`emit` only formats the record (message and traceback, in the caller, while the exception is
alive) and queues an `Alert`; a background thread hands it to flood control, which mails it, holds
it for a digest, or spools it while SMTP is down. Flood state is on disk and shared, so the gunicorn
workers together send one mail and one digest for the same exception, not one per worker.
"""
from __future__ import annotations

import contextlib
import contextvars
import logging
import queue
import socket
import threading
from collections.abc import Iterator, MutableMapping
from typing import Any

from plumbing import logs

from ..version import of_checkout
from . import flood
from .flood import Alert, one_line, utc
from .mail import MailSettings, alert_settings_from_env

log = logging.getLogger(__name__)

# How long a closing handler waits for a mail being sent (a hung SMTP server must not hold a
# gunicorn worker past its graceful timeout; that mail is in the spool either way).
CLOSE_TIMEOUT_S = 2.0

_context: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar("pnr_alert_context", default=None)


@contextlib.contextmanager
def bound(**fields: Any) -> Iterator[None]:
    """Name what the code inside is doing (job=..., item=...) so its error mail says so."""
    token = _context.set({**(_context.get() or {}), **{k: str(v) for k, v in fields.items()}})
    try:
        yield
    finally:
        _context.reset(token)


def request_context() -> dict[str, str]:
    """Method, path, client and request id of the request being served, if any."""
    try:
        from flask import g, has_request_context, request
    except ImportError:  # pragma: no cover - flask is a dependency of the app
        return {}
    if not has_request_context():
        return {}
    return {
        "request": f"{request.method} {request.full_path.rstrip('?')}",
        # remote_addr, not X-Forwarded-For: a client can write that header; trusted proxies are
        # unwrapped by the app's ProxyFix before this runs.
        "client": str(request.remote_addr),
        "request id": str(g.get("request_id", "-")),
    }


def failure_cause(record: logging.LogRecord) -> str:
    """The `alert_cause` of the exception logged, or of one passed as an argument of the message,
    with the exception's class ("StoreUnavailable: quota exceeded (error 12501)"); "" if none.

    A dependency failing for one cause is one alert of a program, wherever in it it was noticed (a
    lookup, the rate limiter): the on-call hears of the store over quota once, then a digest. The
    same dependency failing for another cause (down, then over quota) is another alert, not a
    repeat to hold for the digest."""
    exc = record.exc_info[1] if record.exc_info else None
    args = record.args if isinstance(record.args, tuple) else ()
    for candidate in (exc, *args):
        cause = getattr(candidate, "alert_cause", None)
        if isinstance(cause, str):
            return f"{type(candidate).__name__}: {cause}"
    return ""


def _last_frame(tb: Any) -> str:
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}" if tb is not None else ""


class MailHandler(logging.Handler):
    """Mails ERROR records through flood control; delivery happens on a background thread."""

    def __init__(self, settings: MailSettings, program: str, host: str | None = None, version: str | None = None):
        super().__init__(level=logging.ERROR)
        self.settings = settings
        self.program = program
        self.host = host or socket.gethostname()
        # The code this process started from: after a deploy, an old worker's error says so.
        self.version = version or of_checkout()
        self.setFormatter(logging.Formatter(logs.FORMAT))
        self.queue: queue.SimpleQueue[Alert | None] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._deliver_forever, name="pnr-alert-mail", daemon=True)
        self.thread.start()

    def emit(self, record: logging.LogRecord) -> None:
        """Queue the record as an alert; never blocks the request or job that logged it."""
        if threading.current_thread() is self.thread:
            return  # the mail pipeline's own troubles go to stderr only, or they would feed themselves
        try:
            self.queue.put_nowait(self.alert_for(record, self.format(record)))
        except Exception:  # noqa: BLE001 - the logging.Handler contract: report, never raise
            self.handleError(record)

    def alert_for(self, record: logging.LogRecord, text: str) -> Alert:
        """The alert for one record; repeats of the same error share a fingerprint."""
        exc_type, exc, tb = record.exc_info or (None, None, None)
        exc_name = exc_type.__name__ if exc_type else ""
        template = record.msg if isinstance(record.msg, str) else type(record.msg).__name__
        context = {**(_context.get() or {}), **request_context()}
        first_line = (record.getMessage().splitlines() or [""])[0]
        what = f"{record.levelname} {first_line}" + (f": {exc_name}: {exc}" if exc_type else "")
        where = context.get("request") or context.get("item") or context.get("job") or record.name
        lines = [
            f"{self.program} logged {what}",
            "",
            f"Host:         {self.host}",
            f"Program:      {self.program}",
            f"Version:      {self.version}",
            f"Pid:          {record.process}",
            f"Logger:       {record.name}",
            f"Time:         {utc(record.created)}",
            *(f"{k.capitalize() + ':':<13} {v}" for k, v in context.items()),
            "",
            text,
        ]
        cause = failure_cause(record)
        return Alert(
            fingerprint=(f"error|{self.program}|{cause}" if cause else
                         f"error|{self.program}|{record.name}|{template}|{exc_name}|{_last_frame(tb)}"),
            program=self.program,
            kind="error",
            label=one_line(f"{where}: {exc_name or first_line}", 120),
            subject=f"{self.program}: {what}",
            body="\n".join(lines),
            at=record.created,
        )

    def _deliver_forever(self) -> None:
        while True:
            alert = self.queue.get()
            if alert is None:
                return
            try:
                flood.post(self.settings, alert, self.host)
            except Exception:
                # WARNING, not ERROR: this handler must not be asked to mail its own failure.
                log.warning("error mail not sent: %s", alert.subject, exc_info=True)

    def close(self) -> None:
        """Let the thread deliver what is queued; if it is stuck on a hung SMTP server (whose mail is
        in the spool already), put the rest in the spool for the outbox instead of waiting."""
        if self.thread.is_alive():
            self.queue.put(None)
            self.thread.join(CLOSE_TIMEOUT_S)
        while True:
            try:
                alert = self.queue.get_nowait()
            except queue.Empty:
                break
            if alert is not None:
                try:
                    flood.post(self.settings, alert, self.host, send=False)
                except Exception:
                    log.warning("error mail lost on exit: %s", alert.subject, exc_info=True)
        super().close()


def install(config: MutableMapping[str, Any], program: str, version: str | None = None, enabled: bool = True) -> None:
    """Attach the error-mail handler to the root logger once per process, unless `enabled` is
    false or PNR_ALERT_MAIL is off; the alert settings are added to `config` either way."""
    for name, value in alert_settings_from_env().items():
        config.setdefault(name, value)
    if not enabled or not config["ALERT_MAIL"]:
        return
    root = logging.getLogger()
    if any(isinstance(h, MailHandler) for h in root.handlers):
        return
    root.addHandler(MailHandler(MailSettings.from_config(config), program, version=version))


def init_app(app: Any, program: str) -> None:
    """The web app's error mail: off in debug and tests."""
    install(app.config, program, app.extensions.get("pnr_version"), enabled=not (app.debug or app.testing))
