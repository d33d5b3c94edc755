"""Flood control against a real SMTP server: one mail now, digests later, every occurrence counted."""
from __future__ import annotations

import multiprocessing
from pathlib import Path

from alertkit import mail_settings

from app.alerts.flood import Alert, flush, post
from app.alerts.mail import MailSettings

T0 = 1_800_000_000.0  # a fixed epoch second: the tests pass times explicitly


def settings_for(port: int, var: Path, digest_s: float = 60.0, digest_max_s: float = 600.0, quiet_s: float = 60.0) -> MailSettings:
    return mail_settings(port, var, digest_s=digest_s, digest_max_s=digest_max_s, quiet_s=quiet_s)


def crash(at: float, program: str = "tracker", reason: str = "exit status 1", **kw: object) -> Alert:
    return Alert(
        fingerprint=f"exit|{program}", program=program, kind="exit", label=f"{program}: {reason}",
        subject=f"{program}: {reason}", body=f"{program} died: {reason}", at=at, **kw,  # type: ignore[arg-type]
    )


def total(mails) -> int:  # type: ignore[no-untyped-def]
    return sum(int(m["X-PNR-Count"]) for m in mails)


def test_first_alert_goes_at_once_and_repeats_become_one_digest(smtp_sink, tmp_path: Path) -> None:
    s = settings_for(smtp_sink.port, tmp_path)
    assert post(s, crash(T0), host="h1") == "sent"
    outcomes = [post(s, crash(T0 + 1 + i, reason="terminated by SIGKILL" if i % 3 == 0 else "exit status 1"), host="h1") for i in range(29)]
    assert set(outcomes) == {"held"}
    assert flush(s, now=T0 + 59, host="h1") == 0  # the window is still open
    assert flush(s, now=T0 + 60, host="h1") == 1
    first, digest = smtp_sink.received()
    assert first["Subject"] == "[pnr.me h1] tracker: exit status 1" and first["X-PNR-Count"] == "1"
    assert digest["X-PNR-Count"] == "29" and "29 more" in digest["Subject"] and "digest" in digest["Subject"]
    body = digest.get_content()
    assert "first 2027-01-15 08:00:01 UTC, last 2027-01-15 08:00:29 UTC; 30 in all" in body
    assert "19  tracker: exit status 1" in body and "10  tracker: terminated by SIGKILL" in body
    assert body.rstrip().endswith("tracker died: exit status 1")  # the most recent one, in full


def test_windows_double_while_it_keeps_happening_and_reset_when_quiet(smtp_sink, tmp_path: Path) -> None:
    s = settings_for(smtp_sink.port, tmp_path, digest_s=10, digest_max_s=25)
    post(s, crash(T0))
    # One occurrence a second for 100 s: windows of 10, 20, 25, 25, ... seconds.
    for i in range(1, 100):
        post(s, crash(T0 + i))
        flush(s, now=T0 + i + 0.5)
    flush(s, now=T0 + 200)
    mails = smtp_sink.received()
    assert total(mails) == 100
    assert [int(m["X-PNR-Count"]) for m in mails] == [1, 10, 20, 25, 25, 19]
    # A whole window without a repeat ends the episode: the next one is mailed at once.
    flush(s, now=T0 + 400)
    assert post(s, crash(T0 + 401)) == "sent"


def test_a_storm_that_stops_is_counted_without_waiting_for_its_window(smtp_sink, tmp_path: Path) -> None:
    s = settings_for(smtp_sink.port, tmp_path, digest_s=600, quiet_s=30)
    post(s, crash(T0))
    for i in range(1, 50):
        post(s, crash(T0 + i))
    assert flush(s, now=T0 + 70) == 0  # quiet for 21 s only
    assert flush(s, now=T0 + 79) == 1  # quiet for 30 s: the 49 repeats go out now, not at T0 + 600
    post(s, crash(T0 + 100))
    post(s, crash(T0 + 101))
    assert flush(s, now=T0 + 200) == 0  # one early digest per window: these wait for its end
    assert flush(s, now=T0 + 600) == 1
    assert [m["X-PNR-Count"] for m in smtp_sink.received()] == ["1", "49", "2"]


