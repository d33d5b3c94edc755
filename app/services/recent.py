"""Complete lookups a process answered in the last LOOKUP_CACHE_S seconds, answered again from memory.

A PNR's status changes a few times a day and its chart once, yet visitors refresh, and around
charting time everyone on a train refreshes at once. Asking the source (in production a metered
status API with a quota), the store and the predictor again for each refresh buys nothing a
visitor could see within half a minute, and costs several milliseconds of CPU in four processes
against a fraction of one to answer from memory (BENCHMARKS.md).

Only a complete lookup is kept: status live from the source, history from the store, every
prediction made. A degraded one (store, predictor or source failing) is never kept, so the next
lookup asks again and a recovery shows at once. A kept lookup carries its status's `as_of`, which
the page and the API show, so its age is never hidden; it is dropped LOOKUP_CACHE_S seconds after
it was made, whatever happens meanwhile. Per process, at most MAX_PNRS (least recently used out
first). LOOKUP_CACHE_S=0 switches it off.
"""
from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .lookup import Lookup

MAX_PNRS = 1024


class RecentLookups:
    """PNR -> its last complete lookup while younger than `seconds`; a bounded LRU, safe across threads."""

    def __init__(self, seconds: float, max_pnrs: int = MAX_PNRS, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds, self.max_pnrs, self.clock = seconds, max_pnrs, clock
        self._entries: collections.OrderedDict[str, tuple[float, Lookup]] = collections.OrderedDict()
        self._lock = threading.Lock()

    def get(self, pnr: str) -> Lookup | None:
        """The lookup kept for `pnr`, if it is younger than `seconds`."""
        with self._lock:
            entry = self._entries.get(pnr)
            if entry is None:
                return None
            if self.clock() - entry[0] >= self.seconds:
                del self._entries[pnr]
                return None
            self._entries.move_to_end(pnr)
            return entry[1]

    def put(self, result: Lookup) -> None:
        """Keep a lookup if it is complete (and caching is on)."""
        if self.seconds <= 0 or not result.complete:
            return
        with self._lock:
            self._entries[result.status.pnr] = (self.clock(), result)
            self._entries.move_to_end(result.status.pnr)
            while len(self._entries) > self.max_pnrs:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
