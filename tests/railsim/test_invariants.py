"""Rules every simulated inventory obeys (DOMAIN.md §3.5, §3.6 items 7 and 10), and the era switch."""
import datetime as dt

import numpy as np
import pytest

from railsim.booking import CAN, CNF, RAC, WL, QueueSpec, book_class
from railsim.charting import chart_time, share_pool
from railsim.config import SimConfig
from railsim.demand import Requests
from railsim.inventory import Inventory, simulate_inventory
from railsim.stats import inventories
from railsim.trains import IST, RAC_CLASSES, class_plans, load_trains

DATES = [dt.date(2016, 2, 9), dt.date(2016, 10, 28)]  # an ordinary Tuesday; Diwali week


@pytest.fixture(scope="module", params=["2015", "2013"])
def invs(request: pytest.FixtureRequest) -> list[Inventory]:
    """Every class of every train on an ordinary day and in Diwali week, in the default era and in 2013
    (whose chart shares released berths between the lists instead of serving them in turn)."""
    return list(inventories(SimConfig.for_era(request.param), load_trains(), DATES))


def _queues(invs):
    for inv in invs:
        for q in inv.queues.values():
            yield inv, q


def test_waitlists_stay_within_their_caps_and_full_lists_turn_requests_away(invs):
    full = 0
    for _, q in _queues(invs):
        code, pos = q.code_at_rank(q.rank_b)
        assert (pos[code == WL] <= q.cap).all()
        if q.regret_requests:
            full += 1
            assert pos[code == WL].max() > q.cap - 6  # a party of up to 6 did not fit
    assert full > 10


def test_a_request_beyond_the_cap_is_regret_and_a_later_smaller_one_may_still_fit():
    config = SimConfig.for_era("2015", hazard_h0_per_h=0.0)  # nobody cancels
    req = Requests("GN", np.linspace(100.0, 10.0, 7), np.array([1, 1, 2, 1, 1, 3, 1]))
    log = book_class(config, [QueueSpec(req, 2, 2, 3)], 4.0, np.random.default_rng(1))["GN"]
    assert log.regret_requests == 1 and log.regret_passengers == 3
    code, pos = log.code_at_rank(log.rank_b)
    assert code.tolist() == [CNF, CNF, RAC, RAC, WL, WL, WL]
    assert pos.tolist() == [0, 0, 1, 2, 1, 2, 3]


def test_parties_have_one_to_six_passengers_and_tatkal_at_most_four(invs):
    for _, q in _queues(invs):
        assert (q.pnr_size >= 1).all() and (q.pnr_size <= (4 if q.name == "TQ" else 6)).all()


def test_cancellations_fall_between_booking_and_chart_and_some_are_partial(invs):
    partial = whole = 0
    for inv, q in _queues(invs):
        gone = q.cancel_h != -np.inf
        assert (q.cancel_h[gone] < q.book_h[gone]).all() and (q.cancel_h[gone] > inv.chart_h).all()
        per_pnr = np.bincount(q.pnr[gone], minlength=len(q.pnr_size))
        multi = (q.pnr_size >= 2) & (per_pnr > 0)
        partial += int((per_pnr[multi] < q.pnr_size[multi]).sum())
        whole += int((per_pnr[multi] == q.pnr_size[multi]).sum())
    assert 0.08 <= partial / (partial + whole) <= 0.22  # DOMAIN: allow 10-20 % partial cancellations


def test_tatkal_books_in_a_rush_after_the_window_opens_the_day_before(invs):
    for inv, q in _queues(invs):
        if q.name != "TQ" or not len(q.book_h):
            continue
        hour = 11 if inv.plan.journey_class in ("SL", "2S") else 10  # non-AC opens an hour later
        opens = dt.datetime.combine(inv.journey_date - dt.timedelta(days=1), dt.time(hour), IST)
        assert q.book_h.max() <= inv.tau(opens) + 1e-9
        assert np.median(inv.tau(opens) - q.book_h) < 1.0  # most within the hour


def test_statuses_only_move_forward_and_freeze_at_the_chart(invs):
    checked = 0
    for inv, q in _queues(invs):
        for p in range(0, len(q.pnr_first), 12):
            idx = np.arange(q.pnr_first[p], q.pnr_first[p] + q.pnr_size[p])
            ahead = q.cancel_h[: idx[-1] + 1]
            taus = np.unique(np.concatenate([[q.book_h[idx[0]]], ahead[(ahead < q.book_h[idx[0]]) & (ahead > inv.chart_h)],
                                             [inv.chart_h, inv.chart_h - 0.4, -48.0]]))[::-1]
            code, pos, _ = inv.states(q, idx, taus)
            booked_code, _, _ = inv.booking_states(q, idx)
            assert ((code[0] == booked_code) | (code[0] == CAN)).all()
            before, after, p0, p1 = code[:-1], code[1:], pos[:-1], pos[1:]
            assert (after[before == CAN] == CAN).all()  # CAN is final
            live = (before != CAN) & (after != CAN)
            assert (after[live] <= before[live]).all()  # WL -> RAC -> CNF only
            same = live & (after == before) & (before != CNF)
            assert (p1[same] <= p0[same]).all()  # queue numbers never increase: X - Y never falls
            assert (code[-3:] == code[-3]).all() and (pos[-3:] == pos[-3]).all()  # frozen after the chart
            checked += 1
    assert checked > 1000


