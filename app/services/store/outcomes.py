"""Charted outcomes (the trainer's rows) and the model versions it published."""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import pymongo

from plumbing.zones import utcnow

from .core import StoreCore
from .errors import mapped_errors


class Outcomes(StoreCore):
    """Training rows keyed by PNR, journey, passenger and time to chart; published models by version."""

    def record_outcomes(self, rows: Iterable[dict[str, Any]]) -> int:
        """Upsert charted outcome rows (training data); returns how many were new."""
        ops = []
        for row in rows:
            key = {k: row[k] for k in ("pnr", "journey_date", "passenger", "hours_to_chart")}
            ops.append(pymongo.UpdateOne(key, {"$setOnInsert": dict(row)}, upsert=True))
        if not ops:
            return 0
        with mapped_errors(self):
            result = self.db.outcomes.bulk_write(ops, ordered=False)
        return result.upserted_count

    def count_outcomes(self) -> int:
        """How many outcome rows are stored."""
        with mapped_errors(self):
            return int(self.db.outcomes.count_documents({}))

    def outcomes(self) -> Iterator[dict[str, Any]]:
        """Every stored outcome row, without Mongo's _id."""
        with mapped_errors(self):
            yield from self.db.outcomes.find({}, {"_id": 0})

    def record_model(self, version: str, metrics: dict[str, Any], path: str) -> None:
        """Remember a model version the trainer published, with its held-out metrics."""
        with mapped_errors(self):
            self.db.models.update_one(
                {"version": version},
                {"$setOnInsert": {"metrics": metrics, "path": path, "created_at": utcnow()}},
                upsert=True,
            )
