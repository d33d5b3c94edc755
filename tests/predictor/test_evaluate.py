"""Scoring: the metrics themselves, the model against the baselines, and the command line."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from predictor import evaluate as ev
from predictor.baselines import BaseRate, Empirical, Logistic
from predictor.model import Model
from predictor.synthetic import reference_model, simulate_rows


def test_brier_and_log_loss_by_hand() -> None:
    p, y = np.array([0.9, 0.2, 0.5]), np.array([1.0, 0.0, 1.0])
    assert ev.brier(p, y) == pytest.approx((0.01 + 0.04 + 0.25) / 3)
    assert ev.log_loss(p, y) == pytest.approx(-(np.log(0.9) + np.log(0.8) + np.log(0.5)) / 3)
    assert np.isfinite(ev.log_loss(np.array([0.0, 1.0]), np.array([1.0, 0.0])))


def test_calibration_error_by_hand() -> None:
    # Bin 0.1-0.2: predicted 0.15, observed 0.5 (2 rows); bin 0.9-1.0: predicted 0.95, observed 1 (2 rows).
    p, y = np.array([0.15, 0.15, 0.95, 0.95]), np.array([0.0, 1.0, 1.0, 1.0])
    assert ev.calibration_error(p, y) == pytest.approx((2 * 0.35 + 2 * 0.05) / 4)
    bins = ev.reliability(p, y)
    assert [b["bin"] for b in bins] == [1, 9] and bins[0]["count"] == 2
    assert ev.calibration_error(np.array([1.0, 0.0]), np.array([1.0, 0.0])) == 0.0


@pytest.fixture(scope="module")
def comparison() -> tuple[Model, dict[str, Any]]:
    truth = reference_model()
    return ev.fit_and_evaluate(simulate_rows(truth, 3000, seed=21), simulate_rows(truth, 2000, seed=22))


@pytest.mark.parametrize("event", ev.EVENTS)
@pytest.mark.parametrize("metric", ["brier", "log_loss"])
def test_model_beats_every_baseline(comparison: tuple[Model, dict[str, Any]], event: str, metric: str) -> None:
    methods = comparison[1]["methods"]
    assert set(methods) == {"model", "base_rate", "empirical", "logistic"}
    mine = methods["model"][event][metric]
    for name in ("base_rate", "empirical", "logistic"):
        assert mine < methods[name][event][metric], name


@pytest.mark.parametrize("event", ev.EVENTS)
def test_model_is_calibrated(comparison: tuple[Model, dict[str, Any]], event: str) -> None:
    assert comparison[1]["methods"]["model"][event]["ece"] < 0.04


def test_held_out_scores_travel_with_the_model(comparison: tuple[Model, dict[str, Any]]) -> None:
    model, report = comparison
    held_out = model.metrics["held_out"]
    assert held_out["rows"] == report["methods"]["model"]["rows"] == 2000
    assert held_out["cnf"]["brier"] == report["methods"]["model"]["cnf"]["brier"]
    json.dumps(report)  # the report is plain JSON


def test_baselines_answer_invalid_items_with_errors() -> None:
    rows = simulate_rows(reference_model(trains=3), 400, seed=5)
    for baseline in (BaseRate(rows), Empirical(rows), Logistic(rows)):
        results = baseline.predict([rows[0], {"id": "x"}])
        assert "p_cnf" in results[0] and results[1] == {"id": "x", "error": "train_number must be a non-empty string"}
        p = results[0]
        assert p["p_cnf"] + p["p_rac"] + p["p_wl"] == pytest.approx(1.0)


def _write(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_command_line_writes_metrics_diagram_and_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    truth = reference_model(trains=3)
    train = _write(tmp_path / "train.jsonl", simulate_rows(truth, 400, seed=1))
    test = _write(tmp_path / "test.jsonl", simulate_rows(truth, 200, seed=2))
    out = tmp_path / "out"
    assert ev.main(["--train", str(train), "--test", str(test), "--out", str(out),
                    "--save-model", str(tmp_path / "model.json")]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["methods"]["model"]["cnf"]["brier"] < metrics["methods"]["base_rate"]["cnf"]["brier"]
    assert (out / "reliability.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert Model.load(tmp_path / "model.json").version == metrics["model_version"]
    assert "empirical" in capsys.readouterr().out


@pytest.mark.parametrize("content", [None, "{not json\n", "[1, 2]\n"])
def test_command_line_refuses_bad_input_with_status_2(tmp_path: Path, content: str | None,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    train = tmp_path / "train.jsonl"
    if content is not None:
        train.write_text(content)
    assert ev.main(["--train", str(train), "--test", str(train), "--out", str(tmp_path / "out")]) == 2
    assert "evaluate:" in capsys.readouterr().err


def test_command_line_usage_error_is_status_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert ev.main(["--train", "x"]) == 2
    assert "required" in capsys.readouterr().err
