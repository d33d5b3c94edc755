"""The simulator against the published figures of DOMAIN.md §3.6, over a year of simulated journeys.

Module-scoped runs: every train on 24 dates spread over 2016 (the default config's mix of ordinary
days, festivals and summer), and separately on 6 dates inside the Diwali and Holi windows. Rates
are compared within Z standard errors, and only where both sides have enough passengers. The
errors are binomial with the inventory as the unit (cluster-robust): passengers of one train-date
succeed or fail together, so counting them as independent draws would overstate the precision.
"""
import datetime as dt
import fcntl
import itertools
import math
import os

import pytest

from railsim.config import SimConfig
from railsim.stats import (
    BERTH_CLASSES,
    BUCKETS,
    RELATIVE_EDGES,
    SEAT_CLASSES,
    Outcomes,
    Stats,
    collect,
)
from railsim.trains import load_trains

Z = 3.0  # standard errors of slack in every comparison
MIN_N = 150  # passengers a bucket needs before it is compared
YEAR_DATES = [dt.date(2016, 1, 5) + dt.timedelta(days=15 * i) for i in range(24)]
FESTIVAL_DATES = [dt.date(2016, 10, 24), dt.date(2016, 10, 27), dt.date(2016, 10, 30), dt.date(2016, 11, 2),
                  dt.date(2016, 3, 20), dt.date(2016, 3, 23)]
CLASSES = ("SL", "3A", "2A", "1A", "CC", "EC", "2S")
WAITLISTS = ("GNWL", "RLWL", "PQWL", "TQWL")


