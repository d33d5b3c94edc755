"""Where PNR statuses come from: the railway simulator (the default) or a real status API over HTTP."""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, Protocol

from .. import services
from ..config import SettingsError
from ..pnr import PnrStatus


class Source(Protocol):
    """Anything that can answer "status of PNR X at time `now`"."""

    def get_status(self, pnr: str, now: dt.datetime) -> PnrStatus:
        """The status as of `now`; raises InvalidPnr, PnrNotFound or SourceUnavailable."""
        ...


def make_source(config: Mapping[str, Any]) -> Source:
    """The source the settings choose; a bad setting raises config.SettingsError naming it."""
    name = config["SOURCE"]
    if name == "simulator":
        from .simulator import SimulatorSource

        return SimulatorSource(seed=config["SIM_SEED"], era=config["SIM_ERA"])
    if name == "http":
        from .http import HttpSource

        try:
            return HttpSource(
                config["HTTP_BASE_URL"],
                config["HTTP_API_KEY"] or None,
                timeout_s=config["HTTP_TIMEOUT_S"],
                retries=config["HTTP_RETRIES"],
                shape=config["HTTP_SHAPE"],
                path_template=config["HTTP_PATH_TEMPLATE"],
                key_header=config["HTTP_KEY_HEADER"] or None,
            )
        except ValueError as exc:
            raise SettingsError(f"PNR_HTTP_*: {exc}") from None
    raise SettingsError(f"PNR_SOURCE: expected simulator or http, got {name!r}")


def get_source() -> Source:
    """The process's source, made from its settings on first use (create_app makes it at start)."""
    ext = services.current().extensions
    source: Source | None = ext.get("pnr_source")
    if source is None:
        source = ext["pnr_source"] = make_source(services.current().config)
    return source
