"""The lookup budget: RATE_LIMIT_LOOKUP per client address, pages and API together.

Counted in the limiter's storage (app.web.counts) with limits' moving window, like the site's
other limits, but checked here rather than by Flask-Limiter: on every request Flask-Limiter
resolves every limit of the app, parses their text again and looks for exemptions, which cost a
third of a lookup answered from memory (BENCHMARKS.md). Here the limits are parsed once, and a
lookup costs one count per limit and one read for the X-RateLimit headers.

A failing storage is never a 500: it reports its failure itself (app.web.counts), each worker
counts in memory meanwhile, and the storage is tried again after RETRY_S.
"""
from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence

from flask import Flask, current_app, g
from limits import RateLimitItem, parse_many
from limits.errors import StorageError
from limits.storage import MemoryStorage, Storage
from limits.strategies import MovingWindowRateLimiter
from werkzeug.exceptions import TooManyRequests
from werkzeug.wrappers import Response

from .counts import HostCounts

log = logging.getLogger(__name__)

SCOPE = "lookup"
# Seconds between attempts at a storage that failed, meanwhile counting in memory.
RETRY_S = 5.0


class TooManyLookups(TooManyRequests):
    """A client spent its lookup budget; `retry_after` is when the oldest counted lookup leaves the window."""

    def __init__(self, item: RateLimitItem, retry_after: int) -> None:
        super().__init__(f"{item.amount} per {item.multiples} {item.GRANULARITY.name}")
        self.retry_after = retry_after


class LookupBudget:
    """RATE_LIMIT_LOOKUP for one app, counted in `storage` (in memory while it fails)."""

    def __init__(self, text: str, storage: Storage, key_func: Callable[[], str], prefix: str = "pnr",
                 clock: Callable[[], float] = time.monotonic) -> None:
        # The shortest window first: its count is the one a refreshing visitor meets, and its
        # stats are the ones the headers give.
        self.items: Sequence[RateLimitItem] = sorted(parse_many(text), key=lambda i: i.get_expiry())
        self.key_func, self.prefix, self.clock = key_func, prefix, clock
        self.storage = storage
        self.shared = MovingWindowRateLimiter(storage)
        self.local = MovingWindowRateLimiter(MemoryStorage())
        self._retry_at = 0.0
        errors = storage.base_exceptions
        self._errors: tuple[type[BaseException], ...] = (StorageError, *(errors if isinstance(errors, tuple) else (errors,)))

    def spend(self) -> None:
        """Count one lookup of this request's client; raise TooManyLookups when a limit is spent."""
        key = self.key_func()
        strategy = self.shared if self.clock() >= self._retry_at else self.local
        try:
            refused = self._spend(strategy, key)
        except self._errors as exc:
            log.warning("lookup counts in memory for %.0f s, the storage failed: %s", RETRY_S, exc)
            self._retry_at = self.clock() + RETRY_S
            strategy = self.local
            refused = self._spend(strategy, key)
        if refused is not None:
            reset, _ = self._stats(strategy, refused, key)
            raise TooManyLookups(refused, max(1, math.ceil(reset - time.time())))
        g.pnr_lookup_budget = (strategy, self.items[0], key)

    def _spend(self, strategy: MovingWindowRateLimiter, key: str) -> RateLimitItem | None:
        """None when every limit had room (and counted the lookup), else the first that had none."""
        if strategy is self.shared and isinstance(self.storage, HostCounts):
            # Every window in one write, all or none (app.web.counts).
            windows = [(item.key_for(self.prefix, key, SCOPE), item.amount, item.get_expiry()) for item in self.items]
            if self.storage.acquire_entries(windows):
                return None
            return next((item for item in self.items
                         if self.storage.get_moving_window(item.key_for(self.prefix, key, SCOPE), item.amount,
                                                           item.get_expiry())[1] >= item.amount), self.items[0])
        for item in self.items:
            if not strategy.hit(item, self.prefix, key, SCOPE):
                return item
        return None

    def _stats(self, strategy: MovingWindowRateLimiter, item: RateLimitItem, key: str) -> tuple[float, int]:
        try:
            stats = strategy.get_window_stats(item, self.prefix, key, SCOPE)
        except self._errors:
            return time.time() + item.get_expiry(), 0
        return stats.reset_time, stats.remaining

    def headers(self, response: Response) -> Response:
        """X-RateLimit-Limit, -Remaining and -Reset of the shortest window, on every counted lookup."""
        spent = g.pop("pnr_lookup_budget", None)
        if spent is not None:
            strategy, item, key = spent
            reset, remaining = self._stats(strategy, item, key)
            response.headers.extend([("X-RateLimit-Limit", str(item.amount)),
                                     ("X-RateLimit-Remaining", str(remaining)),
                                     ("X-RateLimit-Reset", str(math.ceil(reset)))])
        return response


def init_app(app: Flask, storage: Storage, key_func: Callable[[], str], blueprints: Sequence[str]) -> LookupBudget:
    """Count every request to the named blueprints (full dotted names) against the lookup budget."""
    budget = LookupBudget(app.config["RATE_LIMIT_LOOKUP"], storage, key_func)
    for name in blueprints:
        app.before_request_funcs.setdefault(name, []).append(_spend)
    app.after_request(budget.headers)
    app.extensions["pnr_lookup_budget"] = budget
    return budget


def _spend() -> None:
    current_app.extensions["pnr_lookup_budget"].spend()
