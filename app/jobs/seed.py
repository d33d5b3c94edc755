"""seed: fills the store with simulated charted journeys, for the trainer and the demo."""
from __future__ import annotations

import itertools
import sys
from typing import Any

import click

from railsim.railway import Railway

from .. import services
from ..services.store import get_store

# One round trip per batch: each must finish well inside the client's socket timeout (at least 6 s)
# on a server that syncs every journaled write to disk, even on a busy 2-core machine.
BATCH_ROWS = 500


@click.command("seed")
@click.option("--train-dates", type=click.IntRange(min=1), default=400, show_default=True, help="Simulated train-dates to chart.")
@click.option("--seed", "seed_offset", type=int, default=0, show_default=True, help="Added to PNR_SIM_SEED.")
def command(train_dates: int, seed_offset: int) -> None:
    """Store the outcomes of simulated past journeys (idempotent: a second run adds nothing)."""
    config = services.current().config
    seed = config["SIM_SEED"]
    store = get_store()
    rows = Railway(seed, config["SIM_ERA"]).charted_journeys(train_dates, seed=seed + seed_offset)
    # Counted before and after: a bulk write's upserted count is not reported alike by every server.
    before_rows = store.count_outcomes()
    total = 0
    with click.progressbar(length=train_dates, label="charting journeys", file=sys.stderr) as bar:
        seen_dates: set[tuple[Any, Any, Any]] = set()
        while batch := list(itertools.islice(rows, BATCH_ROWS)):
            store.record_outcomes(batch)
            total += len(batch)
            before = len(seen_dates)
            seen_dates.update((r["train_number"], r["journey_date"], r["journey_class"]) for r in batch)
            bar.update(min(len(seen_dates), train_dates) - min(before, train_dates))
    new = store.count_outcomes() - before_rows
    click.echo(f"seed: {total} outcome rows from {train_dates} train-dates, {new} new")
