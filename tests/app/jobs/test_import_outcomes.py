"""import-outcomes: real 2013 outcomes into the store, for the trainer, against a real SecantusDB server."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import bson
import pymongo
from support import JobRunner

from app import create_app
from predictor.clearing_fit import is_real

LOOKUP = {"pnr": "a" * 32, "train": "12566", "class": "SL", "quota": "GNWL", "boarding_time": dt.datetime(2013, 11, 23, 14),
          "hours_before": 100, "waiting_list": 13, "prediction": 2, "status": "success"}
TRAJECTORY = {"pnr": "b" * 32, "train": "12566", "class": "3A", "quota": "RLGN", "date": "10-11-2013",
              "x_val": [0.0, 20.0, 50.0], "y_val": [0.0, 4.0, 9.0]}


def test_import_outcomes_stores_real_rows_once_and_counts_the_bad_ones(mongo_server, tmp_path: Path) -> None:
    db = tmp_path / "pnr_predictor" / "db"
    db.mkdir(parents=True)
    (db / "prediction.bson").write_bytes(bson.encode(LOOKUP) + bson.encode({**LOOKUP, "pnr": "c" * 32, "class": "ZZ"}))
    (db / "pnr_change.bson").write_bytes(bson.encode(TRAJECTORY))
    app = create_app({"TESTING": True, "MONGO_URI": mongo_server.uri, "MONGO_DB": "pnr_import", "VAR_DIR": str(tmp_path),
                      "MODEL_PATH": ""})
    runner = JobRunner(app.extensions["pnr_services"])
    client: pymongo.MongoClient = pymongo.MongoClient(mongo_server.uri)
    try:
        first = runner.invoke(["import-outcomes", str(db.parent)])
        assert first.exit_code == 0, first.output
        assert "3 real outcome rows" in first.output and "3 new" in first.output
        assert "1 lookup: unknown class" in first.output
        rows = list(client.pnr_import.outcomes.find({}, {"_id": 0}))
        assert len(rows) == 3 and all(is_real(r) for r in rows)
        assert {r["final_code"] for r in rows} == {"CNF_OR_RAC"}
        again = runner.invoke(["import-outcomes", str(db.parent)])
        assert again.exit_code == 0 and " 0 new" in again.output
        held_back = runner.invoke(["import-outcomes", "--before", "2013-11-21", str(db.parent)])
        assert held_back.exit_code == 0 and "2 real outcome rows" in held_back.output
        (db / "pnr_change.bson").write_bytes(b"\x30\x00\x00\x00broken")
        broken = runner.invoke(["import-outcomes", str(db.parent)])
        assert broken.exit_code != 0 and "pnr_change.bson" in broken.output
    finally:
        client.close()
        app.extensions["pnr_store"].close()
