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
from flask import current_app
from flask.cli import with_appcontext

from predictor.evaluate import fit_and_evaluate, plot_reliability, table

from ..sources.simulator import SimulatorSource
from .trainer import HELD_OUT_SEED_OFFSET


@click.command("evaluate")
@with_appcontext
@click.option("--train-dates", type=click.IntRange(min=1), default=400, show_default=True,
              help="Simulated train-dates to fit on.")
@click.option("--test-dates", type=click.IntRange(min=1), default=160, show_default=True,
              help="Held-out simulated train-dates to score on (at most --train-dates).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Directory for metrics.json and reliability.png.")
@click.option("--save-model", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the fitted model file here.")
def command(train_dates: int, test_dates: int, out: Path, save_model: Path | None) -> None:
    """Fit on simulated journeys, score model and baselines on held-out ones, write the report."""
    source = current_app.extensions["pnr_source"]
    if not isinstance(source, SimulatorSource):
        raise click.ClickException("PNR_SOURCE is not the simulator: there are no simulated journeys to evaluate on")
    seed = current_app.config["SIM_SEED"]
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
