"""Where PNR statuses come from: the railway simulator (the default) or a real status API over HTTP."""
from __future__ import annotations

import datetime as dt
from typing import Protocol

from ..pnr import PnrStatus


class Source(Protocol):
    """Anything that can answer "status of PNR X at time `now`"."""

    def get_status(self, pnr: str, now: dt.datetime) -> PnrStatus:
        """The status as of `now`; raises InvalidPnr, PnrNotFound or SourceUnavailable."""
        ...