def test_the_chart_seats_each_berth_once_and_rac_pairs_share_side_lowers(invs):
    for inv in invs:
        cnf, rac = [], []
        for q in inv.queues.values():
            code, berth = q.final_code, q.final_berth
            assert (berth[code == CNF] >= 0).all() and (berth[(code == WL) | (code == CAN)] == -1).all()
            cnf += berth[code == CNF].tolist()
            rac += berth[code == RAC].tolist()
            assert (np.sort(q.final_pos[code == RAC]) == np.arange(1, int((code == RAC).sum()) + 1)).all()
        assert len(cnf) == len(set(cnf)) and not set(cnf) & set(rac)
        assert all(rac.count(b) <= 2 for b in set(rac))
        assert all(inv.plan.seat(b)[2] == "SL" for b in set(rac))


def test_the_waitlist_jump_at_the_chart_equals_the_berths_released_to_it(invs):
    jumps = []
    for inv, q in _queues(invs):
        left = np.flatnonzero(q.final_code == WL)
        if not len(left):
            continue
        gone = q.cancel_h >= inv.chart_h  # cancelled by the moment before the chart
        code, pos = q.code_at_rank(left - (np.cumsum(gone) - gone)[left])
        assert (code == WL).all()
        jump = pos - q.final_pos[left]
        assert (jump == inv.chart.served[q.name]).all(), (inv.train.number, q.name, jump[:3], inv.chart.served)
        jumps.append(int(jump[0]))
    assert np.mean(jumps) > 0


@pytest.mark.parametrize("era, sl_rac, chart_local, arp", [("2013", 5, "20:00", 60), ("2015", 7, "20:00", 120), ("2025", 7, "21:00", 60)])
def test_the_era_switch_sets_rac_berths_charting_and_the_reservation_period(era, sl_rac, chart_local, arp):
    config = SimConfig.for_era(era)
    trains = {t.number: t for t in load_trains()}
    mail, evening = trains["12723"], trains["12951"]  # departs 06:00; departs 17:00
    plan = class_plans(mail, config)["SL"]
    assert len(plan.rac_berths) == sl_rac * len(plan.coach_names)
    day = dt.date(2016, 2, 9)
    assert chart_time(config, mail, day).astimezone(IST).strftime("%H:%M") == chart_local
    lead = evening.departure_at(day) - chart_time(config, evening, day)
    assert lead == dt.timedelta(hours=8 if era == "2025" else 4)
    inv = simulate_inventory(config, mail, plan, day)
    opened = inv.at(inv.open_h).astimezone(IST)
    assert opened.date() == day - dt.timedelta(days=arp) and opened.hour == 8
    if era == "2025":
        assert plan.wl_cap == int(0.30 * plan.capacity)
        assert class_plans(evening, config)["3A"].wl_cap == int(0.60 * class_plans(evening, config)["3A"].capacity)
    else:
        assert plan.wl_cap == 400


def test_classes_without_rac_go_straight_from_waitlist_to_confirmed(invs):
    for inv, q in _queues(invs):
        if inv.plan.journey_class not in RAC_CLASSES or q.name != "GN":
            assert q.rac_places == 0 and not (q.final_code == RAC).any()


@pytest.mark.parametrize("pool", [0, 1, 2, 7, 40, 500])
def test_the_chart_pool_is_shared_without_overfilling_any_list(pool):
    deficits = {"GN": 120, "RL": 30, "PQ": 9, "TQ": 0}
    in_turn = share_pool(pool, deficits, None)
    assert in_turn["GN"] == min(pool, 120) and sum(in_turn.values()) == min(pool, 159)
    shared = share_pool(pool, deficits, {"GN": 1.0, "RL": 1.0, "PQ": 2.0, "TQ": 1.0})
    assert sum(shared.values()) == min(pool, 159)
    assert all(0 <= shared[q] <= deficits[q] for q in deficits)
    if pool <= 159:  # in proportion to weight x unmet demand, 120 : 30 : 18, to within a berth
        for q, claim in (("GN", 120), ("RL", 30), ("PQ", 18)):
            assert abs(shared[q] - pool * claim / 168) <= 1.0, (q, shared)
