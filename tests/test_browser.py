"""The real site in headless Chromium: look a PNR up, read the chances and the history chart, track it
by mail (double opt-in), read the status-change mail the tracker job sends, unsubscribe.

Runs the web program as supervisord does (gunicorn, two workers) against a real store, real predictor
daemons and a real SMTP server; saves the PNR page at desktop and phone widths to a temporary folder,
or to $PNR_SCREENSHOT_DIR (`./scripts/screenshots` makes the README's pictures in docs/ this way).
"""
from __future__ import annotations

import datetime as dt
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sitekit import (
    Gunicorn,
    PredictorPool,
    RailwayReader,
    links,
    mails_to,
    shared_model,
    site_config,
    utcnow,
)
from support import BIN, REPO, MongoServer, Railsim, SmtpSink, wait_for

pytestmark = pytest.mark.integration

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 360, "height": 780}
ADDRESS = "asha.verma@example.in"
MAIL_DEADLINE_S = 15.0


def pick_pnr(source: object, now: dt.datetime) -> tuple[str, dt.datetime]:
    """A waitlisted PNR with some history and a change still to come; and a moment just after that change."""
    best = None
    for pnr in source.sample_pnrs(now, 12):  # type: ignore[attr-defined]
        chart = source.get_status(pnr, now).chart_time  # type: ignore[attr-defined]
        past = source.history(pnr, now)  # type: ignore[attr-defined]
        coming = [s.as_of for s in source.history(pnr, chart) if s.as_of > now and not s.chart_prepared]  # type: ignore[attr-defined]
        if coming and len(past) >= 3:
            score = (len(past[-1].passengers) > 1, len(past))
            if best is None or score > best[0]:
                best = (score, pnr, coming[0] + dt.timedelta(minutes=1))
    assert best is not None, "no waitlisted PNR with a history and a coming change"
    return best[1], best[2]


@pytest.fixture
def web(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, mongo_server: MongoServer,
        smtp_sink: SmtpSink, railsim: Railsim) -> Iterator[Gunicorn]:
    pool = PredictorPool(shared_model(tmp_path_factory.getbasetemp()), tmp_path).start()
    server = Gunicorn(site_config(tmp_path / "var", mongo_server.uri, "pnr", pool.endpoints, smtp_sink.port,
                                  railsim.port),
                      tmp_path / "gunicorn.log")
    try:
        yield server.start()
    finally:
        server.stop()
        pool.stop()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    """Where the screenshots go: a test run leaves the work tree as it found it."""
    folder = Path(os.environ.get("PNR_SCREENSHOT_DIR") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def save(page: object, folder: Path, name: str) -> None:
    """A full-page screenshot, written whole (a reader never sees half a file)."""
    tmp = folder / f".{name}.tmp.png"
    page.screenshot(path=str(tmp), full_page=True)  # type: ignore[attr-defined]
    tmp.replace(folder / name)


def test_a_visitor_looks_up_tracks_and_hears_of_a_change(web: Gunicorn, smtp_sink: SmtpSink, shots: Path) -> None:
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: scripts/test installs it (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    now = utcnow()
    pnr, after_change = pick_pnr(RailwayReader(seed=int(web.env["PNR_SIM_SEED"]), era=web.env["PNR_SIM_ERA"]), now)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport=DESKTOP, java_script_enabled=False)
            page = context.new_page()
            problems: list[str] = []
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None)

            page.goto(web.url + "/")
            page.fill("#pnr", f"{pnr[:3]} {pnr[3:]}")
            page.click("form.lookup button")
            page.wait_for_url(f"**/pnr/{pnr}")
            assert page.inner_text("h1") == f"PNR {pnr}"
            passengers = page.locator("section.passenger")
            assert passengers.count() >= 1
            chances = page.locator("section.passenger .chance .pct").all_inner_texts()
            assert chances and all(c.endswith("%") for c in chances)
            assert page.locator("section.passenger .chance .band").first.inner_text().lower() in {"likely", "uncertain", "unlikely"}
            assert page.locator("svg.history circle.dot").count() >= 3
            assert page.locator("svg.history text.event-label", has_text="chart due").count() == 1
            save(page, shots, "pnr-desktop.png")

            phone = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, java_script_enabled=False)
            small = phone.new_page()
            small.goto(f"{web.url}/pnr/{pnr}")
            assert small.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # no sideways scrolling
            save(small, shots, "pnr-phone.png")
            phone.close()

            page.fill("#email", ADDRESS)
            page.click("form.track button")
            sent = page.inner_text("main")
            assert "a***@example.in" in sent and ADDRESS not in page.content()
            mail = wait_for(lambda: mails_to(smtp_sink, ADDRESS), MAIL_DEADLINE_S, "the confirmation mail")[0]
            page.goto(next(u for u in links(mail) if "/track/confirm/" in u))
            page.click("form.confirm button")
            assert "Done:" in page.inner_text("main")

            # The tracker job, as supervisord runs it, polling as of just after the PNR's next change.
            job = subprocess.run(
                [str(BIN / "pnr-job"), "tracker", "--once", "--now", after_change.isoformat()],
                cwd=REPO, env=web.env, capture_output=True, text=True, timeout=120, check=False,
            )
            assert job.returncode == 0, job.stderr[-3000:]
            change = wait_for(lambda: mails_to(smtp_sink, ADDRESS)[1:], MAIL_DEADLINE_S, "the status-change mail")[0]
            body = change.get_content()
            assert str(change["Subject"]).startswith(f"PNR {pnr}: ") and " -> " in body

            page.goto(next(u for u in links(change) if "/track/unsubscribe/" in u))
            page.click("form.confirm button")
            assert "No more mails" in page.inner_text("main")
            assert problems == []
        finally:
            browser.close()
    assert (shots / "pnr-desktop.png").stat().st_size > 10_000 and (shots / "pnr-phone.png").stat().st_size > 10_000
