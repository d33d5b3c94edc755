"""trainer: refits the model from charted outcomes now and then, publishing it only if not worse.

The refit (app/jobs/refit.py: fit, held-out scores, publish, reload the predictors) runs in a
short-lived child process: the trainer itself waits between fits without scipy or numpy.
"""
from __future__ import annotations

import threading
from typing import Any

import click

from . import child
from .loop import every_option, run_every


def _refit(fresh_for_s: float) -> dict[str, Any]:
    from .refit import train_once

    return train_once(fresh_for_s)


@click.command("trainer")
@every_option(6 * 3600.0)
def command(every_s: float, once: bool) -> None:
    """Refit, evaluate on held-out journeys, publish if not worse, reload the predictors."""
    stop = threading.Event()

    def iteration() -> dict[str, Any]:
        try:
            result: dict[str, Any] = child.run(_refit, (0.0 if once else every_s,), stop, name="trainer fit")
        except child.Stopped:
            return {"stopped": "during the fit"}
        return result

    run_every("trainer", every_s, iteration, once, stop=stop)
