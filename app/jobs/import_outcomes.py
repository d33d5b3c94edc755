"""import-outcomes: real charted outcomes into the store's outcomes, for the trainer to learn from.

Reads the original pnr.me's 2013 dump (salilpa/pnr_predictor's `db/` folder: its lookups and
waitlist trajectories; predictor/realdata.py says what the rows mean). The rows land in the same
`outcomes` collection as a deployment's own charted PNRs, so the trainer learns from both with
the same code. Idempotent: a second run adds nothing.
"""
from __future__ import annotations

import itertools
from pathlib import Path

import click

from predictor import realdata

from ..services.store import get_store
from .seed import BATCH_ROWS


@click.command("import-outcomes")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--before", type=click.DateTime(formats=["%Y-%m-%d"]),
              help="Only journeys boarding before this day, and no PNR boarding later (keeps a held-out side).")
def command(folder: Path, before: object) -> None:
    """Store the real outcomes of FOLDER (a pnr.me 2013 `db/` dump); bad rows are skipped and counted."""
    try:
        data = realdata.read(folder)
    except realdata.RealDataError as exc:
        raise click.ClickException(str(exc)) from exc
    if before is None:
        rows = data.lookups + data.trajectory_rows
    else:
        rows, _held = data.split(before)  # type: ignore[arg-type]
    store = get_store()
    before_rows = store.count_outcomes()
    it = iter(rows)
    while batch := list(itertools.islice(it, BATCH_ROWS)):
        store.record_outcomes(batch)
    new = store.count_outcomes() - before_rows
    skipped = ", ".join(f"{n} {why}" for why, n in sorted(data.skipped.reasons.items())) or "none"
    click.echo(f"import-outcomes: {len(rows)} real outcome rows from {folder}, {new} new; skipped: {skipped}")