def test_a_digest_of_a_long_subject_still_says_it_is_a_digest(smtp_sink, tmp_path: Path) -> None:
    """Error mail subjects carry the whole log message; shortening must not cut the digest marker off."""
    s = settings_for(smtp_sink.port, tmp_path)
    reason = "store unavailable, PNR 2400000002 shown without history or tracking: " + "AutoReconnect: refused " * 10
    post(s, crash(T0, reason=reason), host="h1")
    post(s, crash(T0 + 1, reason=reason), host="h1")
    assert flush(s, now=T0 + 60, host="h1") == 1
    first, digest = smtp_sink.received()
    assert len(first["Subject"]) <= 200 and first["Subject"].startswith("[pnr.me h1] tracker: store unavailable")
    assert len(digest["Subject"]) <= 200 and digest["Subject"].startswith("[pnr.me h1] tracker: store unavailable")
    assert digest["Subject"].endswith(" [1 more since 08:00:01 UTC, digest]")


def test_a_repeat_after_its_window_carries_the_digest_when_no_flusher_ran(smtp_sink, tmp_path: Path) -> None:
    s = settings_for(smtp_sink.port, tmp_path, digest_s=10)
    post(s, crash(T0))
    post(s, crash(T0 + 5))
    assert post(s, crash(T0 + 30)) == "sent"
    assert [m["X-PNR-Count"] for m in smtp_sink.received()] == ["1", "2"]


def test_zero_window_mails_every_alert(smtp_sink, tmp_path: Path) -> None:
    s = settings_for(smtp_sink.port, tmp_path, digest_s=0)
    assert [post(s, crash(T0 + i)) for i in range(3)] == ["sent"] * 3


def test_different_fingerprints_do_not_hold_each_other(smtp_sink, tmp_path: Path) -> None:
    s = settings_for(smtp_sink.port, tmp_path)
    assert post(s, crash(T0, program="tracker")) == "sent"
    assert post(s, crash(T0 + 1, program="janitor")) == "sent"


def test_fatal_reports_the_start_up_failures_it_absorbs(smtp_sink, tmp_path: Path) -> None:
    s = settings_for(smtp_sink.port, tmp_path)
    start_up = [
        Alert(fingerprint="startup|trainer", program="trainer", kind="startup", label=f"trainer: attempt {n}",
              subject="trainer: failed during start-up", body="...", at=T0 + n)
        for n in range(1, 5)
    ]
    assert [post(s, a) for a in start_up] == ["sent", "held", "held", "held"]
    fatal = Alert(fingerprint="fatal|trainer", program="trainer", kind="fatal", label="trainer: FATAL",
                  subject="trainer: FATAL", body="gave up", at=T0 + 5, absorbs=("startup|trainer",))
    assert post(s, fatal) == "sent"
    assert flush(s, now=T0 + 1000) == 0  # nothing left over for a digest after the FATAL
    mails = smtp_sink.received()
    assert [m["X-PNR-Kind"] for m in mails] == ["startup", "fatal"]
    assert mails[1]["X-PNR-Absorbed"] == "3" and "attempt 4" in mails[1].get_content()


def test_smtp_down_spools_and_still_counts(tmp_path: Path) -> None:
    s = settings_for(1, tmp_path)  # nothing listens on port 1
    assert post(s, crash(T0)) == "spooled"
    assert post(s, crash(T0 + 1)) == "held"
    assert flush(s, now=T0 + 60) == 1
    assert len(list((tmp_path / "spool").glob("*.eml"))) == 2


def _post_many(port: int, var: str, start: int, n: int) -> None:
    s = settings_for(port, Path(var))
    for i in range(start, start + n):
        post(s, crash(T0 + i / 1000))


def test_concurrent_senders_share_one_state(smtp_sink, tmp_path: Path) -> None:
    """Four processes (like gunicorn workers and pnr-sendmail runs) post the same alert 100 times each."""
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_post_many, args=(smtp_sink.port, str(tmp_path), k * 100, 100)) for k in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    # The first post may come from any process, at up to T0 + 0.3: its window ends by T0 + 60.3.
    flush(settings_for(smtp_sink.port, tmp_path), now=T0 + 61)
    mails = smtp_sink.received()
    assert len(mails) == 2 and total(mails) == 400
