"""evaluate: the model against the baselines on held-out simulated journeys, from one command.

Training journeys come from the simulator's seed (PNR_SIM_SEED), held-out ones from another seed
(the trainer's offset), so no journey is on both sides. The held-out train-dates are the first
of the training ones (the simulator lays train-dates out in the same order for every seed):
independent journeys of trains and dates the training saw. Held-out dates beyond the training
calendar would score the model on seasons (festival rushes) it never saw, not on journeys. The numbers and the
reliability diagram in the README are made by this command.
"""
from __future__ import annotations

import json
from pathlib import Path

import click

from predictor import evaluate_real, realdata
from predictor.evaluate import fit_and_evaluate, plot_reliability, table
from predictor.model import Model, ModelFileError
from railsim.railway import Railway

from .. import services
from .refit import HELD_OUT_SEED_OFFSET

DEFAULT_MODEL = Path(__file__).resolve().parents[1] / "data" / "model-default.json"


@click.command("evaluate")
@click.option("--train-dates", type=click.IntRange(min=1), default=400, show_default=True,
              help="Simulated train-dates to fit on.")
@click.option("--test-dates", type=click.IntRange(min=1), default=160, show_default=True,
              help="Held-out simulated train-dates to score on (at most --train-dates).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Directory for metrics.json and reliability.png.")
@click.option("--save-model", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the fitted model file here.")
@click.option("--real", "real", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Score on real journeys instead: a pnr.me 2013 db/ folder (predictor/evaluate_real.py).")
def command(train_dates: int, test_dates: int, out: Path, save_model: Path | None, real: Path | None) -> None:
    """Fit on simulated journeys (or, with --real, on the real ones), score model and baselines on
    held-out ones, write the report."""
    if real is not None:
        return evaluate_on_real(real, out, save_model)
    config = services.current().config
    seed = config["SIM_SEED"]
    source = Railway(seed, config["SIM_ERA"])
    train = list(source.charted_journeys(train_dates, seed=seed))
    if test_dates > train_dates:
        raise click.BadParameter("held-out train-dates beyond the training ones would be unseen seasons",
                                 param_hint="--test-dates")
    test = list(source.charted_journeys(test_dates, seed=seed + HELD_OUT_SEED_OFFSET))
    click.echo(f"evaluate: {len(train)} training rows (seed {seed}), {len(test)} held-out rows "
               f"(seed {seed + HELD_OUT_SEED_OFFSET}); fitting", err=True)
    model, report = fit_and_evaluate(train, test)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    plot_reliability(report, out / "reliability.png")
    if save_model:
        model.save(save_model)
    click.echo(table(report))
    click.echo(f"wrote {out / 'metrics.json'} and {out / 'reliability.png'}")


def evaluate_on_real(folder: Path, out: Path, save_model: Path | None) -> None:
    """The real-data report: the shipped model's structure kept, the clearing refitted on the
    training side of the 2013 split and scored on the held-out lookups."""
    try:
        data = realdata.read(folder)
        model, report = evaluate_real.evaluate(data, Model.load(DEFAULT_MODEL))
    except (ModelFileError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    evaluate_real.write(report, out)
    if save_model:
        model.save(save_model)
    click.echo(evaluate_real.table(report))
    click.echo(f"wrote {out / 'metrics.json'} and {out / 'reliability.png'}")
