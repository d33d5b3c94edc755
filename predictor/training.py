"""The trainer's fit: the structure from complete outcomes, the chance of clearing from real ones.

Complete outcomes (CNF, RAC or WL at the chart, with positions: the simulator's journeys, or a
deployment's own charted PNRs) teach the structure how clearances split into RAC and berths
(fit.py). Rows seen on the real railway teach how likely a waitlist clears at all (clearing.py);
without any, the model is the structure alone.
"""
from __future__ import annotations

import logging
from typing import Any

from . import clearing_fit
from .fit import fit
from .model import Model

log = logging.getLogger(__name__)


def learn(rows: list[dict[str, Any]], *, structure: Model | None = None, seed: int = 0,
          clearing: dict[str, Any] | None = None) -> Model:
    """A model from outcome rows: the structure fitted on the complete ones (or `structure` kept as
    it is), the clearing section on the real ones; with no real row, `clearing` (the section of the
    model in use) is kept, since what was learnt from real outcomes must not be lost for want of
    new ones. ValueError when there is nothing to fit."""
    real = [r for r in rows if clearing_fit.is_real(r)]
    if structure is None:
        structure = fit([r for r in rows if not clearing_fit.is_real(r)], seed=seed)
    if not real:
        if clearing is None:
            return structure
        return Model({**structure.parameters, "clearing": clearing}, metrics={**structure.metrics, "clearing": "kept"})
    section, info = clearing_fit.fit(real)
    parameters = {**structure.parameters, "clearing": section}
    return Model(parameters, metrics={**structure.metrics, "clearing": info})
