"""The railway: a seeded, deterministic simulator of bookings, cancellations and charts (DOMAIN.md §3).

Every (train, journey date, class) inventory is simulated once over its whole booking horizon and
kept in a small LRU; "status of PNR X at `now`" is then a lookup in its event log. Time is always
passed in, never read from the clock, so the same seed gives the same answers in every process:
the `pnr-railsim` server, and the jobs, benchmarks and tests that use this library directly.
"""
from __future__ import annotations

import collections
import datetime as dt
import functools
import logging
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from plumbing.kept import Kept

from . import pnrmap, render
from .config import SimConfig
from .inventory import Inventory, simulate_inventory
from .outcomes import OBSERVATION_HOURS, outcome_rows
from .pnrs import InvalidPnr, PnrNotFound, validate_pnr
from .render import Answer
from .seeding import stable_int
from .trains import (
    IST,
    PRS_DIGITS,
    ClassPlan,
    Train,
    class_plans,
    load_trains,
    trains_of_prs,
)

log = logging.getLogger(__name__)

# charted_journeys: train-date i is train i mod N on day (i * stride) mod 365 after the start,
# which spreads any number of train-dates over the seasons and the week.
JOURNEYS_START = dt.date(2019, 1, 1)
JOURNEY_DAY_STRIDE = 37
YEAR_DAYS = 365
SAMPLE_TRIES_PER_PNR = 60
RESOLVED_PNRS = 8192  # PNRs whose booking is kept (_resolve), a few hundred bytes each
_UNKNOWN: Any = object()  # a PNR not yet resolved (None is one resolved to no booking)


def _aware(now: dt.datetime) -> dt.datetime:
    """`now` as an aware UTC datetime (naive values are taken as UTC)."""
    return now.replace(tzinfo=dt.UTC) if now.tzinfo is None else now.astimezone(dt.UTC)


