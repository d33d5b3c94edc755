"""railsim, the railway simulator's program, as the status API: HTTP like any other, and more.

Besides statuses in ConfirmTkt's shape, `pnr-railsim` keeps every PNR's history (the site seeds
a first lookup's chart with it), knows a few PNRs waitlisted now (the home page shows them), and
answers as of the moment asked (`?at=`), so that a lookup or a tracker run of another moment sees
that moment's railway. A real status API does none of this: HttpSource is used for it alone.
"""
from __future__ import annotations

import datetime as dt
import urllib.parse
from typing import Any

from ...domain.pnr import PnrError, PnrStatus, SourceUnavailable, validate_pnr
from . import shapes
from .http import HttpSource

HISTORY_PATH = "/history/{pnr}"
SAMPLE_PATH = "/sample"


def _at(now: dt.datetime) -> str:
    """`now` as railsim's `at` query value (UTC ISO 8601; naive is UTC)."""
    aware = now.replace(tzinfo=dt.UTC) if now.tzinfo is None else now.astimezone(dt.UTC)
    return urllib.parse.urlencode({"at": aware.isoformat()})


class RailsimSource(HttpSource):
    """The status source for a `pnr-railsim` server: statuses as of `now`, histories, sample PNRs."""

    def status_url(self, pnr: str, now: dt.datetime) -> str:
        """The status URL, asking for the status as of `now`."""
        url = super().status_url(pnr, now)
        return f"{url}{'&' if '?' in url else '?'}{_at(now)}"

    def history(self, pnr: str, now: dt.datetime) -> list[PnrStatus]:
        """Every status of `pnr` up to `now`, oldest first; PnrError when railsim cannot say."""
        pnr = validate_pnr(pnr)
        body = self._fetch(f"{self._base_url}{HISTORY_PATH.format(pnr=pnr)}?{_at(now)}", pnr)
        try:
            entries: list[dict[str, Any]] = body["history"]
            return [shapes.to_status(e["reply"], pnr, dt.datetime.fromisoformat(e["as_of"]), self.shape)
                    for e in entries]
        except PnrError:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise SourceUnavailable(f"railsim sent a history this site cannot read: {exc!r}") from None

    def sample_pnrs(self, now: dt.datetime, n: int) -> list[str]:
        """Up to `n` PNRs waitlisted at `now`, chart not prepared (for the home page)."""
        body = self._fetch(f"{self._base_url}{SAMPLE_PATH}?n={int(n)}&{_at(now)}", "sample PNRs")
        try:
            return [validate_pnr(p) for p in body["pnrs"]]
        except (KeyError, TypeError, PnrError) as exc:
            raise SourceUnavailable(f"railsim sent sample PNRs this site cannot read: {exc!r}") from None
