"""The settings and shared clients of one process, for the code below the web app and the jobs.

A web worker keeps them in its Flask app (one app per test, clients made after gunicorn forks); a
job has no Flask app and binds its own Services for the life of the process (app/jobs/main.py).
The store, the source, the predictor client and the outgoing mail ask `current()` and never import
Flask, so a job's process carries none of the web app. A web worker serves many requests at once on
threads: each client is made once, by `shared`, however many threads ask for it first.
"""
from __future__ import annotations

import contextlib
import contextvars
import threading
from collections.abc import Callable, Iterator, MutableMapping
from typing import Any, TypeVar

from .. import config as settings

T = TypeVar("T")


class Services:
    """One process's settings (`config`) and the clients made from them (`extensions`, by name)."""

    def __init__(self, config: MutableMapping[str, Any], extensions: MutableMapping[str, Any] | None = None):
        self.config = config
        self.extensions: MutableMapping[str, Any] = {} if extensions is None else extensions
        self._making = threading.Lock()

    def shared(self, name: str, make: Callable[[], T]) -> T:
        """The client kept as `name`, made by `make()` on first use, once even when threads ask at once
        (two MongoClients made together would leave one with its monitor threads running)."""
        found = self.extensions.get(name)
        if found is None:
            with self._making:
                found = self.extensions.get(name)
                if found is None:
                    found = self.extensions[name] = make()
        return found  # type: ignore[no-any-return]

    @classmethod
    def from_env(cls) -> Services:
        """Settings as config.load makes them for every process; raises SettingsError."""
        return cls(settings.load())

    def close(self) -> None:
        """Close the clients made in this process: database, predictor, status source."""
        for name in ("pnr_store", "pnr_predictor", "pnr_source"):
            client = self.extensions.get(name)
            if client is not None:
                client.close()


_bound: contextvars.ContextVar[Services | None] = contextvars.ContextVar("pnr_services", default=None)
# The web app's way to name its services (the Flask app of the current context): set by create_app,
# so that this layer never imports the one above it.
_provider: Callable[[], Services | None] | None = None


def current() -> Services:
    """The services of this process: the bound ones (a job), else the web app's."""
    found = _bound.get()
    if found is None and _provider is not None:
        found = _provider()
    if found is None:
        raise RuntimeError("no services: run inside the web app (create_app) or a job (pnr-job)")
    return found


@contextlib.contextmanager
def bound(services: Services) -> Iterator[Services]:
    """Make `services` current for the block (a job's whole run, or a test)."""
    token = _bound.set(services)
    try:
        yield services
    finally:
        _bound.reset(token)


def provide(provider: Callable[[], Services | None]) -> None:
    """Name the web app's services when none are bound (create_app calls it once per process)."""
    global _provider
    _provider = provider
