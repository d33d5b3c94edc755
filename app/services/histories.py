"""Stored PNR histories a process has read, reused while the store says they have not changed.

Every lookup shows the PNR's stored history. Reading and parsing it (tens of snapshots) costs more
than the rest of a lookup, yet it changes only when a new status is stored, and each new status
gives the PNR a new `history_version` in the store (app.services.store). So a lookup still asks the store,
every time, for that one small field, and reuses the history it parsed before when the version is
the same and the status it just got from the source is already in that history. A store outage,
or a snapshot stored by another worker or by the tracker, therefore shows on the very next lookup:
what is kept is only the parsed copy of what the store holds. The status itself always comes live
from the source and is never kept here.

Bounded per process: at most MAX_PNRS histories (the least recently used go first), none older than
MAX_AGE_S.
"""
from __future__ import annotations

import collections
import dataclasses
import threading
import time
from collections.abc import Callable, Sequence

from ..domain.pnr import PnrStatus

# A PNR's history is typically 10-60 snapshots of a few hundred bytes parsed: a few MB at most.
MAX_PNRS = 256
MAX_AGE_S = 300.0


@dataclasses.dataclass(frozen=True)
class _Entry:
    version: str
    digests: frozenset[str]
    history: tuple[PnrStatus, ...]
    read_at: float


class HistoryCache:
    """PNR -> the history read at a given version; a bounded LRU, safe across threads."""

    def __init__(self, max_pnrs: int = MAX_PNRS, max_age_s: float = MAX_AGE_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_pnrs, self.max_age_s, self.clock = max_pnrs, max_age_s, clock
        self._entries: collections.OrderedDict[str, _Entry] = collections.OrderedDict()
        self._lock = threading.Lock()

    def get(self, pnr: str, version: str | None, digest: str) -> list[PnrStatus] | None:
        """The history read before, if the store's version is still the one it was read at, it holds
        the status whose digest is `digest`, and it is younger than max_age_s; else None."""
        if version is None:
            return None
        with self._lock:
            entry = self._entries.get(pnr)
            if entry is None:
                return None
            if entry.version != version or self.clock() - entry.read_at > self.max_age_s:
                del self._entries[pnr]
                return None
            if digest not in entry.digests:
                return None
            self._entries.move_to_end(pnr)
            return list(entry.history)

    def put(self, pnr: str, version: str | None, entries: Sequence[tuple[str, PnrStatus]]) -> None:
        """Keep a history read after reading `version` (never before: a version read later could be
        newer than what was read)."""
        if version is None:
            return
        entry = _Entry(version, frozenset(d for d, _ in entries), tuple(s for _, s in entries), self.clock())
        with self._lock:
            self._entries[pnr] = entry
            self._entries.move_to_end(pnr)
            while len(self._entries) > self.max_pnrs:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
