"""Outcome rows for training and evaluating the predictor: each waitlisted passenger, observed at
booking and at fixed hours before the chart, with what the chart made of them.

The row format is the shared contract (plain JSON dicts). Passengers who cancel before the chart
have no outcome and give no rows.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from .booking import QueueLog
from .inventory import CAN, CNF, QUEUE_NAMES, RAC, WAITLIST_TYPE, WL, Inventory

OBSERVATION_HOURS = (720.0, 240.0, 96.0, 48.0, 24.0, 12.0, 6.0, 2.0)
FINAL_CODES = {CNF: "CNF", RAC: "RAC", WL: "WL"}


def _global_bookings(inv: Inventory, name: str) -> np.ndarray:
    """For each booking of a queue, its number among all of the inventory's bookings."""
    q = inv.queues[name]
    out = np.empty(len(q.pnr_first), dtype=np.int64)
    mine = inv.booking_queue == QUEUE_NAMES.index(name)
    out[inv.booking_index[mine]] = np.flatnonzero(mine)
    return out


def _observations(inv: Inventory, q: QueueLog, waiting: np.ndarray, hours: tuple[float, ...]
                  ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(passengers, current WL positions, hours to chart): at booking, then at each observation hour."""
    _, booked_pos = q.code_at_rank(q.rank_b[waiting])
    yield waiting, booked_pos, q.book_h[waiting] - inv.chart_h
    for h in hours:
        tau = inv.chart_h + h
        seen = waiting[q.book_h[waiting] > tau]
        if not len(seen):
            continue
        gone = q.cancel_h >= tau
        ahead: np.ndarray = np.cumsum(gone) - gone
        code, pos = q.code_at_rank(seen - ahead[seen])
        still = code == WL
        yield seen[still], pos[still], np.full(int(still.sum()), h)


def outcome_rows(inv: Inventory, pnrs: Callable[[np.ndarray], list[str]],
                 hours: tuple[float, ...] = OBSERVATION_HOURS) -> Iterator[dict[str, Any]]:
    """Every outcome row of one inventory; `pnrs` gives the PNR strings of booking numbers."""
    common = {"train_number": inv.train.number, "journey_class": inv.plan.journey_class,
              "journey_date": inv.journey_date.isoformat()}
    for name, q in inv.queues.items():
        code_b, _ = q.code_at_rank(q.rank_b)
        waiting = np.flatnonzero((code_b == WL) & (q.final_code != CAN))
        if not len(waiting):
            continue
        bookings = _global_bookings(inv, name)[q.pnr[waiting]]
        pnr_of = dict(zip(np.unique(bookings).tolist(), pnrs(np.unique(bookings))))
        booking_pos = dict(zip(waiting.tolist(), q.code_at_rank(q.rank_b[waiting])[1].tolist()))
        booking_of = dict(zip(waiting.tolist(), bookings.tolist()))
        for seen, pos, hours_to_chart in _observations(inv, q, waiting, hours):
            for i, current, h in zip(seen.tolist(), pos.tolist(), hours_to_chart.tolist()):
                final = int(q.final_code[i])
                yield {
                    **common, "quota": name, "waitlist_type": WAITLIST_TYPE[name],
                    "booking_position": booking_pos[i], "current_position": current,
                    "hours_to_chart": round(h, 2), "pnr": pnr_of[booking_of[i]], "passenger": int(q.member[i]),
                    "final_code": FINAL_CODES[final],
                    "final_position": None if final == CNF else int(q.final_pos[i]),
                }
