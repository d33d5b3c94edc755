"""Fitting recovers a known model from rows drawn from it, shrinks sparse trains, learns RAC places."""
from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from predictor.fit import fit
from predictor.model import Model
from predictor.synthetic import reference_model, simulate_rows

ROWS = 6000


@pytest.fixture(scope="module")
def truth() -> Model:
    return reference_model()


# Rows no fit may use, and three passengers of a new train who all confirmed from far back: fitted on
# its own, that train's clearances would be unbounded; shrinkage keeps it near its class.
BAD_ROWS = [{"final_code": "MAYBE"}, {"final_code": "CNF"}]
LUCKY = {"train_number": "19999", "journey_class": "SL", "quota": "GN", "waitlist_type": "GNWL",
         "booking_position": 200, "current_position": 150, "hours_to_chart": 10.0, "journey_date": "2026-01-02",
         "final_code": "CNF", "final_position": None}


@pytest.fixture(scope="module")
def rows(truth: Model) -> list[dict[str, Any]]:
    return simulate_rows(truth, ROWS, seed=11)


@pytest.fixture(scope="module")
def fitted(rows: list[dict[str, Any]]) -> Model:
    first = rows[0]
    bad = BAD_ROWS + [{**first, "final_code": "WL", "final_position": None}, {**first, "current_position": -1},
                      {**first, "journey_class": "CC", "final_code": "RAC", "final_position": 3}]
    return fit(rows + bad + [dict(LUCKY) for _ in range(3)])


@pytest.mark.parametrize("block,term,tolerance", [
    ("log_mean", "log_hours", 0.05), ("log_mean", "log_hours_sq", 0.02), ("log_mean", "log_booking", 0.06),
    ("log_mean", "log_cleared", 0.06), ("log_mean", "quota:RL", 0.15), ("log_mean", "quota:PQ", 0.15),
    ("log_mean", "quota:TQ", 0.15), ("logit_cancel_ahead", "intercept", 0.1),
    ("logit_cancel_ahead", "log_hours", 0.06), ("logit_cancel_ahead", "quota:TQ", 0.25),
    ("log_size", "intercept", 0.15), ("log_size", "log_hours", 0.06), ("log_size", "rac_class", 0.15),
])
def test_fit_recovers_the_coefficients(truth: Model, fitted: Model, block: str, term: str, tolerance: float) -> None:
    assert fitted.parameters[block][term] == pytest.approx(truth.parameters[block][term], abs=tolerance)


def test_fit_recovers_each_busy_trains_level(truth: Model, fitted: Model, rows: list[dict[str, Any]]) -> None:
    # Class level and train offset are only identified together: compare their sum.
    seen = Counter(f"{r['train_number']}|{r['journey_class']}" for r in rows)
    busy = [key for key, count in seen.items() if count >= 150]
    assert len(busy) >= 7

    def level(model: Model, key: str) -> float:
        return model.parameters["log_mean"][f"class:{key.split('|')[1]}"] + model.parameters["train_offsets"][key]

    for key in busy:
        assert level(fitted, key) == pytest.approx(level(truth, key), abs=0.2), key


def test_fit_learns_the_rac_places_of_busy_queues(truth: Model, fitted: Model, rows: list[dict[str, Any]]) -> None:
    groups = {"GNWL": "GN", "RLWL": "RL", "PQWL": "PQ", "TQWL": "TQ"}
    seen = Counter(f"{r['train_number']}|{r['journey_class']}|{groups[r['waitlist_type']]}" for r in rows)
    busy = [q for q in fitted.parameters["rac_places"] if seen[q] >= 150]
    assert len(busy) >= 5
    for queue in busy:
        assert fitted.parameters["rac_places"][queue] == truth.parameters["rac_places"][queue], queue
    assert fitted.parameters["rac_places_prior"]["SL|TQ"] == 0


def test_fit_reports_its_metrics_and_skips_invalid_rows(fitted: Model) -> None:
    m = fitted.metrics
    assert m["rows"] == ROWS + 3 and m["rows_skipped"] == 5 and m["converged"]
    assert m["log_likelihood_per_row"] < 0 and m["fit_seconds"] > 0


def test_fit_without_usable_rows_says_so() -> None:
    with pytest.raises(ValueError, match="no usable"):
        fit(BAD_ROWS)


def test_a_train_with_three_rows_borrows_from_its_class(fitted: Model) -> None:
    # Unpooled, three confirmations from WL 150 ten hours before the chart would put the offset at its
    # bound and P(CNF) at 1; pooled, the train stays within a few spreads of its class.
    offset = fitted.parameters["train_offsets"]["19999|SL"]
    assert 0 < offset < 5 * fitted.parameters["train_offset_sd"] < 3
    (again,) = fitted.predict([{**LUCKY, "id": "again"}])
    assert again["p_cnf"] < 0.9
