"""The error-mail handler: request and job context, flood control, and never a wait for SMTP."""
from __future__ import annotations

import datetime as dt
import logging
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pymongo.errors
import pytest
from alertkit import mail_settings
from flask import Flask
from support import free_port, over_quota

from app.alerts import MailHandler, bound, flush, init_app
from app.alerts.mail import MailSettings
from app.services.store import StoreUnavailable, connect
from app.web import errors, logs

log = logging.getLogger(__name__)


def settings_for(port: int, var: Path, timeout_s: float = 5.0) -> MailSettings:
    return mail_settings(port, var, timeout_s=timeout_s)


def failing_app() -> Flask:
    """The web app's own request-id and error handling around a route that always fails.

    Built before a test attaches its handler: the process's one dictConfig closes existing handlers.
    """
    app = Flask(__name__)
    logs.init_app(app)
    errors.init_app(app)

    @app.get("/api/v1/boom")
    def boom() -> str:
        raise ZeroDivisionError("division by zero in the fare table")

    return app


@pytest.fixture
def attach() -> Iterator:  # type: ignore[type-arg]
    """Attach a MailHandler to the root logger for one test, and take it off again."""
    attached: list[MailHandler] = []

    def _attach(handler: MailHandler) -> MailHandler:
        logging.getLogger().addHandler(handler)
        attached.append(handler)
        return handler

    yield _attach
    for handler in attached:
        logging.getLogger().removeHandler(handler)
        handler.close()


def test_a_thousand_identical_errors_make_one_mail_and_one_digest(smtp_sink, tmp_path: Path, attach, wait) -> None:
    settings = settings_for(smtp_sink.port, tmp_path)
    client = failing_app().test_client()
    handler = attach(MailHandler(settings, "web", host="web1", version="v1.2-3-g0123456789ab"))
    first = client.get("/api/v1/boom", headers={"X-Request-ID": "req-0001"}, environ_base={"REMOTE_ADDR": "203.0.113.7"})
    assert first.status_code == 500 and first.headers["X-Request-ID"] == "req-0001"
    assert "reference req-0001" in first.get_json()["error"]["message"]
    for _ in range(999):
        assert client.get("/api/v1/boom").status_code == 500
    handler.close()  # delivers what is queued
    assert flush(settings, now=9e9, host="web1") == 1
    mail, digest = smtp_sink.received()
    assert mail["Subject"] == "[pnr.me web1] web: ERROR unhandled error on GET /api/v1/boom: ZeroDivisionError: division by zero in the fare table"
    body = mail.get_content()
    for line in ("Request:      GET /api/v1/boom", "Client:       203.0.113.7", "Request id:   req-0001",
                 "Version:      v1.2-3-g0123456789ab", "Traceback (most recent call last)"):
        assert line in body
    assert digest["X-PNR-Count"] == "999" and "999  GET /api/v1/boom: ZeroDivisionError" in digest.get_content()


def _subscribe_as_a_lookup_would(store: Any) -> None:
    try:
        store.subscribe("2412345678", "someone@example.in", dt.date(2027, 1, 20))
    except StoreUnavailable as exc:  # as app.services.lookup logs it
        log.error("store unavailable, PNR %s shown without history or tracking: %s", "2412345678", exc)


def test_a_store_over_quota_is_mailed_at_once_while_a_store_down_is_held_for_its_digest(
    mongo_server, smtp_sink, tmp_path: Path, attach, wait
) -> None:
    """The same message with another cause is another alert: the quota must not wait for the digest
    of an outage that ended a minute ago."""
    settings = settings_for(smtp_sink.port, tmp_path)
    handler = attach(MailHandler(settings, "web", host="web1"))
    down = connect(f"mongodb://127.0.0.1:{free_port()}/?directConnection=true", "pnr_test", 200, 30)
    full = connect(mongo_server.uri, "pnr_test", 2000, 30)
    try:
        with over_quota(full.client):
            for store in (down, down, full, full):
                _subscribe_as_a_lookup_would(store)
    finally:
        down.close()
        full.close()
    handler.close()  # delivers what is queued
    mails = smtp_sink.received()
    assert len(mails) == 2, [m["Subject"] for m in mails]
    assert "ServerSelectionTimeoutError" in mails[0]["Subject"]
    assert "quota exceeded" in mails[1]["Subject"] and mails[1]["X-PNR-Count"] == "1"
    assert flush(settings, now=9e9, host="web1") == 2  # each held repeat is counted in its own digest


