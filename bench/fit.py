"""The predictor's default fit, cross-fitting included, against the fit as it was, in one run.

    .venv/bin/python -m bench.fit [--train-dates 400]

Simulates the training rows of the simulated-journey test (seed 2013, 400 train-dates, era 2015)
and its held-out rows (the first 160 train-dates of seed 2013 + HELD_OUT_SEED_OFFSET), then fits
twice: the trainer's default fit (the structure with its fold fits in child processes while the
full one runs, maps fitted to a sample of the out-of-fold rows; plus the chance of clearing on the
real 2013 training rows when ../shared/realdata is there) and the reference, the fit as it was: one fit after the other,
L-BFGS stopping at ftol 1e-8, every out-of-fold row predicted (the likelihood's wider window,
clearance.py, is in both: it changes no result beyond RELATIVE_ERROR). Prints each one's wall time,
held-out Brier score, log loss and ECE for P(CNF) and P(CNF or RAC), and the ratio of the times.
The machine is shared: the ratio, not the seconds, is what compares.
"""
from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from app.jobs.refit import HELD_OUT_SEED_OFFSET, SIMULATED_HELD_OUT_DATES, SIMULATED_TRAIN_DATES
from predictor import realdata
from predictor.evaluate import EVENTS, evaluate
from predictor.fit import fit
from predictor.model import Model
from predictor.training import learn
from railsim.railway import Railway

SEED = 2013  # PNR_SIM_SEED's default, as the simulated-journey test
ERA = "2015"
REFERENCE = {"parallel": False, "ftol": 1e-8, "calibration_rows": None}  # the fit as it was
REAL = Path(__file__).resolve().parents[1].parent / "shared" / "realdata" / "salilpa-pnr_predictor"


def _timed(call: Callable[[], Model]) -> tuple[Model, float]:
    started = time.perf_counter()
    model = call()
    return model, time.perf_counter() - started


def _scores(model: Model, test: list[dict[str, Any]]) -> str:
    report = evaluate(model, test)
    return "  ".join(f"{event}: Brier {report[event]['brier']:.5f} log loss {report[event]['log_loss']:.5f} "
                     f"ECE {report[event]['ece']:.4f}" for event in EVENTS)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(prog="python -m bench.fit")
    parser.add_argument("--train-dates", type=int, default=SIMULATED_TRAIN_DATES, help="train-dates to fit on")
    args = parser.parse_args(argv)
    source = Railway(seed=SEED, era=ERA)
    train = list(source.charted_journeys(args.train_dates, seed=SEED))
    test = list(source.charted_journeys(SIMULATED_HELD_OUT_DATES, seed=SEED + HELD_OUT_SEED_OFFSET))
    print(f"{len(train)} training rows ({args.train_dates} train-dates), {len(test)} held-out rows")
    # The trainer's default fit: the structure on these rows, the chance of clearing on the stored
    # real outcomes (here the 2013 training side, when ../shared is there).
    real = realdata.read(REAL).split()[0] if (REAL / "db").is_dir() else []
    print(f"{len(real)} real outcome rows" if real else f"no real rows ({REAL} is absent): the structure alone")
    new, new_s = _timed(lambda: learn(train + real))
    clearing_s = new.metrics.get("clearing", {}).get("fit_seconds", 0.0) if real else 0.0
    print(f"default fit:   {new_s:7.1f} s (of which the chance of clearing {clearing_s:.1f} s)", flush=True)
    # Simulated journeys score the structure: the chance of clearing is the real railway's, not the simulator's.
    structure = Model({k: v for k, v in new.parameters.items() if k != "clearing"})
    print(f"held out, default:   {_scores(structure, test)}", flush=True)
    old, old_s = _timed(lambda: fit(train, **REFERENCE))
    print(f"reference fit: {old_s:7.1f} s ({', '.join(f'{k}={v}' for k, v in REFERENCE.items())})")
    print(f"held out, reference: {_scores(old, test)}")
    print(f"default / reference: {new_s / old_s:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
