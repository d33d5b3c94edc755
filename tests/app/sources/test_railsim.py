"""The site's source for railsim: chosen by the settings, and reading a real pnr-railsim over HTTP."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from support import Railsim

from app import config
from app.domain.pnr import PnrNotFound, SourceUnavailable, StatusCode
from app.services.sources import make_source
from app.services.sources.guard import GuardedSource
from app.services.sources.http import HttpSource
from app.services.sources.railsim import RailsimSource
from railsim.railway import Railway


def settings(**overrides: object) -> dict[str, object]:
    found = {**config.defaults(), **overrides}
    config.derive(found)
    return found


def test_by_default_statuses_come_from_railsim_over_http() -> None:
    found = settings(RAILSIM_PORT=8123)
    assert found["HTTP_BASE_URL"] == "http://127.0.0.1:8123" and found["HTTP_RAILSIM"] is True
    made = make_source(found)
    # Behind the host's upstream budget (guard.py), like any status API.
    assert isinstance(made, GuardedSource) and isinstance(made.source, RailsimSource)
    real = make_source(settings(HTTP_BASE_URL="https://api.example.test", HTTP_API_KEY="secret"))
    assert isinstance(real, GuardedSource) and type(real.source) is HttpSource
    assert real.name == "the status API https://api.example.test"


def test_the_retired_in_process_simulator_is_refused_saying_what_to_do() -> None:
    with pytest.raises(config.SettingsError, match="pnr-railsim.*PNR_SOURCE=http"):
        make_source(settings(SOURCE="simulator"))


def test_statuses_histories_and_samples_of_any_moment_come_from_the_server(railsim: Railsim) -> None:
    source = make_source(settings(RAILSIM_PORT=railsim.port))
    now = dt.datetime.now(dt.UTC)
    pnr = source.sample_pnrs(now, 1)[0]  # type: ignore[attr-defined]
    assert pnr in Railway(2013).sample_pnrs(now, 5)
    status = source.get_status(pnr, now)
    assert not status.chart_prepared and any(p.current_status.code is StatusCode.WL for p in status.passengers)
    assert status.chart_time is not None and status.hours_to_chart
    later = source.get_status(pnr, status.chart_time + dt.timedelta(hours=1))
    assert later.chart_prepared
    history = source.history(pnr, now)  # type: ignore[attr-defined]
    assert history and history[0].as_of < now and history[-1].passengers[0].current_status == status.passengers[0].current_status


def test_an_unknown_pnr_and_a_stopped_server_are_the_sites_errors(tmp_path: Path) -> None:
    server = Railsim(tmp_path / "railsim.log").start()
    source = make_source(settings(RAILSIM_PORT=server.port, HTTP_RETRIES=0))
    at = dt.datetime(2026, 11, 29, 8, 0, tzinfo=dt.UTC)
    railway = Railway(2013)
    unknown = next(p for p in (str(2400000000 + i * 7919) for i in range(2000)) if railway.reply(p, at)["ErrorCode"])
    with pytest.raises(PnrNotFound):
        source.get_status(unknown, at)
    server.stop()
    with pytest.raises(SourceUnavailable):
        source.get_status(unknown, at)