def test_requests_do_not_wait_for_a_hung_smtp_server(tmp_path: Path, attach) -> None:
    """An SMTP server that accepts connections and never answers: requests go on while delivery hangs."""
    with socket.socket() as hung:
        hung.bind(("127.0.0.1", 0))
        hung.listen(16)
        settings = settings_for(hung.getsockname()[1], tmp_path, timeout_s=60.0)
        client = failing_app().test_client()
        handler = attach(MailHandler(settings, "web", host="web1"))
        for _ in range(200):
            assert client.get("/api/v1/boom").status_code == 500
        # All 200 answered while the first mail is still waiting for the server's greeting.
        assert handler.thread.is_alive() and not handler.queue.empty()
    # The server goes away: the waiting mail is spooled, the rest counted, nothing lost.
    handler.close()
    assert len(list((tmp_path / "spool").glob("*.eml"))) == 1


def test_a_process_leaving_while_smtp_hangs_spools_every_queued_mail(tmp_path: Path, attach) -> None:
    with socket.socket() as hung:
        hung.bind(("127.0.0.1", 0))
        hung.listen(16)
        settings = mail_settings(hung.getsockname()[1], tmp_path, timeout_s=60.0, digest_s=0)  # every error a mail
        handler = attach(MailHandler(settings, "web", host="web1"))
        for n in range(20):
            log.error("job item %d failed", n)
        handler.close()  # returns while the first mail still waits for the server's greeting
        assert handler.thread.is_alive()
        assert len(list((tmp_path / "spool").glob("*.eml"))) == 20


def test_job_errors_name_the_job_and_the_item(smtp_sink, tmp_path: Path, attach) -> None:
    handler = attach(MailHandler(settings_for(smtp_sink.port, tmp_path), "tracker", host="web1"))
    with bound(job="tracker"), bound(item="PNR 2412345678"):
        log.error("tracker: PNR %s skipped: %s", "2412345678", "source unavailable")
    handler.close()
    [mail] = smtp_sink.received()
    assert mail["Subject"] == "[pnr.me web1] tracker: ERROR tracker: PNR 2412345678 skipped: source unavailable"
    assert "Job:          tracker" in mail.get_content() and "Item:         PNR 2412345678" in mail.get_content()


@pytest.mark.parametrize("config", [{"TESTING": True}, {"DEBUG": True}, {"ALERT_MAIL": False}])
def test_no_error_mail_in_tests_debug_or_when_switched_off(tmp_path: Path, config: dict[str, bool]) -> None:
    app = Flask(__name__)
    app.config.update({"ALERT_MAIL": True, "VAR_DIR": str(tmp_path), **config})
    init_app(app, "web")
    assert not any(isinstance(h, MailHandler) for h in logging.getLogger().handlers)
    assert app.config["ALERT_DIGEST_S"] > 0  # the alert settings are there either way


def test_the_rate_limiter_refused_by_a_store_over_quota_is_the_same_alert_as_the_lookups(
    mongo_server, smtp_sink, tmp_path: Path, attach
) -> None:
    """Lookups of known statuses write nothing: a store over quota shows first in the limiter's
    counts, which Flask-Limiter only warns about. It must be mailed, and as the same alert as the
    lookups' own errors of that cause, not a second one."""
    from app.web.counts import SharedCounts

    settings = settings_for(smtp_sink.port, tmp_path)
    handler = attach(MailHandler(settings, "web", host="web1"))
    counts = SharedCounts(f"{SharedCounts.SCHEME_PREFIX}{mongo_server.uri}", database_name="pnr_limits")
    store = connect(mongo_server.uri, "pnr_test", 2000, 30)
    try:
        with over_quota(store.client):
            for _ in range(3):
                with pytest.raises(pymongo.errors.PyMongoError):
                    counts.acquire_entry("pnr/lookup/127.0.0.1", 30, 60)
            _subscribe_as_a_lookup_would(store)
    finally:
        store.close()
        counts.close()
    handler.close()
    mails = smtp_sink.received()
    assert len(mails) == 1, [m["Subject"] for m in mails]
    assert "rate-limit counts" in mails[0]["Subject"] and "quota exceeded" in mails[0]["Subject"]
    assert flush(settings, now=9e9, host="web1") == 1  # the lookup's error: a repeat, in the digest
