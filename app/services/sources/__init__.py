"""Where PNR statuses come from: a PNR-status API over HTTP, railsim's (the simulator's program) by default."""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, Protocol

from ... import services
from ...config import SettingsError
from ...domain.pnr import PnrStatus


class Source(Protocol):
    """Anything that can answer "status of PNR X at time `now`"."""

    def get_status(self, pnr: str, now: dt.datetime) -> PnrStatus:
        """The status as of `now`; raises InvalidPnr, PnrNotFound or SourceUnavailable."""
        ...


def make_source(config: Mapping[str, Any]) -> Source:
    """The source the settings choose; a bad setting raises config.SettingsError naming it."""
    name = config["SOURCE"]
    if name == "simulator":
        raise SettingsError(
            "PNR_SOURCE: simulator is its own program now (pnr-railsim, supervisord's `railsim`)"
            " and the site reads it over HTTP: set PNR_SOURCE=http and leave PNR_HTTP_BASE_URL empty"
            " (it is derived from PNR_RAILSIM_HOST and PNR_RAILSIM_PORT)"
        )
    if name != "http":
        raise SettingsError(f"PNR_SOURCE: expected http, got {name!r}")
    from .guard import GuardedSource
    from .http import HttpSource
    from .railsim import RailsimSource

    kind = RailsimSource if config["HTTP_RAILSIM"] else HttpSource
    try:
        upstream = kind(
            config["HTTP_BASE_URL"],
            config["HTTP_API_KEY"] or None,
            timeout_s=config["HTTP_TIMEOUT_S"],
            retries=config["HTTP_RETRIES"],
            shape=config["HTTP_SHAPE"],
            path_template=config["HTTP_PATH_TEMPLATE"],
            key_header=config["HTTP_KEY_HEADER"] or None,
            # At most UPSTREAM_CAP calls are in flight on the host, so no worker needs more.
            connections=config["UPSTREAM_CAP"],
        )
    except ValueError as exc:
        raise SettingsError(f"PNR_HTTP_*: {exc}") from None
    try:
        return GuardedSource(upstream, config["VAR_DIR"], name=upstream.host, cap=config["UPSTREAM_CAP"],
                             deadline_s=config["UPSTREAM_DEADLINE_S"], share_s=config["UPSTREAM_SHARE_S"],
                             breaker_failures=config["UPSTREAM_BREAKER_FAILURES"],
                             breaker_open_s=config["UPSTREAM_BREAKER_OPEN_S"])
    except ValueError as exc:
        raise SettingsError(f"PNR_UPSTREAM_*: {exc}") from None


def get_source() -> Source:
    """The process's source, made from its settings on first use (create_app makes it at start)."""
    current = services.current()
    return current.shared("pnr_source", lambda: make_source(current.config))
