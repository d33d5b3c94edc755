"""A status API the web workers' breaker gave up on: one "down" mail naming it and its cause, none
while it stays down, one "resolved" when a probe succeeds (against a real SMTP server)."""
from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

from alertkit import mail_settings
from slowsource import SlowSource
from support import wait_for

from app.alerts import upstream
from app.services.sources.guard import GuardedSource, read_breaker


def test_an_outage_is_one_mail_and_its_end_another(smtp_sink, tmp_path: Path) -> None:
    settings = mail_settings(smtp_sink.port, tmp_path)
    source = SlowSource(fail=True)
    guard = GuardedSource(source, settings.var_dir, name="the status API http://api.test", cap=4, deadline_s=2,
                          share_s=0, breaker_failures=3, breaker_open_s=0.5)
    assert upstream.check(settings, "web1") == []  # nothing to say before anything failed
    for i in range(5):
        try:
            guard.get_status(f"412345678{i}", dt.datetime.now(dt.UTC))
        except Exception:  # noqa: BLE001, S110 - failing is the point
            pass
    [done] = upstream.check(settings, "web1")
    assert done.startswith("sent")
    assert upstream.check(settings, "web1") == []  # still down: no second mail
    [down] = smtp_sink.received()
    assert str(down["Subject"]).strip() == "[pnr.me web1] the status API http://api.test is down: HTTP 502 Bad Gateway"
    assert "failed 3 calls in a row" in down.get_content() and "nothing restarts" in down.get_content()

    source.fail = False
    wait_for(lambda: time.time() >= read_breaker(settings.var_dir)["open_until"], 5, "the open time to pass")
    guard.get_status("4123456789", dt.datetime.now(dt.UTC))  # the probe succeeds
    [done] = upstream.check(settings, "web1")
    assert "resolved" in done
    assert upstream.check(settings, "web1") == []
    resolved = wait_for(lambda: smtp_sink.received()[1:], 5, "the resolved mail")[0]
    assert str(resolved["Subject"]).strip().startswith("[pnr.me web1] resolved: the status API http://api.test answers again after")
    assert "HTTP 502 Bad Gateway" in resolved.get_content()
