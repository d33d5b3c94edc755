"""Recalibration maps: learnt from outcomes, kept in order, carried by the model file."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import special

from predictor import calibration
from predictor.model import Model, ModelFileError
from predictor.synthetic import random_items, reference_model


def _distorted(abc: tuple[float, float, float], n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Predictions p whose true probability is sigmoid(a + b log p - c log(1 - p)), and outcomes
    drawn from it."""
    a, b, c = abc
    rng = np.random.default_rng(seed)
    p = special.expit(rng.normal(0.0, 2.0, n))
    truth = special.expit(a + b * np.log(p) - c * np.log1p(-p))
    return p, (rng.random(n) < truth).astype(float)


def test_a_map_is_learnt_back_from_outcomes() -> None:
    true = (-0.5, 1.3, 0.7)  # low probabilities too high, high ones too low
    p, y = _distorted(true, 60_000, seed=1)
    fitted = calibration.fit_map(p, y)
    assert fitted == pytest.approx(true, abs=0.08)
    p_test, y_test = _distorted(true, 60_000, seed=2)
    from predictor.evaluate import calibration_error

    assert calibration_error(calibration.apply(fitted, p_test), y_test) < 0.3 * calibration_error(p_test, y_test)
    fixed = calibration.apply(fitted, p)
    assert np.all(np.diff(fixed[np.argsort(p)]) >= 0)  # a map keeps the order of the predictions


def test_calibrated_predictions_stay_calibrated() -> None:
    p, y = _distorted(calibration.IDENTITY, 20_000, seed=3)
    assert calibration.fit_map(p, y) == pytest.approx(calibration.IDENTITY, abs=0.08)


@pytest.mark.parametrize("n, positives", [(50, 25), (5000, 3)])
def test_too_little_to_learn_from_is_the_identity(n: int, positives: int) -> None:
    y = np.zeros(n)
    y[:positives] = 1.0
    assert calibration.fit_map(np.full(n, 0.3), y) == calibration.IDENTITY


def test_calibrated_keeps_cnf_below_cnf_or_rac_and_equal_without_rac() -> None:
    rng = np.random.default_rng(4)
    p_any = rng.random(1000)
    p_cnf = p_any * rng.random(1000)
    has_rac = rng.random(1000) < 0.5
    p_cnf = np.where(has_rac, p_cnf, p_any)
    maps = {"rac_cnf": [2.0, 1.5, 1.0], "rac_any": [-1.0, 0.7, 1.4], "plain": [0.3, 1.2, 0.9]}
    cnf, any_ = calibration.calibrated(maps, p_cnf, p_any, has_rac)
    assert np.all(cnf <= any_) and np.all(cnf[~has_rac] == any_[~has_rac])
    assert np.allclose(any_[~has_rac], calibration.apply(maps["plain"], p_any[~has_rac]))
    assert np.all((cnf >= 0) & (any_ <= 1))


def test_folds_keep_a_journey_together() -> None:
    keys = [f"12951|2016-01-{d:02d}" for d in range(1, 29) for _ in range(5)]
    fold = calibration.folds(keys, 2, seed=0)
    for k in set(keys):
        assert len({int(f) for key, f in zip(keys, fold) if key == k}) == 1
    assert set(fold.tolist()) == {0, 1}


def test_the_model_file_carries_the_maps_and_refuses_bad_ones(tmp_path) -> None:
    base = reference_model()
    maps = {"rac_cnf": [-0.5, 0.9, 1.1], "rac_any": [-0.2, 1.1, 1.0], "plain": [0.1, 1.0, 0.8]}
    model = Model({**base.parameters, "calibration": maps})
    model.save(tmp_path / "m.json")
    loaded = Model.load(tmp_path / "m.json")
    assert loaded.parameters["calibration"] == maps
    items = random_items(base, 200, np.random.default_rng(5))
    before = [r["p_cnf"] + r["p_rac"] for r in base.predict(items)]
    after = [r["p_cnf"] + r["p_rac"] for r in loaded.predict(items)]
    assert before != after and all(0.0 <= p <= 1.0 + 1e-12 for p in after)
    for bad in ({"plain": [0.1, 1.0]}, {"plain": [0.0, 50.0, 1.0]}, {"plain": [0.0, 1.0, -1.0]},
                {"other": [0.0, 1.0, 1.0]}, {"plain": [float("nan"), 1.0, 1.0]}, []):
        with pytest.raises(ModelFileError, match="calibration"):
            Model({**base.parameters, "calibration": bad})


def test_the_daemon_does_not_load_what_only_fitting_needs() -> None:
    """A killed predictor is an outage until its successor has imported everything: keep it short."""
    import subprocess
    import sys

    code = "import sys, predictor.__main__, predictor.model; print(sorted(m for m in sys.modules if m.startswith(('scipy.optimize', 'app'))))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"
