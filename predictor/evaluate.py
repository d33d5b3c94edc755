"""How good the predictions are on held-out journeys, against simple baselines.

    python -m predictor.evaluate --train TRAIN.jsonl --test TEST.jsonl --out DIR [--save-model PATH]

Fits the model and the baselines (baselines.py) on TRAIN, scores P(CNF) and P(CNF or RAC) on TEST
(Brier score, log loss, expected calibration error over 10 bins), writes DIR/metrics.json and
DIR/reliability.png, and prints a table. Rows are outcome rows, one JSON object per line.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from scipy import stats

from plumbing import logs

from .baselines import BaseRate, Empirical, Logistic
from .model import Model
from .training import learn

log = logging.getLogger(__name__)

BINS = 10
EPSILON = 1e-15  # probabilities are clipped to [EPSILON, 1 - EPSILON] for the log loss
EVENTS = ("cnf", "cnf_or_rac")


class Predictor(Protocol):
    """Anything with the model's predict(items) -> results."""

    def predict(self, items: list[Any]) -> list[dict[str, Any]]: ...


def brier(p: np.ndarray, y: np.ndarray) -> float:
    """Mean squared error of a probability against a 0/1 outcome."""
    return float(np.mean((p - y) ** 2))


def log_loss(p: np.ndarray, y: np.ndarray) -> float:
    """Mean negative log-likelihood of the 0/1 outcomes."""
    p = np.clip(p, EPSILON, 1 - EPSILON)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log1p(-p)))


def reliability(p: np.ndarray, y: np.ndarray, bins: int = BINS) -> list[dict[str, float]]:
    """Per equal-width probability bin: count, mean prediction, observed frequency."""
    which = np.minimum((p * bins).astype(int), bins - 1)
    out = []
    for b in range(bins):
        sel = which == b
        if sel.any():
            out.append({"bin": b, "count": int(sel.sum()), "predicted": float(p[sel].mean()),
                        "observed": float(y[sel].mean())})
    return out


def calibration_error(p: np.ndarray, y: np.ndarray, bins: int = BINS) -> float:
    """Expected calibration error: bin-size-weighted gap between mean prediction and frequency."""
    return float(sum(b["count"] * abs(b["predicted"] - b["observed"]) for b in reliability(p, y, bins)) / len(p))


def accuracy(p: np.ndarray, y: np.ndarray) -> float:
    """Share of outcomes on the side of 1/2 that the probability is."""
    return float(np.mean((p >= 0.5) == (y == 1)))


def auc(p: np.ndarray, y: np.ndarray) -> float | None:
    """Area under the ROC curve (the chance a cleared passenger is ranked above one who was not);
    None with only one kind of outcome."""
    positives = int(y.sum())
    if positives == 0 or positives == len(y):
        return None
    ranks = stats.rankdata(p)
    return float((ranks[y == 1].sum() - positives * (positives + 1) / 2) / (positives * (len(y) - positives)))


