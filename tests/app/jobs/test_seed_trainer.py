"""The seed command and the trainer's publishing rules, against a real SecantusDB server."""
from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pymongo
import pytest
from flask import Flask

from app import create_app
from app.jobs.trainer import train_once
from support import REPO


@pytest.fixture
def make_app() -> Iterator[Callable[[str, Path], Flask]]:
    """create_app for a test, closing the store client it opens."""
    apps: list[Flask] = []

    def make(mongo_uri: str, var: Path) -> Flask:
        app = create_app({"TESTING": True, "MONGO_URI": mongo_uri, "MONGO_DB": "pnr_jobs", "VAR_DIR": str(var), "MODEL_PATH": ""})
        apps.append(app)
        return app

    yield make
    for app in apps:
        if app.extensions.get("pnr_store") is not None:
            app.extensions["pnr_store"].close()


def test_seed_stores_simulated_outcomes_once(make_app, mongo_server, tmp_path: Path) -> None:
    app = make_app(mongo_server.uri, tmp_path)
    runner = app.test_cli_runner()
    first = runner.invoke(args=["seed", "--train-dates", "2"])
    assert first.exit_code == 0, first.output
    client: pymongo.MongoClient = pymongo.MongoClient(mongo_server.uri)
    try:
        stored = client.pnr_jobs.outcomes.count_documents({})
        assert stored > 0
        assert f"{stored} new" in first.output
        second = runner.invoke(args=["seed", "--train-dates", "2"])
        assert second.exit_code == 0 and " 0 new" in second.output
        assert client.pnr_jobs.outcomes.count_documents({}) == stored
        row = client.pnr_jobs.outcomes.find_one({}, {"_id": 0})
        assert row["final_code"] in {"CNF", "RAC", "WL"} and row["current_position"] <= row["booking_position"]
    finally:
        client.close()


def test_trainer_leaves_a_fresh_model_alone(make_app, mongo_server, tmp_path: Path) -> None:
    app = make_app(mongo_server.uri, tmp_path)
    model = tmp_path / "model.json"
    shutil.copy(REPO / "app" / "data" / "model-default.json", model)
    before = model.stat().st_mtime_ns
    with app.app_context():
        summary = train_once(fresh_for_s=3600)
    assert summary["skipped"] == "model fresh"
    assert model.stat().st_mtime_ns == before
