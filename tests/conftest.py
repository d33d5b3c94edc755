"""Fixtures shared by every test: a real database server and a real SMTP server, each test its own;
one real railsim (the simulator's program) per test process."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from support import MongoServer, Railsim, SmtpSink, wait_for


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked `long` first: xdist hands tests out in collection order, and a two-minute test
    handed out last finishes the run alone on one worker while the others idle."""
    items.sort(key=lambda item: item.get_closest_marker("long") is None)


@pytest.fixture
def wait() -> Callable[..., Any]:
    """`wait(condition, deadline_s, what)` for tests."""
    return wait_for


@pytest.fixture
def mongo_server(tmp_path: Path) -> Iterator[MongoServer]:
    """A fresh database server for one test (test commands such as configureFailPoint enabled)."""
    server = MongoServer(tmp_path / "db")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    """A running SMTP server for one test; stop() it to simulate an outage."""
    sink = SmtpSink().start()
    yield sink
    sink.stop()


@pytest.fixture(scope="session")
def railsim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Railsim]:
    """One `pnr-railsim` (seed 2013, era 2015) per test process, which tests only read."""
    server = Railsim(tmp_path_factory.mktemp("railsim") / "railsim.log").start()
    yield server
    server.stop()
