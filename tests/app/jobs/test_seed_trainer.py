"""The seed command and the trainer's publishing rules, against a real SecantusDB server."""
from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pymongo
import pytest
from flask import Flask
from support import REPO, JobRunner

from app import create_app
from app.jobs.refit import MIN_STORED_ROWS, held_out, train_once, training_rows
from app.jobs.seed import BATCH_ROWS
from app.services.store import get_store
from predictor.clearing_fit import is_real
from predictor.model import Model
from predictor.synthetic import reference_model, simulate_rows


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
    runner = JobRunner(app.extensions["pnr_services"])
    first = runner.invoke(["seed", "--train-dates", "2"])
    assert first.exit_code == 0, first.output
    client: pymongo.MongoClient = pymongo.MongoClient(mongo_server.uri)
    try:
        stored = client.pnr_jobs.outcomes.count_documents({})
        assert stored > 0
        assert f"{stored} new" in first.output
        second = runner.invoke(["seed", "--train-dates", "2"])
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


def test_trainer_learns_the_chance_of_clearing_from_stored_real_outcomes(make_app, mongo_server, tmp_path: Path) -> None:
    """Complete stored outcomes teach the structure, stored real ones the chance of clearing; both
    sides of the trainer's held-out split hold real rows."""
    complete = simulate_rows(reference_model(), MIN_STORED_ROWS, seed=4)
    real = [{"train_number": "12566", "journey_class": "SL", "quota": "GNWL", "waitlist_type": "GNWL",
             "booking_position": wl, "current_position": wl, "hours_to_chart": 80.0, "journey_date": f"2013-11-{day:02d}",
             "pnr": f"{wl:032d}", "passenger": 1, "source": "pnr.me-2013-lookup",
             "final_code": "CNF_OR_RAC" if wl < 40 else "WL", "final_position": None}
            for day in range(1, 29) for wl in range(5, 80, 10)]
    app = make_app(mongo_server.uri, tmp_path)
    model_path = tmp_path / "model.json"
    app.config["MODEL_PATH"] = str(model_path)
    with app.app_context():
        store = get_store()
        rows = complete + real
        for start in range(0, len(rows), BATCH_ROWS):
            store.record_outcomes(rows[start:start + BATCH_ROWS])
        train, test, origin = training_rows()
        assert origin == f"store and {len(real)} stored real outcomes"
        assert {is_real(r) for r in train} == {is_real(r) for r in test} == {True, False}
        assert len(train) + len(test) == len(complete) + len(real)
        summary = train_once()
    assert summary["published"] is True, summary
    learnt = Model.load(model_path)
    assert learnt.parameters["clearing"]["effects"]["train"].keys() == {"12566"}
    assert learnt.metrics["clearing"]["rows"] == sum(not held_out(r) for r in real)
