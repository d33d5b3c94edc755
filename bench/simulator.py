"""Simulator throughput: PNR statuses (JSON replies) per second for cold and warm train-dates, and the cost of history.

    .venv/bin/python -m bench.simulator [--train-dates 40] [--repeat 20]

Cold: a fresh Railway looks up one booking's own PNR in every class of each train-date, so
each lookup simulates its inventory first. Warm: the same lookups again on the same source (the
inventories are in its LRU). Also: milliseconds per cold train-date (all classes), foreign PNRs
(hash-mapped, several inventories tried), full histories, and outcome rows for the trainer.
"""
from __future__ import annotations

import argparse
import datetime as dt
import functools
import random
import time
from collections.abc import Callable, Sequence

import numpy as np

from railsim.pnrs import PnrNotFound
from railsim.railway import Railway

NOW = dt.datetime(2026, 11, 29, 8, 0, tzinfo=dt.UTC)
JOURNEY_IN_DAYS = 10


def _own_pnrs(train_dates: int) -> list[list[str]]:
    """Per train-date, one PNR booked before NOW in each class (found with a throwaway source)."""
    maker = Railway()
    journey = (NOW + dt.timedelta(days=JOURNEY_IN_DAYS)).date()
    out = []
    for train in maker.trains[:train_dates]:
        pnrs = []
        for jclass in maker.plans(train):
            inv = maker.inventory(train, jclass, journey)
            booked = np.flatnonzero(inv.booking_h >= inv.tau(NOW))
            if len(booked):
                pnrs += maker.booking_pnrs(inv, booked[len(booked) // 2 : len(booked) // 2 + 1])
        out.append(pnrs)
    return out


def _per_second(calls: Sequence[Callable[[], object]]) -> float:
    started = time.perf_counter()
    for call in calls:
        try:
            call()
        except PnrNotFound:
            pass
    return len(calls) / (time.perf_counter() - started)


def main(argv: list[str] | None = None) -> int:
    """Print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-dates", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=20, help="warm passes over the same PNRs")
    args = parser.parse_args(argv)
    per_date = _own_pnrs(args.train_dates)
    pnrs = [p for group in per_date for p in group]

    source = Railway()
    started = time.perf_counter()
    cold = _per_second([functools.partial(source.reply, p, NOW) for p in pnrs])
    cold_date_ms = (time.perf_counter() - started) * 1000 / len(per_date)
    warm = _per_second([functools.partial(source.reply, p, NOW) for p in pnrs] * args.repeat)
    history = _per_second([functools.partial(source.history, p, NOW) for p in pnrs])

    rnd = random.Random(1)
    foreign = [str(rnd.randint(10**9, 10**10 - 1)) for _ in range(200)]
    other = Railway()
    foreign_cold = _per_second([functools.partial(other.reply, p, NOW) for p in foreign])
    foreign_warm = _per_second([functools.partial(other.reply, p, NOW) for p in foreign] * 5)

    started = time.perf_counter()
    rows = sum(1 for _ in Railway().charted_journeys(args.train_dates))
    rows_per_s = rows / (time.perf_counter() - started)

    print(f"{'lookups':<48}{'per second':>12}")
    print(f"{'own PNR, cold train-date (inventory simulated)':<48}{cold:>12.0f}")
    print(f"{'own PNR, warm (inventory in the LRU)':<48}{warm:>12.0f}")
    print(f"{'  ratio warm / cold':<48}{warm / cold:>12.1f}")
    print(f"{'foreign PNR, cold':<48}{foreign_cold:>12.0f}")
    print(f"{'foreign PNR, warm':<48}{foreign_warm:>12.0f}")
    print(f"{'  ratio warm / cold':<48}{foreign_warm / foreign_cold:>12.1f}")
    print(f"{'full history, warm':<48}{history:>12.0f}")
    print(f"{'outcome rows (charted_journeys)':<48}{rows_per_s:>12.0f}")
    print(f"cold train-date, every class: {cold_date_ms:.1f} ms ({len(pnrs)} lookups over {len(per_date)} train-dates)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
