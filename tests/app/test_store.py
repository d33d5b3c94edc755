"""The store against a real SecantusDB server: idempotent writes, concurrency, failures mapped."""
from __future__ import annotations

import dataclasses
import datetime as dt
import multiprocessing
import signal
from collections.abc import Iterator

import pytest

from app.pnr import JourneyClass, Passenger, PnrStatus, SeatStatus, StatusCode
from support import MongoServer

from app.store import Store, StoreUnavailable, connect

NOW = dt.datetime(2026, 11, 20, 6, 0, tzinfo=dt.timezone.utc)
ACKNOWLEDGED_BEFORE_KILL = 300


def make_status(pnr: str, wl: int, as_of: dt.datetime = NOW) -> PnrStatus:
    """A waitlisted one-passenger status whose current position is `wl`."""
    return PnrStatus(
        pnr=pnr, train_number="12951", train_name="MUMBAI RAJDHANI", journey_date=dt.date(2026, 12, 1),
        from_station="MMCT", to_station="NDLS", journey_class=JourneyClass.THIRD_AC, quota="GN", chart_prepared=False,
        passengers=(Passenger(1, SeatStatus(StatusCode.WL, 40, waitlist_type="GNWL"), SeatStatus(StatusCode.WL, wl, waitlist_type="GNWL")),),
        as_of=as_of, chart_time=dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.timezone.utc),
    )


@pytest.fixture
def store(mongo_server) -> Iterator[Store]:
    s = connect(mongo_server.uri, "pnr_test", 1000, 30)
    s.init_indexes()
    yield s
    s.close()


def test_snapshots_store_changes_only_and_keep_order(store: Store) -> None:
    first = make_status("2412345678", 30)
    assert store.record_snapshot(first)
    assert not store.record_snapshot(dataclasses.replace(first, as_of=NOW + dt.timedelta(hours=1)))
    later = make_status("2412345678", 21, NOW + dt.timedelta(hours=2))
    assert store.record_snapshot(later)
    history = store.history("2412345678")
    assert [h.passengers[0].current_status.position for h in history] == [30, 21]
    assert store.last_snapshot("2412345678") == later
    assert store.last_snapshot("2412345679") is None


def test_indexes_are_idempotent(store: Store) -> None:
    store.init_indexes()
    store.init_indexes()
    assert "pnr_1_digest_1" in store.db.snapshots.index_information()


def test_subscriptions_need_confirmation(store: Store) -> None:
    token = store.subscribe("2412345678", "a@example.org", dt.date(2026, 12, 1))
    assert store.subscribe("2412345678", "a@example.org", dt.date(2026, 12, 1)) == token
    assert store.tracked_pnrs() == []
    assert store.confirm_subscription(token)["confirmed"] is True
    assert store.confirm_subscription("nope") is None
    assert store.tracked_pnrs() == ["2412345678"]


def test_retention_purges_only_expired(store: Store) -> None:
    store.record_snapshot(make_status("2412345678", 30))
    assert store.purge_expired(NOW)["snapshots"] == 0
    purged = store.purge_expired(dt.datetime(2027, 1, 15, tzinfo=dt.timezone.utc))
    assert purged == {"snapshots": 1, "subscriptions": 0, "pnrs": 1}


def _writer(uri: str, seed: int, pnrs: list[str], positions: list[int]) -> None:
    s = connect(uri, "pnr_test", 5000, 30)
    s.init_indexes()
    for position in positions:
        for pnr in pnrs:
            s.record_snapshot(make_status(pnr, position))
    s.record_outcomes(
        [{"pnr": p, "journey_date": "2026-12-01", "passenger": 1, "hours_to_chart": float(h), "final_code": "CNF"}
         for p in pnrs for h in positions]
    )
    s.close()


def test_concurrent_processes_lose_nothing_and_duplicate_nothing(store: Store, mongo_server) -> None:
    pnrs = [f"24{i:08d}" for i in range(20)]
    positions = list(range(30, 20, -1))
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(mongo_server.uri, seed, pnrs, positions)) for seed in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    assert store.db.snapshots.count_documents({}) == len(pnrs) * len(positions)
    assert store.db.pnrs.count_documents({}) == len(pnrs)
    assert store.db.outcomes.count_documents({}) == len(pnrs) * len(positions)
    for pnr in pnrs:
        assert sorted(h.passengers[0].current_status.position for h in store.history(pnr)) == sorted(positions)


def test_quota_exceeded_becomes_store_unavailable(store: Store) -> None:
    store.client.admin.command(
        "configureFailPoint", "failCommand", mode="alwaysOn",
        data={"failCommands": ["update"], "errorCode": 12501, "errmsg": "quota exceeded"},
    )
    try:
        with pytest.raises(StoreUnavailable, match="OperationFailure"):
            store.record_snapshot(make_status("2412345678", 30))
    finally:
        store.client.admin.command("configureFailPoint", "failCommand", mode="off")
    assert store.record_snapshot(make_status("2412345678", 30))


def test_server_down_becomes_store_unavailable(mongo_server) -> None:
    s = connect(mongo_server.uri, "pnr_test", 300, 30)
    mongo_server.stop()
    with pytest.raises(StoreUnavailable):
        s.ping()
    s.close()


def test_acknowledged_writes_survive_a_killed_server_that_does_not_sync_every_commit(tmp_path) -> None:
    # The kit's db syncs every commit; the store must not depend on that (a MongoDB standalone does not).
    server = MongoServer(tmp_path / "db", sync_on_commit=False)
    server.start()
    stores: list[Store] = []
    try:
        stores.append(store := connect(server.uri, "pnr_test", 1000, 30))
        store.init_indexes()
        acknowledged = []
        for i in range(ACKNOWLEDGED_BEFORE_KILL):
            store.subscribe("2412345678", f"s{i}@example.org", dt.date(2026, 12, 1))
            acknowledged.append(f"s{i}@example.org")
        store.record_snapshot(make_status("2412345678", 30))
        server.stop(signal.SIGKILL)
        server.start()
        stores.append(store := connect(server.uri, "pnr_test", 1000, 30))
        stored = {doc["email"] for doc in store.db.subscriptions.find({}, {"email": 1})}
        assert [a for a in acknowledged if a not in stored] == []
        assert store.last_snapshot("2412345678") == make_status("2412345678", 30)
    finally:
        for s in stores:
            s.close()
        server.stop()