def scores_of(p: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    return {"brier": brier(p, y), "log_loss": log_loss(p, y), "ece": calibration_error(p, y),
            "accuracy": accuracy(p, y), "auc": auc(p, y), "reliability": reliability(p, y)}


def _predictions(predictor: Predictor, rows: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(P(CNF), P(CNF or RAC), index of the rows that got a prediction)."""
    items = [{**row, "id": i} for i, row in enumerate(rows)]
    results = predictor.predict(items)
    ok = [r for r in results if "error" not in r]
    p_cnf = np.array([r["p_cnf"] for r in ok])
    return p_cnf, p_cnf + np.array([r["p_rac"] for r in ok]), np.array([r["id"] for r in ok], dtype=int)


def evaluate(model: Predictor, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Scores of a predictor on outcome rows: per event, Brier, log loss, ECE and reliability bins."""
    p_cnf, p_any, index = _predictions(model, rows)
    if len(index) == 0:
        raise ValueError("no row could be predicted")
    codes = np.array([rows[i].get("final_code") for i in index])
    valid = np.isin(codes, ["CNF", "RAC", "WL", "CNF_OR_RAC"])
    complete = np.isin(codes, ["CNF", "RAC", "WL"])  # real rows may not say CNF from RAC
    out = {"rows": int(valid.sum()), "rows_without_prediction": len(rows) - int(valid.sum()),
           "cnf_or_rac": scores_of(p_any[valid], (codes[valid] != "WL").astype(float))}
    if complete.any():
        out["cnf"] = scores_of(p_cnf[complete], (codes[complete] == "CNF").astype(float))
    return out


def fit_and_evaluate(train_rows: list[dict[str, Any]], test_rows: list[dict[str, Any]]) -> tuple[Model, dict[str, Any]]:
    """Fit the model and baselines on train rows, score all on test rows; the held-out scores also
    go into the model's metrics (so they travel with the model file)."""
    model = learn(train_rows)
    methods: dict[str, Predictor] = {"model": model, "base_rate": BaseRate(train_rows),
                                     "empirical": Empirical(train_rows), "logistic": Logistic(train_rows)}
    scores = {name: evaluate(m, test_rows) for name, m in methods.items()}
    model.metrics["held_out"] = {e: {k: scores["model"][e][k] for k in ("brier", "log_loss", "ece")}
                                 for e in EVENTS if e in scores["model"]} | {"rows": scores["model"]["rows"]}
    report = {"model_version": model.version, "train_rows": len(train_rows), "test_rows": len(test_rows),
              "fit": {k: v for k, v in model.metrics.items() if k != "held_out"}, "methods": scores}
    return model, report


def plot_reliability(report: dict[str, Any], path: Path) -> None:
    """Reliability diagram, one panel per event, one line per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 5), constrained_layout=True)
    for ax, event, title in zip(axes, EVENTS, ("P(CNF)", "P(CNF or RAC)")):
        ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
        for name, scores in report["methods"].items():
            bins = scores[event]["reliability"]
            ax.plot([b["predicted"] for b in bins], [b["observed"] for b in bins], marker="o",
                    label=f"{name} (Brier {scores[event]['brier']:.3f}, ECE {scores[event]['ece']:.3f})")
        ax.set(title=title, xlabel="predicted probability", ylabel="observed frequency", xlim=(0, 1), ylim=(0, 1))
        ax.legend(fontsize="small", loc="upper left")
    fig.savefig(path, dpi=100)
    plt.close(fig)


def load_rows(path: Path) -> list[dict[str, Any]]:
    """Outcome rows from a JSON-lines file; raises ValueError naming the first bad line."""
    rows = []
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if line.strip():
                try:
                    row = json.loads(line)
                except ValueError as exc:
                    raise ValueError(f"{path}:{number}: not JSON ({exc})") from exc
                if not isinstance(row, dict):
                    raise ValueError(f"{path}:{number}: not a JSON object")
                rows.append(row)
    return rows


def table(report: dict[str, Any]) -> str:
    """The scores as a Markdown table, ready for the README: one line per method."""
    head = "| method | " + " | ".join(f"{label} {m}" for label in ("P(CNF)", "P(CNF or RAC)")
                                        for m in ("Brier", "log loss", "ECE")) + " |"
    lines = [head, "|---" * 7 + "|"]
    for name, scores in report["methods"].items():
        lines.append(f"| {name} | " + " | ".join(f"{scores[e][m]:.4f}" for e in EVENTS
                                                for m in ("brier", "log_loss", "ece")) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: fit, compare, write metrics.json and reliability.png; exit 2 on bad input."""
    parser = argparse.ArgumentParser(prog="python -m predictor.evaluate", description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=Path, required=True, help="outcome rows to fit on (JSON lines)")
    parser.add_argument("--test", type=Path, required=True, help="held-out outcome rows (JSON lines)")
    parser.add_argument("--out", type=Path, required=True, help="directory for metrics.json and reliability.png")
    parser.add_argument("--save-model", type=Path, help="also write the fitted model file here")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    logs.configure()
    try:
        train, test = load_rows(args.train), load_rows(args.test)
        model, report = fit_and_evaluate(train, test)
    except (OSError, ValueError) as exc:
        print(f"evaluate: {exc}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "metrics.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    plot_reliability(report, args.out / "reliability.png")
    if args.save_model:
        model.save(args.save_model)
    print(table(report))
    print(f"wrote {args.out / 'metrics.json'} and {args.out / 'reliability.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
