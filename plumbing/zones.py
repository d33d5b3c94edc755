"""Time zones and the clock, in one place: the railway runs on Indian Standard Time, the kit stores
and compares UTC."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

IST = ZoneInfo("Asia/Kolkata")


def utcnow() -> dt.datetime:
    """The time now, timezone-aware in UTC."""
    return dt.datetime.now(dt.UTC)
