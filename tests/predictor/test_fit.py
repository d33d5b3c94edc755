"""Fitting recovers a known model from rows drawn from it, shrinks sparse queues, learns RAC places."""
from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pytest

from predictor.fit import fit
from predictor.model import Model
from predictor.synthetic import random_items, reference_model, simulate_rows

ROWS = 5000


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
def given(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    first = rows[0]
    bad = BAD_ROWS + [{**first, "final_code": "WL", "final_position": None}, {**first, "current_position": -1},
                      {**first, "journey_class": "CC", "final_code": "RAC", "final_position": 3}]
    return rows + bad + [dict(LUCKY) for _ in range(3)]


@pytest.fixture(scope="module")
def fitted(given: list[dict[str, Any]]) -> Model:
    # Synthetic rows are independent draws, not passengers sharing a journey's clearances: thinning
    # them to one per cluster (the default, for the simulator's rows) would only throw truth away.
    return fit(given, per_cluster=3)


def test_fold_fits_in_child_processes_give_the_same_model(given: list[dict[str, Any]], fitted: Model) -> None:
    serial = fit(given, per_cluster=3, parallel=False)
    for block in ("log_mean", "train_offsets", "rac_places"):
        assert serial.parameters[block] == pytest.approx(fitted.parameters[block], rel=1e-9, abs=1e-12)
    for name, abc in fitted.parameters["calibration"].items():
        assert serial.parameters["calibration"][name] == pytest.approx(abc, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("block,term,tolerance", [
    ("log_mean", "log_hours", 0.1), ("log_mean", "log_hours_sq", 0.03), ("log_mean", "quota:TQ", 0.3),
    ("logit_cancel_ahead", "intercept", 0.25), ("logit_cancel_ahead", "log_hours", 0.1),
    ("logit_cancel_ahead", "quota:TQ", 0.3), ("log_size", "log_hours", 0.15),
])
def test_fit_recovers_the_coefficients(truth: Model, fitted: Model, block: str, term: str, tolerance: float) -> None:
    # Random effects fitted jointly (by MAP) with few rows per journey bias the rest a little: the
    # tolerances allow for it; the predictions below are what must agree.
    assert fitted.parameters[block][term] == pytest.approx(truth.parameters[block][term], abs=tolerance)


def test_fit_predicts_what_the_truth_predicts(truth: Model, fitted: Model) -> None:
    items = random_items(truth, 2000, np.random.default_rng(12))
    mine, true = fitted.predict(items), truth.predict(items)
    p_cnf = np.array([[a["p_cnf"], b["p_cnf"]] for a, b in zip(mine, true)])
    p_any = np.array([[a["p_cnf"] + a["p_rac"], b["p_cnf"] + b["p_rac"]] for a, b in zip(mine, true)])
    for p in (p_cnf, p_any):
        gap = np.abs(p[:, 0] - p[:, 1])
        assert gap.mean() < 0.05 and np.percentile(gap, 95) < 0.15


def test_fit_finds_the_spreads(fitted: Model) -> None:
    # The general queues' journeys vary by a spread of 0.2 in the reference model; the others by 0.4.
    assert 0.1 < fitted.parameters["date_offset_sd"]["GN"] < 0.35
    assert 0.15 < fitted.parameters["train_offset_sd"]["GN"] < 0.6


def test_fit_learns_the_places_to_a_berth_of_busy_queues(truth: Model, fitted: Model,
                                                          rows: list[dict[str, Any]]) -> None:
    seen = Counter(f"{r['train_number']}|{r['journey_class']}|GN" for r in rows if r["waitlist_type"] == "GNWL")
    busy = [q for q in fitted.parameters["rac_places"] if seen[q] >= 150]
    assert len(busy) >= 3
    for queue in busy:
        assert fitted.parameters["rac_places"][queue] == pytest.approx(truth.parameters["rac_places"][queue], rel=0.3)
    assert fitted.parameters["rac_places_prior"]["SL|TQ"] == 0


def test_fit_reports_its_metrics_and_skips_invalid_rows(fitted: Model) -> None:
    m = fitted.metrics
    assert m["rows_valid"] == ROWS + 3 and m["rows_skipped"] == 5 and m["converged"]
    assert ROWS / 2 < m["rows"] <= ROWS + 3  # at most a few rows of a queue, journey and hour
    assert m["log_likelihood_per_row"] < 0 and m["fit_seconds"] > 0


def test_fit_without_usable_rows_says_so() -> None:
    with pytest.raises(ValueError, match="no usable"):
        fit(BAD_ROWS)


def test_a_train_with_three_rows_borrows_from_its_class(fitted: Model) -> None:
    # Unpooled, three confirmations from WL 150 ten hours before the chart would put the offset at its
    # bound and P(CNF) at 1; pooled, the train stays within a few spreads of its class.
    offset = fitted.parameters["train_offsets"]["19999|SL|GN"]
    assert 0 < offset < 5 * fitted.parameters["train_offset_sd"]["GN"] < 3
    (again,) = fitted.predict([{**LUCKY, "id": "again"}])
    assert again["p_cnf"] < 0.9
