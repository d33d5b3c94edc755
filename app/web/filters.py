"""Template filters: Indian time, honest percentages, masked addresses."""
from __future__ import annotations

import datetime as dt

from flask import Flask

from plumbing.zones import IST

from .security import mask_email

# A model's 0.3 % is not "0 %" and its 99.8 % is not a promise: the ends are shown as bounds.
PCT_FLOOR = 0.01
PCT_CEILING = 0.99


def pct(p: float | None) -> str:
    """A probability as a visitor reads it: "41%", "<1%", ">99%"."""
    if p is None:
        return "–"
    if p < PCT_FLOOR:
        return "<1%"
    if p > PCT_CEILING:
        return ">99%"
    return f"{round(p * 100)}%"


def ist(moment: dt.datetime | None, fmt: str = "%a %d %b, %H:%M") -> str:
    """A UTC moment in Indian Standard Time, the clock on every ticket."""
    if moment is None:
        return "–"
    return moment.astimezone(IST).strftime(fmt) + " IST"


def init_app(app: Flask) -> None:
    """Register the filters on the app's Jinja environment."""
    app.jinja_env.filters.update(pct=pct, ist=ist, mask=mask_email)