class Railway:
    """Statuses, histories and past journeys of one seeded railway; cheap to construct, caches inventories as it goes."""

    def __init__(self, seed: int = 2013, era: str = "2015", trains_file: Path | str | None = None, **overrides: Any) -> None:
        self.config = SimConfig.for_era(era, seed, **overrides)
        self._overrides = overrides
        self._trains_file = trains_file
        self._plans: dict[str, dict[str, ClassPlan]] = {}
        self._cache: collections.OrderedDict[tuple[str, str, dt.date], Inventory] = collections.OrderedDict()
        self._lock = threading.Lock()
        self._resolved: Kept[tuple[str, dt.date, int], tuple[bool, Train, str, dt.date, int] | None] = Kept(RESOLVED_PNRS)

    @property
    def trains(self) -> tuple[Train, ...]:
        """The train list (read on first use)."""
        return load_trains(self._trains_file)

    def plans(self, train: Train) -> dict[str, ClassPlan]:
        """The berth plan of each class of a train under this era."""
        plans = self._plans.get(train.number)
        if plans is None:
            plans = self._plans.setdefault(train.number, class_plans(train, self.config))
        return plans

    def inventory(self, train: Train, journey_class: str, journey_date: dt.date) -> Inventory:
        """The simulated inventory of one class of a train-date, from the LRU or simulated now."""
        key = (train.number, journey_class, journey_date)
        with self._lock:
            inv = self._cache.get(key)
            if inv is not None:
                self._cache.move_to_end(key)
                return inv
        started = time.perf_counter()
        inv = simulate_inventory(self.config, train, self.plans(train)[journey_class], journey_date)
        log.debug("simulated %s %s %s: %d PNRs in %.1f ms", train.number, journey_class, journey_date,
                  inv.n_bookings, (time.perf_counter() - started) * 1000)
        with self._lock:
            self._cache[key] = inv
            while len(self._cache) > self.config.cache_size:
                self._cache.popitem(last=False)
        return inv

    def booking_pnrs(self, inv: Inventory, bookings: np.ndarray) -> list[str]:
        """The own PNRs of some bookings of an inventory (decodable by any process with this seed)."""
        train = inv.train
        train_slot = trains_of_prs(self.trains, train.zone_digit).index(train)
        class_slot = list(self.plans(train)).index(inv.plan.journey_class)
        bookings = np.asarray(bookings, dtype=np.int64)
        small = bookings < pnrmap.MAX_BOOKINGS
        out = dict(zip(bookings[small].tolist(), pnrmap.booking_pnrs(
            self.config.seed, train, train_slot, class_slot, inv.journey_date, bookings[small])))
        for b in bookings[~small].tolist():  # beyond the code space: a plain seeded number, not decodable
            digits = stable_int(self.config.seed, "pnr", train.number, inv.journey_date, class_slot, b) % 10**9
            out[b] = f"{PRS_DIGITS[train.zone_digit][0]}{digits:09d}"
        return [out[b] for b in bookings.tolist()]

    def _resolve(self, pnr: str, now: dt.datetime) -> tuple[Inventory, int]:
        """The inventory and booking a PNR stands for at `now`; raises PnrNotFound.

        Which booking a PNR is depends only on the day (its own PNRs) or the lookup window (the
        others), so it is kept per (PNR, day, window) and only the inventory is fetched each time:
        a status API is asked the same PNRs over and over, and finding a foreign PNR's booking
        is most of an answer's cost."""
        window, start = pnrmap.window_start(self.config, now)
        key = (pnr, now.astimezone(IST).date(), window)
        found = self._resolved.get(key, _UNKNOWN)
        if found is _UNKNOWN:
            found = self._find(pnr, now, window, start)
            self._resolved.put(key, found)
        if found is None:
            raise pnrmap.not_found(pnr)
        own, train, journey_class, journey_date, booking = found
        inv = self.inventory(train, journey_class, journey_date)
        if own and inv.booking_h[booking] < inv.tau(now):
            raise pnrmap.not_found(pnr)  # issued later than `now`
        return inv, booking

    def _find(self, pnr: str, now: dt.datetime, window: int,
              start: dt.datetime) -> tuple[bool, Train, str, dt.date, int] | None:
        """(own PNR?, train, class, journey date, booking) of a PNR on `now`'s day and window; None if none."""
        decoded = pnrmap.decode(self.config.seed, pnr, self.trains, now.astimezone(IST).date())
        if decoded is not None:
            train, class_slot, journey_date, booking = decoded
            classes = list(self.plans(train))
            if class_slot < len(classes):
                inv = self.inventory(train, classes[class_slot], journey_date)
                if booking < inv.n_bookings:
                    return True, train, classes[class_slot], journey_date, booking
        draw = pnrmap.SyntheticDraw(self.config, pnr, window)
        if draw.flushed:
            return None
        group = trains_of_prs(self.trains, int(pnr[0])) or self.trains
        weights = {t.number: {c: p.capacity for c, p in self.plans(t).items()} for t in group}
        fallback = None
        for _ in range(pnrmap.SYNTHETIC_ATTEMPTS):
            train, jclass, offset, pick = draw.attempt(self.config, group, weights)
            journey_date = start.date() + dt.timedelta(days=offset)
            inv = self.inventory(train, jclass, journey_date)
            made_h = inv.tau(start)
            chosen = pnrmap.pick_booking(inv.booking_h, inv.waitlisted_at_booking, made_h, draw.wants_waitlisted, pick)
            if chosen is not None:
                return False, train, jclass, journey_date, chosen
            if fallback is None:
                any_booking = pnrmap.pick_booking(inv.booking_h, inv.waitlisted_at_booking, made_h, None, pick)
                fallback = None if any_booking is None else (False, train, jclass, journey_date, any_booking)
        return fallback

    def status(self, pnr: str, now: dt.datetime) -> Answer:
        """The status of a PNR as of `now`; raises InvalidPnr or PnrNotFound."""
        pnr = validate_pnr(pnr)
        now = _aware(now)
        inv, booking = self._resolve(pnr, now)
        q, idx = inv.members(booking)
        tau = inv.tau(now)
        code, pos, berth = inv.states(q, idx, np.array([tau]))
        return render.answer(inv, pnr, q, idx, (code[0], pos[0], berth[0]), now, tau)

    def reply(self, pnr: str, now: dt.datetime) -> dict[str, Any]:
        """The JSON reply for a PNR as of `now` (render.confirmtkt), errors included as that API gives them."""
        try:
            return render.confirmtkt(self.status(pnr, now))
        except InvalidPnr as exc:
            return render.invalid(pnr, str(exc))
        except PnrNotFound:
            return render.not_found(pnr)

    def history(self, pnr: str, now: dt.datetime) -> list[Answer]:
        """One status per change up to `now`, from the booking to the chart (as_of = when it changed)."""
        pnr = validate_pnr(pnr)
        now = _aware(now)
        inv, booking = self._resolve(pnr, now)
        q, idx = inv.members(booking)
        taus = inv.change_times(booking, inv.tau(now))
        code, pos, berth = inv.states(q, idx, taus)
        out: list[Answer] = []
        last: tuple[Any, ...] | None = None
        for row, tau in enumerate(taus.tolist()):
            key = (code[row].tolist(), pos[row].tolist(), berth[row].tolist(), tau <= inv.chart_h)
            if key != last:
                out.append(render.answer(inv, pnr, q, idx, (code[row], pos[row], berth[row]), inv.at(tau), tau))
                last = key
        return out

    def sample_pnrs(self, now: dt.datetime, n: int) -> list[str]:
        """Up to n PNRs that at `now` have a waitlisted passenger and no chart yet (stable within a window)."""
        now = _aware(now)
        window, _ = pnrmap.window_start(self.config, now)
        found: list[str] = []
        for i in range(max(0, n) * SAMPLE_TRIES_PER_PNR):
            if len(found) >= n:
                break
            x = stable_int(self.config.seed, "sample", window, i)
            pnr = f"{1 + x % 9}{(x // 9) % 10**9:09d}"
            try:
                status = self.status(pnr, now)
            except PnrNotFound:
                continue
            if not status.chart_prepared and any(current.code == "WL" for _, _, current in status.passengers):
                found.append(pnr)
        return found

    def charted_journeys(self, train_dates: int = 400, seed: int | None = None, *,
                         dates: Iterable[dt.date] | None = None, trains: Iterable[str] | None = None,
                         hours_to_chart: tuple[float, ...] = OBSERVATION_HOURS) -> Iterator[dict[str, Any]]:
        """Outcome rows (the shared contract) of simulated, fully charted journeys.

        Either `train_dates` train-dates spread over a year from JOURNEYS_START, or every train on
        each of `dates`; `seed` (default: this source's) gives independent journeys, e.g. for a
        held-out set; `trains` restricts the train numbers. The rows are the predictor's training contract.
        """
        source = self if seed is None or seed == self.config.seed else Railway(
            seed, self.config.era, self._trains_file, **self._overrides)
        wanted = None if trains is None else set(trains)
        chosen = [t for t in source.trains if wanted is None or t.number in wanted]
        if dates is not None:
            pairs: Iterable[tuple[Train, dt.date]] = ((t, d) for d in dates for t in chosen)
        else:
            pairs = ((chosen[i % len(chosen)], JOURNEYS_START + dt.timedelta(days=i * JOURNEY_DAY_STRIDE % YEAR_DAYS))
                     for i in range(train_dates))
        for train, journey_date in pairs:
            for plan in source.plans(train).values():
                inv = simulate_inventory(source.config, train, plan, journey_date)  # bulk: bypass the LRU
                yield from outcome_rows(inv, functools.partial(source.booking_pnrs, inv), hours_to_chart)
