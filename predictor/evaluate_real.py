"""How good P(CNF or RAC) is on real journeys: the original pnr.me's 2013 lookups, split in time.

Run by `pnr-job evaluate --real DIR --out OUT [--save-model PATH]`, which keeps the shipped
model's structure (MODEL below). DIR is salilpa/pnr_predictor's `db/` folder (realdata.py). The clearing section is fitted on the
journeys boarding before realdata.SPLIT_AT (lookups and trajectories, no PNR that boards later) and
kept beside the structure of MODEL; every method is scored on the lookups boarding on or after it:
the model, MODEL as it is, a plain logistic regression on the training lookups (log WL, log hours
before departure, class, quota), the training lookups' share cleared, and the 2013 site's own
yes/no answers (accuracy only: a yes/no is no probability). Writes OUT/metrics.json and
OUT/reliability.png and gives a Markdown table.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from scipy import optimize, special

from . import realdata
from .clearing_fit import TOLERANCES
from .evaluate import BINS, scores_of
from .model import Model
from .training import learn

QUOTAS = ("GNWL", "RLGN", "PQWL", "CKWL", "RSWL")
CLASSES = ("SL", "3A", "2A", "1A", "CC", "2S", "FC")


def _logistic_design(rows: list[dict[str, Any]]) -> np.ndarray:
    cols = [np.ones(len(rows)), np.log([r["current_position"] for r in rows]),
            np.log1p([r["hours_before_departure"] for r in rows])]
    cols += [np.array([r["journey_class"] == c for r in rows], dtype=float) for c in CLASSES[1:]]
    cols += [np.array([r["waitlist_type"] == q for r in rows], dtype=float) for q in QUOTAS[1:]]
    return np.column_stack(cols)


def logistic(train: list[dict[str, Any]], test: list[dict[str, Any]]) -> np.ndarray:
    """The plain baseline: logistic regression by maximum likelihood on the training lookups."""
    x, y = _logistic_design(train), cleared(train)

    def objective(beta: np.ndarray) -> tuple[float, np.ndarray]:
        z = x @ beta
        return float(np.mean(np.logaddexp(0.0, z) - y * z)), x.T @ (special.expit(z) - y) / len(y)

    beta = optimize.minimize(objective, np.zeros(x.shape[1]), jac=True, method="L-BFGS-B",
                             options=TOLERANCES).x
    return special.expit(_logistic_design(test) @ beta)


def cleared(rows: list[dict[str, Any]]) -> np.ndarray:
    """1 for each row whose passenger left the waitlist by the chart, else 0."""
    return np.array([r["final_code"] != "WL" for r in rows], dtype=float)


def predict_cleared(model: Model, rows: list[dict[str, Any]]) -> np.ndarray:
    """P(CNF or RAC) of each row; ValueError if the model refuses one."""
    results = model.predict([{**r, "id": i} for i, r in enumerate(rows)])
    if any("error" in r for r in results):
        raise ValueError(f"the model could not predict a held-out row: {next(r for r in results if 'error' in r)}")
    return np.array([r["p_cnf"] + r["p_rac"] for r in results])


def evaluate(data: realdata.RealData, structure: Model) -> tuple[Model, dict[str, Any]]:
    """Fit on the training side, score every method on the held-out lookups."""
    train, held = data.split()
    model = learn(train, structure=structure)
    lookups = [r for r in train if r["source"] == realdata.LOOKUP_SOURCE]
    y = cleared(held)
    share = float(cleared(lookups).mean())
    predictions = {"model": predict_cleared(model, held), "model file as given": predict_cleared(structure, held),
                   "logistic regression": logistic(lookups, held), "training share": np.full(len(held), share)}
    methods: dict[str, Any] = {name: scores_of(p, y) for name, p in predictions.items()}
    site = np.array([r["site_2013_says_clears"] for r in held], dtype=float)
    methods["pnr.me 2013"] = {"accuracy": float(np.mean(site == y))}
    model.metrics["real_held_out"] = {k: methods["model"][k] for k in ("brier", "log_loss", "ece", "auc", "accuracy")}
    report = {
        "split": f"fit on journeys boarding before {realdata.SPLIT_AT:%Y-%m-%d %H:%M} (no PNR boarding later); "
                 f"scored on the lookups boarding on or after it",
        "train_rows": len(train), "train_lookups": len(lookups), "held_out_lookups": len(held),
        "held_out_share_cleared": float(y.mean()), "training_share_cleared": share,
        "skipped": dict(data.skipped.reasons), "model_version": model.version,
        "fit": model.metrics.get("clearing", {}), "methods": methods,
    }
    return model, report


def table(report: dict[str, Any]) -> str:
    """The held-out scores as a Markdown table: one line per method."""
    lines = ["| on the held-out real lookups | Brier | log loss | ECE | AUC | accuracy |", "|---|---|---|---|---|---|"]
    for name, s in report["methods"].items():
        cells = [f"{s[k]:.3f}" if s.get(k) is not None else "—" for k in ("brier", "log_loss", "ece", "auc")]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {100 * s['accuracy']:.1f} % |")
    return "\n".join(lines)


def plot_reliability(report: dict[str, Any], path: Path) -> None:
    """Reliability diagram of P(CNF or RAC) on the held-out lookups, one line per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 5.5), constrained_layout=True)
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    for name, s in report["methods"].items():
        if "reliability" in s and name != "training share":
            bins = s["reliability"]
            ax.plot([b["predicted"] for b in bins], [b["observed"] for b in bins], marker="o",
                    label=f"{name} (Brier {s['brier']:.3f}, ECE {s['ece']:.3f})")
    ax.set(title=f"P(CNF or RAC) on {report['held_out_lookups']} held-out real lookups ({BINS} bins)",
           xlabel="predicted probability", ylabel="observed frequency", xlim=(0, 1), ylim=(0, 1))
    ax.legend(fontsize="small", loc="upper left")
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write(report: dict[str, Any], out: Path) -> None:
    """OUT/metrics.json and OUT/reliability.png."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    plot_reliability(report, out / "reliability.png")
