"""The 2013 era against the original pnr.me's own 2013 lookups (DOMAIN.md §3.7).

The real rows are read from ../shared/realdata beside the repository, never copied into it; without
them the module skips. Every real training-side lookup names a cell (class x queue x current-WL
bucket x hours-before-departure bucket); the simulator's curves are its cell rates averaged over the
real lookups of each group (railsim.calibrate.compare), so both sides weigh the cells alike.

Compared: the marginal curves by current WL, hours before departure, class and queue, and every
two-way cell of those with at least 50 real lookups. The real rates are samples themselves (a
50-lookup cell at 50 % has a 7-point standard error), so the limit is calibrate.TOLERANCE (8 points)
plus 2 (marginal curves) or 3 (two-way cells) binomial standard errors of the real rate; docs/simulator.md lists which groups are within the flat 8 points and why the rest are not.
"""
from pathlib import Path

import pytest

from railsim import calibrate
from railsim.config import SimConfig

REALDATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "realdata"
MARGINALS = calibrate.MARGINALS


@pytest.fixture(scope="module")
def lookups() -> list[calibrate.Lookup]:
    """The labelled training-side lookups, or a skip naming where they come from."""
    if not calibrate.prediction_file(REALDATA).exists():
        pytest.skip(f"no {calibrate.PREDICTION_FILE} under {REALDATA}: {calibrate.SOURCE}")
    return calibrate.real_lookups(REALDATA)


@pytest.fixture(scope="module")
def groups(lookups) -> list[calibrate.Group]:
    """Real and simulated clearance of every compared group, on the real journeys' dates."""
    sim = calibrate.simulate(SimConfig.for_era("2013"), calibrate.observation_hours(lookups))
    assert sim.inventories > 2500
    return calibrate.compare(lookups, sim)


def _off(groups: list[calibrate.Group]) -> list[tuple]:
    """The groups beyond their allowed gap, readable in a failure."""
    return [(g.kind, g.name, g.n, round(g.real, 3), round(g.sim, 3)) for g in groups if abs(g.gap) > calibrate.allowed_gap(g)]


def test_the_real_lookups_are_the_documented_ones(lookups):
    assert len(lookups) == 1604  # 1,624 training-side rows less the 20 RSWL, which has no simulated queue
    assert sum(lk.cleared for lk in lookups) / len(lookups) == pytest.approx(0.52, abs=0.01)


def test_every_marginal_curve_is_within_tolerance_of_the_real_one(groups):
    compared = [g for g in groups if g.kind in MARGINALS]
    assert len(compared) >= 7 + 6 + 3 + 4
    assert not _off(compared), _off(compared)


def test_every_two_way_cell_with_50_lookups_is_within_tolerance(groups):
    compared = [g for g in groups if g.kind not in MARGINALS and g.kind != "all"]
    assert len(compared) >= 40
    assert not _off(compared), _off(compared)


def test_overall_clearance_matches(groups):
    (overall,) = [g for g in groups if g.kind == "all"]
    assert abs(overall.gap) <= 0.03, overall


def test_long_waitlists_clear_as_often_as_real_ones(groups):
    by_wl = {g.name: g for g in groups if g.kind == "WL"}
    assert by_wl["81-160"].sim >= 0.30 and by_wl["161+"].sim >= 0.08
    assert by_wl["1-5"].sim > by_wl["41-80"].sim > by_wl["161+"].sim
