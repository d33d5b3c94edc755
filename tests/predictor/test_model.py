"""The model: predictions for a batch, invalid items, and the JSON model file."""
from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from predictor.model import Model, ModelFileError
from predictor.synthetic import random_items

ITEM = {"id": "1", "train_number": "12001", "journey_class": "SL", "quota": "GN", "waitlist_type": "GNWL",
        "booking_position": 120, "current_position": 12, "hours_to_chart": 70.5}


def _queue(reference: Model, **changes: Any) -> list[dict[str, Any]]:
    """The same passenger at every position 1..booking_position."""
    item = {**ITEM, **changes}
    return [{**item, "id": str(y), "current_position": y} for y in range(1, item["booking_position"] + 1)]


def _probabilities(results: list[dict[str, Any]]) -> np.ndarray:
    return np.array([[r["p_cnf"], r["p_rac"], r["p_wl"]] for r in results])


def test_probabilities_are_a_distribution(reference: Model) -> None:
    items = random_items(reference, 3000, np.random.default_rng(5))
    results = reference.predict(items)
    assert [r["id"] for r in results] == [i["id"] for i in items]
    p = _probabilities(results)
    assert np.all((p >= 0) & (p <= 1))
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-12)
    assert 0.05 < p[:, 0].mean() < 0.95  # the reference trains are neither hopeless nor sure


@pytest.mark.parametrize("journey_class,waitlist_type,hours", [
    ("SL", "GNWL", 70.5), ("3A", "RLWL", 5.0), ("2A", "PQWL", 400.0), ("CC", "GNWL", 30.0), ("1A", "TQWL", 12.0),
])
def test_further_back_is_never_likelier(reference: Model, journey_class: str, waitlist_type: str, hours: float) -> None:
    train = "12001" if journey_class in ("SL", "3A", "2A") else "12038" if journey_class == "CC" else "12075"
    results = reference.predict(_queue(reference, train_number=train, journey_class=journey_class,
                                       waitlist_type=waitlist_type, hours_to_chart=hours, booking_position=300))
    p = _probabilities(results)
    assert np.all(np.diff(p[:, 0]) <= 1e-12)  # P(CNF)
    assert np.all(np.diff(p[:, 0] + p[:, 1]) <= 1e-12)  # P(CNF or RAC)
    assert p[0, 2] < p[-1, 2]


@pytest.mark.parametrize("journey_class", ["1A", "CC", "EC", "2S", "FC"])
def test_no_rac_in_classes_without_rac(reference: Model, journey_class: str) -> None:
    items = [{**ITEM, "journey_class": journey_class, "current_position": y, "id": str(y)} for y in (1, 5, 40)]
    for r in reference.predict(items):
        assert r["p_rac"] == 0.0
        assert r["expected_final"] in ("CNF", "WL")


def test_tatkal_waitlist_goes_straight_to_a_berth(reference: Model) -> None:
    # The reference trains' Tatkal queues have no RAC places, as on the railway.
    (result,) = reference.predict([{**ITEM, "quota": "TQ", "waitlist_type": "TQWL"}])
    assert result["p_rac"] == 0.0


def test_expected_status_is_the_median_one(reference: Model) -> None:
    for r in reference.predict(random_items(reference, 500, np.random.default_rng(9))):
        want = "CNF" if r["p_cnf"] >= 0.5 else "RAC" if r["p_cnf"] + r["p_rac"] >= 0.5 else "WL"
        assert r["expected_final"] == want
        if want == "CNF":
            assert r["expected_position"] is None
        else:
            assert isinstance(r["expected_position"], int) and r["expected_position"] >= 1


def test_an_unknown_train_gets_its_class_level(reference: Model) -> None:
    known, unknown = reference.predict([ITEM, {**ITEM, "id": "2", "train_number": "99999"}])
    assert known["p_cnf"] != unknown["p_cnf"]
    assert 0 < unknown["p_cnf"] < 1 and unknown["p_rac"] > 0


@pytest.mark.parametrize("change,message", [
    ({"train_number": None}, "train_number"),
    ({"train_number": 12001}, "train_number"),
    ({"journey_class": "XX"}, "journey_class"),
    ({"journey_class": None}, "journey_class"),
    ({"booking_position": None}, "booking_position"),
    ({"booking_position": "45"}, "booking_position"),
    ({"booking_position": True}, "booking_position"),
    ({"current_position": -3}, "current_position"),
    ({"current_position": 0}, "current_position"),
    ({"current_position": 12.5}, "current_position"),
    ({"current_position": 121}, "current_position"),
    ({"current_position": 10**9, "booking_position": 10**9}, "booking_position"),
    ({"hours_to_chart": -1}, "hours_to_chart"),
    ({"hours_to_chart": math.nan}, "hours_to_chart"),
    ({"hours_to_chart": math.inf}, "hours_to_chart"),
    ({"hours_to_chart": "70"}, "hours_to_chart"),
    ({"quota": 5}, "quota"),
    ({"waitlist_type": ["GNWL"]}, "waitlist_type"),
])
def test_an_invalid_item_gets_an_error_and_the_batch_goes_on(reference: Model, change: dict[str, Any],
                                                              message: str) -> None:
    bad = {**ITEM, "id": "bad", **change}
    results = reference.predict([ITEM, bad, {**ITEM, "id": "3"}])
    assert [r["id"] for r in results] == ["1", "bad", "3"]
    assert set(results[1]) == {"id", "error"} and message in results[1]["error"]
    assert "p_cnf" in results[0] and "p_cnf" in results[2]


