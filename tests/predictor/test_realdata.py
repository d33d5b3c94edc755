"""Reading the 2013 dumps: what each row means, and bad rows and files skipped or refused, never guessed.

The dumps are written here, with pymongo's own bson, in the shape of salilpa/pnr_predictor's files.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import bson
import pytest

from predictor import realdata

LOOKUP = {"pnr": "a" * 32, "train": "12566", "class": "SL", "quota": "GNWL", "from": "NDLS", "to": "DBG",
          "boarding_time": dt.datetime(2013, 11, 23, 14, 20), "hours_before": 100, "waiting_list": 13,
          "prediction": 2, "status": "failure"}
CLEARED = {"pnr": "b" * 32, "train": "12566", "class": "3A", "quota": "CK", "date": "10-11-2013",
           "x_val": [0.0, 20.0, 50.0], "y_val": [0.0, 4.0, 9.0]}
STILL_WL = {"pnr": "a" * 32, "train": "12566", "class": "SL", "quota": "GNWL", "date": "23-11-2013",
            "x_val": [0.0, 100.0, 200.0], "y_val": [5.0, 13.0, 20.0]}
CENSORED = {**STILL_WL, "pnr": "c" * 32, "x_val": [30.0, 60.0], "y_val": [3.0, 7.0]}


def dump(folder: Path, lookups: list[dict[str, Any]], trajectories: list[dict[str, Any]]) -> Path:
    db = folder / "db"
    db.mkdir(parents=True)
    (db / realdata.LOOKUPS_FILE).write_bytes(b"".join(bson.encode(d) for d in lookups))
    (db / realdata.TRAJECTORIES_FILE).write_bytes(b"".join(bson.encode(d) for d in trajectories))
    return folder


def test_rows_carry_their_real_meaning(tmp_path: Path) -> None:
    data = realdata.read(dump(tmp_path, [LOOKUP], [CLEARED, STILL_WL, CENSORED]))
    [lookup] = data.lookups
    # "failure" of a "will clear" prediction: the passenger did not clear.
    assert lookup["final_code"] == "WL" and lookup["site_2013_says_clears"] is True
    assert lookup["current_position"] == 13 and lookup["hours_to_chart"] == 96.0
    # Its PNR's own trajectory showed WL 20 at 200 h and 13 at 100 h, before or at the lookup.
    assert lookup["booking_position"] == 20
    cleared = [r for r in data.trajectory_rows if r["pnr"] == "b" * 32]
    assert [(r["current_position"], r["hours_to_chart"]) for r in cleared] == [(9, 46.0), (4, 16.0)]
    assert {r["final_code"] for r in cleared} == {"CNF_OR_RAC"} and cleared[0]["waitlist_type"] == "CKWL"
    assert {r["booking_position"] for r in cleared} == {9}
    still = [r for r in data.trajectory_rows if r["pnr"] == "a" * 32]
    assert {(r["final_code"], r["final_position"]) for r in still} == {("WL", 5)}
    assert data.skipped.reasons == {"trajectory: censored (stops before departure)": 1}


@pytest.mark.parametrize(("bad", "reason"), [
    ({"class": "ZZ"}, "lookup: unknown class"),
    ({"quota": "XXWL"}, "lookup: unknown quota"),
    ({"waiting_list": None}, "lookup: missing waiting_list"),
    ({"waiting_list": 0}, "lookup: WL out of range"),
    ({"status": "na"}, "lookup: no outcome (status is not success or failure)"),
    ({"prediction": 0}, "lookup: no outcome (the 2013 prediction was undecided)"),
    ({"boarding_time": "soon"}, "lookup: missing boarding_time"),
    ({"hours_before": -3}, "lookup: hours out of range"),
])
def test_a_bad_lookup_is_skipped_and_counted(tmp_path: Path, bad: dict[str, Any], reason: str) -> None:
    data = realdata.read(dump(tmp_path, [LOOKUP, {**LOOKUP, **bad}], []))
    assert len(data.lookups) == 1
    assert data.skipped.reasons == {reason: 1}


@pytest.mark.parametrize(("bad", "reason"), [
    ({"y_val": [9.0, 4.0, 0.0]}, "trajectory: WL grows"),
    ({"x_val": [0.0, 20.0]}, "trajectory: missing observations"),
    ({"date": "2013-11-10"}, "trajectory: bad date"),
    ({"class": "XX"}, "trajectory: unknown class"),
    ({"y_val": [0.0, "four", 9.0]}, "trajectory: bad observation"),
])
def test_a_bad_trajectory_is_skipped_and_counted(tmp_path: Path, bad: dict[str, Any], reason: str) -> None:
    data = realdata.read(dump(tmp_path, [], [CLEARED, {**CLEARED, "pnr": "d" * 32, **bad}]))
    assert {r["pnr"] for r in data.trajectory_rows} == {"b" * 32}
    assert data.skipped.reasons == {reason: 1}


def test_a_missing_or_broken_file_is_an_error_naming_it(tmp_path: Path) -> None:
    folder = dump(tmp_path, [LOOKUP], [CLEARED])
    (folder / "db" / realdata.LOOKUPS_FILE).write_bytes(b"\x20\x00\x00\x00not bson at all")
    with pytest.raises(realdata.RealDataError, match=realdata.LOOKUPS_FILE):
        realdata.read(folder)
    (folder / "db" / realdata.TRAJECTORIES_FILE).unlink()
    with pytest.raises(realdata.RealDataError, match=realdata.TRAJECTORIES_FILE):
        realdata.read(folder)


def test_the_split_keeps_a_pnr_that_boards_later_out_of_training(tmp_path: Path) -> None:
    early = {**LOOKUP, "pnr": "e" * 32, "boarding_time": dt.datetime(2013, 11, 1, 9, 0)}
    data = realdata.read(dump(tmp_path, [LOOKUP, early], [CLEARED, STILL_WL]))
    train, held = data.split()
    assert [r["pnr"] for r in held] == ["a" * 32]
    # The later PNR's trajectory is out too; the early lookup and the early trajectory are in.
    assert {r["pnr"] for r in train} == {"e" * 32, "b" * 32}
