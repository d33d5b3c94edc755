"""Fixtures for the site's tests: a model fitted once, real predictor daemons, a real store, the app."""
from __future__ import annotations

import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sitekit import FailingApi, PredictorPool, SiteFactory, shared_model, site_config
from support import MongoServer, Railsim, SmtpSink

SHM = "/dev/shm"

@pytest.fixture(scope="session")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small model fitted once per test run on the simulator's charted journeys."""
    return shared_model(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="session")
def shared_predictors(model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PredictorPool]:
    """A pool for the tests that leave it running."""
    pool = PredictorPool(model_path, tmp_path_factory.mktemp("predictors")).start()
    yield pool
    pool.stop()


@pytest.fixture
def predictors(model_path: Path, tmp_path: Path) -> Iterator[PredictorPool]:
    """A pool of this test's own, for tests that kill or freeze it."""
    pool = PredictorPool(model_path, tmp_path).start()
    yield pool
    pool.stop()


@pytest.fixture(scope="session")
def shared_mongo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MongoServer]:
    """One database server per test process; each test gets its own database on it."""
    # On tmpfs where there is one: the server syncs every commit, and the tests need no durability.
    data = Path(tempfile.mkdtemp(dir=SHM)) if os.path.isdir(SHM) else tmp_path_factory.mktemp("shared-db")
    server = MongoServer(data / "db")
    server.start()
    yield server
    server.stop()
    shutil.rmtree(data, ignore_errors=True)


@pytest.fixture
def make_site(tmp_path: Path, shared_mongo: MongoServer, shared_predictors: PredictorPool,
              smtp_sink: SmtpSink, railsim: Railsim) -> Iterator[SiteFactory]:
    """create_app() wired to real servers; `make_site(**settings)` overrides any setting."""
    from app import create_app

    apps: list[Flask] = []
    defaults = site_config(tmp_path / "var", shared_mongo.uri, f"t{uuid.uuid4().hex[:12]}",
                           shared_predictors.endpoints, smtp_sink.port, railsim.port)

    def make(**overrides: Any) -> Flask:
        app = create_app({**defaults, **overrides})
        apps.append(app)
        return app

    yield make
    for app in apps:
        close_clients(app)


def close_clients(app: Flask) -> None:
    """Close the database, limiter, predictor and status-source clients an app made."""
    app.extensions["pnr_services"].close()
    limiter = app.extensions.get("pnr_limiter")
    if limiter is not None and hasattr(limiter.storage, "close"):
        limiter.storage.close()


@pytest.fixture
def site(make_site: SiteFactory) -> Flask:
    """The site with every dependency up."""
    return make_site()


@pytest.fixture
def failing_api() -> Iterator[FailingApi]:
    """A local status API for "source failing" tests."""
    api = FailingApi().start()
    yield api
    api.stop()


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def logged_errors() -> Iterator[Callable[[str], list[str]]]:
    """`logged_errors(words)`: the app's ERROR messages containing `words` (what the error mail sends).

    On the "app" logger rather than caplog's root handler: create_app's one dictConfig replaces root's."""
    handler = _Records()
    logger = logging.getLogger("app")
    logger.addHandler(handler)
    yield lambda words: [m for r in handler.records if words in (m := r.getMessage())]
    logger.removeHandler(handler)
