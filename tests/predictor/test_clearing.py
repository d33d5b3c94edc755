"""The clearing section: learnt from real outcomes, pooled by zone, train and queue, and how the model
splits it into CNF and RAC."""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from scipy import special

from predictor import clearing, clearing_fit
from predictor.features import parse_item, to_features
from predictor.model import Model, ModelFileError
from predictor.training import learn

ITEM = {"train_number": "12001", "journey_class": "SL", "quota": "GN", "waitlist_type": "GNWL",
        "booking_position": 40, "current_position": 40, "hours_to_chart": 100.0}
TRAINS = ("12001", "12002", "12003", "12004", "13001", "13002")
LUCKY_TRAIN = "12004"  # clears far more often than the rest


def real_rows(n: int, seed: int) -> list[dict[str, Any]]:
    """Real-looking rows whose outcome falls with log WL and rises on the lucky train."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        wl = int(rng.integers(1, 200))
        train = TRAINS[i % len(TRAINS)]
        p = special.expit(2.0 - 0.6 * np.log(wl) + (2.0 if train == LUCKY_TRAIN else 0.0))
        rows.append({**ITEM, "train_number": train, "current_position": wl, "booking_position": wl,
                     "hours_to_chart": float(rng.uniform(10, 500)), "pnr": f"p{i}", "passenger": 1,
                     "journey_date": "2013-11-01", "source": "pnr.me-2013-lookup",
                     "final_code": "CNF_OR_RAC" if rng.random() < p else "WL"})
    return rows


@pytest.fixture(scope="module")
def fitted() -> tuple[dict[str, Any], dict[str, Any]]:
    return clearing_fit.fit(real_rows(3000, seed=3) + [{"final_code": "MAYBE"}, {**ITEM, "final_code": "RAC?"}])


def test_fit_learns_the_trend_and_pools_trains(fitted: tuple[dict[str, Any], dict[str, Any]]) -> None:
    section, info = fitted
    assert info["rows"] == 3000 and info["rows_skipped"] == 2
    assert section["terms"]["log_wl"] < -0.3
    effects = section["effects"]["train"]
    assert effects[LUCKY_TRAIN] > 0.3 > max(v for k, v in effects.items() if k != LUCKY_TRAIN)
    # A train never seen is its zone's: the lucky train lifts its zone (12...) above the other one.
    zones = section["effects"]["zone"]
    assert zones["12"] > zones["13"]


def test_a_model_with_a_clearing_section_predicts_its_chance_split_as_the_structure_splits_it(
        reference: Model, fitted: tuple[dict[str, Any], dict[str, Any]]) -> None:
    section, _info = fitted
    with_real = Model({**reference.parameters, "clearing": section})
    items = [{**ITEM, "id": i, "current_position": wl, "booking_position": wl} for i, wl in enumerate((2, 20, 80))]
    items.append({**ITEM, "id": 9, "journey_class": "CC"})  # no RAC in a chair car
    plain, mine = reference.predict(items), with_real.predict(items)
    chance = clearing.probability(section, to_features([parse_item(i) for i in items]))
    for p, m, c in zip(plain, mine, chance):
        assert m["p_cnf"] + m["p_rac"] == pytest.approx(c)
        assert m["p_cnf"] / (m["p_cnf"] + m["p_rac"]) == pytest.approx(p["p_cnf"] / (p["p_cnf"] + p["p_rac"]))
        assert m["p_wl"] == pytest.approx(1 - c)
    assert mine[-1]["p_rac"] == 0.0
    assert mine[0]["p_cnf"] + mine[0]["p_rac"] > mine[2]["p_cnf"] + mine[2]["p_rac"]


def test_a_model_file_with_a_bad_clearing_section_is_refused(reference: Model,
                                                             fitted: tuple[dict[str, Any], dict[str, Any]]) -> None:
    section, _info = fitted
    for bad, message in ((["not", "an", "object"], "clearing must be an object"),
                         ({**section, "terms": {"intercept": 1.0}}, "clearing.terms"),
                         ({**section, "effects": {"zone": {}}}, "clearing.effects"),
                         ({**section, "effects": {**section["effects"], "train": {"12001": "high"}}}, "finite number")):
        with pytest.raises(ModelFileError, match=message):
            Model({**reference.parameters, "clearing": bad})
    data = Model({**reference.parameters, "clearing": section}).to_dict()
    assert Model.from_dict(data).parameters["clearing"] == section


def test_learn_fits_real_rows_and_keeps_what_it_knew_without_them(reference: Model,
                                                                  fitted: tuple[dict[str, Any], dict[str, Any]]) -> None:
    section, _info = fitted
    learnt = learn(real_rows(500, seed=5), structure=reference)
    assert set(learnt.parameters["clearing"]["terms"]) == set(clearing.TERMS)
    assert learnt.parameters["clearing"] != section
    kept = learn([], structure=reference, clearing=section)
    assert kept.parameters["clearing"] == section
    assert "clearing" not in learn([], structure=reference).parameters


def test_only_rows_that_name_a_real_source_are_real() -> None:
    assert clearing_fit.is_real({"source": "pnr.me-2013-trajectory", "final_code": "WL"})
    assert clearing_fit.is_real({"final_code": "CNF_OR_RAC"})
    assert not clearing_fit.is_real({**ITEM, "final_code": "CNF"})
    assert not clearing_fit.is_real({"source": "simulator", "final_code": "RAC"})