def _once(tmp_path_factory: pytest.TempPathFactory, name: str, dates: list[dt.date]) -> Stats:
    """Simulate once per test run: xdist workers share the result through the run's temporary root."""
    def run() -> Stats:
        return collect(SimConfig.for_era("2015"), load_trains(), dates)

    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return run()
    root = tmp_path_factory.getbasetemp().parent  # one per run, shared by its workers
    path = root / f"simulator-{name}.json"
    with open(root / f"simulator-{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the first worker simulates, the others wait for its file
        if path.exists():
            return Stats.from_json(path.read_text())
        stats = run()
        path.write_text(stats.to_json())
        return stats


@pytest.fixture(scope="module")
def stats(tmp_path_factory: pytest.TempPathFactory) -> Stats:
    """Every inventory of every train on the year's dates, aggregated."""
    return _once(tmp_path_factory, "year", YEAR_DATES)


@pytest.fixture(scope="module")
def festival(tmp_path_factory: pytest.TempPathFactory) -> Stats:
    """The same on festival dates."""
    assert all(SimConfig.for_era("2015").season(d) in ("diwali", "holi") for d in FESTIVAL_DATES)
    return _once(tmp_path_factory, "festival", FESTIVAL_DATES)


def test_statistics_survive_the_trip_between_workers(festival):
    again = Stats.from_json(festival.to_json())
    assert again.to_json() == festival.to_json()
    assert again.by_bucket.se(("SL", "GNWL", 0)) == festival.by_bucket.se(("SL", "GNWL", 0))


def _not_above(outcomes: Outcomes, hi: object, lo: object) -> bool:
    """The rate under `hi` is not above the one under `lo` beyond Z standard errors of the difference."""
    return outcomes.rate(hi) <= outcomes.rate(lo) + Z * math.hypot(outcomes.se(hi), outcomes.se(lo))


def test_enough_journeys_were_simulated(stats):
    assert stats.inventories > 2500
    assert sum(stats.booked.values()) > 1_000_000


def test_about_21_percent_of_booked_passengers_cancel_before_the_chart(stats):
    share = stats.share(stats.cancelled)
    assert 0.18 <= share <= 0.24, share


def test_confirmation_falls_with_the_booking_position_in_every_class_and_waitlist(stats):
    compared = 0
    for jclass in CLASSES:
        for wl in WAITLISTS:
            keys = [(jclass, wl, b) for b in range(len(BUCKETS)) if stats.by_bucket.n[(jclass, wl, b)] >= MIN_N]
            for lo, hi in itertools.pairwise(keys):
                assert _not_above(stats.by_bucket, hi, lo), (lo, stats.by_bucket.rate(lo), hi, stats.by_bucket.rate(hi))
                compared += 1
    assert compared >= 60
    for jclass in ("SL", "3A", "CC", "2S"):  # and it really falls, from the front of the queue to the back
        keys = [(jclass, "GNWL", b) for b in range(len(BUCKETS)) if stats.by_bucket.n[(jclass, "GNWL", b)] >= MIN_N]
        assert stats.by_bucket.rate(keys[0]) - stats.by_bucket.rate(keys[-1]) > 0.3


def _pooled_cnf(stats: Stats, classes: tuple[str, ...], bucket: int) -> tuple[float, int]:
    n = sum(stats.by_relative.n[(c, bucket)] for c in classes)
    hits = sum(stats.by_relative.cnf[(c, bucket)] for c in classes)
    return (hits / n if n else math.nan), n


def test_seat_classes_confirm_more_than_berth_classes_at_equal_relative_position(stats):
    compared = 0
    for bucket in range(len(RELATIVE_EDGES) + 1):
        seat, n_seat = _pooled_cnf(stats, SEAT_CLASSES, bucket)
        berth, n_berth = _pooled_cnf(stats, BERTH_CLASSES, bucket)
        if min(n_seat, n_berth) < MIN_N:
            continue
        assert seat > berth, (bucket, seat, berth)
        compared += 1
    assert compared >= 4


def test_general_waitlist_beats_tatkal_at_the_same_position_and_rl_pq_on_average(stats):
    compared = 0
    for jclass in CLASSES:
        for b in range(len(BUCKETS)):
            gn, tq = (jclass, "GNWL", b), (jclass, "TQWL", b)
            if min(stats.by_bucket.n[gn], stats.by_bucket.n[tq]) < MIN_N:
                continue
            assert stats.by_bucket.rate(gn) > stats.by_bucket.rate(tq), (gn, stats.by_bucket.rate(gn), stats.by_bucket.rate(tq))
            compared += 1
    assert compared >= 10
    for jclass in ("SL", "3A"):
        gn = _overall(stats, jclass, "GNWL")
        assert gn > _overall(stats, jclass, "RLWL") and gn > _overall(stats, jclass, "PQWL")


def _overall(stats: Stats, jclass: str, wl: str) -> float:
    keys = [(jclass, wl, b) for b in range(len(BUCKETS))]
    n = sum(stats.by_bucket.n[k] for k in keys)
    return sum(stats.by_bucket.cnf[k] + stats.by_bucket.rac[k] for k in keys) / n


def test_passengers_per_auto_cancelled_waitlisted_pnr_match_the_rti_ratios(stats):
    assert 1.45 <= stats.pax_per_autocancelled_pnr <= 1.65, stats.pax_per_autocancelled_pnr


def test_unmet_share_is_moderate_on_ordinary_days_and_high_at_festivals(stats, festival):
    ordinary = stats.share(stats.unmet, ["ordinary"])
    peak = festival.share(festival.unmet)
    assert 0.03 <= ordinary <= 0.10, ordinary
    assert peak >= 0.13, peak
    assert festival.regret_requests > 0  # festival waiting lists reach their caps


@pytest.mark.parametrize("jclass", ["SL", "3A"])
def test_waitlisted_sleeper_and_3a_passengers_confirm_in_the_published_ranges(stats, jclass):
    assert 0.10 <= stats.by_class.rate(jclass, with_rac=False) <= 0.40
    assert 0.60 <= stats.by_class.rate(jclass) <= 0.90


def test_busy_trains_book_early_and_medium_trains_book_about_linearly(stats):
    early = {tier: stats.gn_early[tier] / stats.gn_booked[tier] for tier in stats.gn_booked}
    assert early["supersonic"] > 0.40
    assert early["supersonic"] > early["subsonic"] > early["chuk-chuk"]
    assert stats.curve_r2("subsonic") > 0.9