@pytest.mark.parametrize("item,expected_id", [(5, None), ("x", None), ([1], None), ({}, None),
                                              ({"id": 7}, 7), ({"id": {"a": 1}}, None)])
def test_items_that_are_not_items(reference: Model, item: object, expected_id: object) -> None:
    (result,) = reference.predict([item])
    assert result["id"] == expected_id and "error" in result


def test_an_empty_batch_is_an_empty_answer(reference: Model) -> None:
    assert reference.predict([]) == []


def test_lowercase_class_and_missing_waitlist_type_are_accepted(reference: Model) -> None:
    item = {k: v for k, v in ITEM.items() if k != "waitlist_type"} | {"journey_class": "sl"}
    assert reference.predict([item])[0]["p_cnf"] == reference.predict([ITEM])[0]["p_cnf"]


def test_model_file_round_trip(tmp_path: Path, reference: Model) -> None:
    path = tmp_path / "model.json"
    reference.save(path)
    data = json.loads(path.read_text())
    assert data["format"] == "pnr-predictor-model" and data["schema"] == 1
    assert {"version", "created_at", "metrics", "parameters"} <= set(data)
    loaded = Model.load(path)
    assert loaded.version == reference.version and loaded.created_at == reference.created_at
    items = random_items(reference, 200, np.random.default_rng(2))
    assert loaded.predict(items) == reference.predict(items)
    assert [p.name for p in tmp_path.iterdir()] == ["model.json"]  # no temporary file left behind


def test_version_names_the_time_and_the_parameters(reference: Model) -> None:
    assert re.fullmatch(r"\d{8}T\d{6}Z-[0-9a-f]{10}", reference.version)
    changed = json.loads(json.dumps(reference.parameters))
    changed["log_mean"]["log_hours"] += 0.01
    other = Model(changed, created_at=reference.created_at)
    assert other.version != reference.version
    same = Model(json.loads(json.dumps(reference.parameters)), created_at=reference.created_at)
    assert same.version == reference.version


def test_saving_replaces_the_file_whole(tmp_path: Path, reference: Model) -> None:
    path = tmp_path / "model.json"
    path.write_text("old")
    reference.save(path)
    assert Model.load(path).version == reference.version


def _broken(reference: Model, how: str) -> str:
    data = reference.to_dict()
    if how == "no terms":
        del data["parameters"]["log_mean"]["log_hours"]
    elif how == "nan":
        data["parameters"]["log_size"]["intercept"] = "NaN"
    elif how == "schema":
        data["schema"] = 2
    elif how == "format":
        data["format"] = "pickle"
    elif how == "places":
        data["parameters"]["rac_places"] = {"12001|SL|GN": -4}
    return json.dumps(data).replace('"NaN"', "NaN")


@pytest.mark.parametrize("how", ["no terms", "nan", "schema", "format", "places"])
def test_an_invalid_model_file_is_refused(tmp_path: Path, reference: Model, how: str) -> None:
    path = tmp_path / "model.json"
    path.write_text(_broken(reference, how))
    with pytest.raises(ModelFileError):
        Model.load(path)


@pytest.mark.parametrize("content", [None, b"", b"{not json", b"\xff\xfe", b"[1, 2]", b"1e999"])
def test_an_unreadable_model_file_is_refused(tmp_path: Path, content: bytes | None) -> None:
    path = tmp_path / "model.json"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ModelFileError):
        Model.load(path)


def test_an_item_asked_again_gets_what_a_fresh_model_computes_under_its_own_id(reference: Model) -> None:
    """Results are kept per normalised item: the same passenger asked again under another id must get
    exactly what a model that never saw it computes."""
    model = Model.from_dict(reference.to_dict())
    items = random_items(reference, 200, np.random.default_rng(11))
    first = model.predict(items)
    again = [{**item, "id": f"again-{item['id']}"} for item in reversed(items)]
    second = model.predict(again)
    fresh = Model.from_dict(reference.to_dict()).predict(again)
    assert second == fresh
    assert [r["id"] for r in second] == [i["id"] for i in again]
    assert {r["id"]: r["p_cnf"] for r in first} == {r["id"].removeprefix("again-"): r["p_cnf"] for r in second}
    moved = model.predict([{**ITEM, "hours_to_chart": ITEM["hours_to_chart"] + h} for h in (0.0, 0.01)])
    assert moved[0]["p_cnf"] != moved[1]["p_cnf"]  # a moved item is computed, not taken for the other


def test_kept_results_are_bounded(reference: Model, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("predictor.model.MEMO_ITEMS", 50)
    model = Model.from_dict(reference.to_dict())
    model.predict(random_items(reference, 500, np.random.default_rng(12)))
    assert len(model._memo) == 50  # noqa: SLF001 - the bound is the point
