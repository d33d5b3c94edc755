"""The store against a real SecantusDB server: idempotent writes, concurrency, failures mapped."""
from __future__ import annotations

import dataclasses
import datetime as dt
import multiprocessing
import signal
import time
from collections.abc import Iterator

import pymongo
import pytest
from pymongo import monitoring
from support import MongoServer, over_quota, wait_for

from app.domain.pnr import JourneyClass, Passenger, PnrStatus, SeatStatus, StatusCode
from app.services.store import Store, StoreUnavailable, connect, retention, status_digest

NOW = dt.datetime(2026, 11, 20, 6, 0, tzinfo=dt.UTC)
ACKNOWLEDGED_BEFORE_KILL = 300


def make_status(pnr: str, wl: int, as_of: dt.datetime = NOW) -> PnrStatus:
    """A waitlisted one-passenger status whose current position is `wl`."""
    return PnrStatus(
        pnr=pnr, train_number="12951", train_name="MUMBAI RAJDHANI", journey_date=dt.date(2026, 12, 1),
        from_station="MMCT", to_station="NDLS", journey_class=JourneyClass.THIRD_AC, quota="GN", chart_prepared=False,
        passengers=(Passenger(1, SeatStatus(StatusCode.WL, 40, waitlist_type="GNWL"), SeatStatus(StatusCode.WL, wl, waitlist_type="GNWL")),),
        as_of=as_of, chart_time=dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC),
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
    purged = store.purge_expired(dt.datetime(2027, 1, 15, tzinfo=dt.UTC))
    assert purged == {"snapshots": 1, "subscriptions": 0, "pnrs": 1}


def test_retention_deletes_a_backlog_in_bounded_commands(mongo_server, monkeypatch) -> None:
    # A backlog in one delete_many outlasts the client's socket timeout: the janitor then reports
    # a busy store as unavailable. Expiry dates lie past the real clock, so no TTL monitor interferes.
    monkeypatch.setattr(retention, "PURGE_BATCH", 50)
    purge_at = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)
    expired_at, live_at = purge_at - dt.timedelta(days=1), purge_at + dt.timedelta(days=1)
    expired = {"snapshots": 300, "subscriptions": 120, "pnrs": 50}
    listener = StartedCommands({"delete"})
    store = Store(pymongo.MongoClient(mongo_server.uri, event_listeners=[listener], tz_aware=True), "pnr_test")
    try:
        store.init_indexes()
        for name, count in expired.items():
            store.db[name].insert_many(
                [{"pnr": f"24{i:08d}", "digest": f"e{i}", "token": f"e{i}", "email": f"e{i}@example.org", "expires_at": expired_at} for i in range(count)]
                + [{"pnr": f"25{i:08d}", "digest": f"l{i}", "token": f"l{i}", "email": f"l{i}@example.org", "expires_at": live_at} for i in range(20)]
            )
        listener.commands.clear()
        assert store.purge_expired(purge_at) == expired
        for name in expired:
            assert store.db[name].count_documents({"expires_at": {"$lt": purge_at}}) == 0
            assert store.db[name].count_documents({"expires_at": live_at}) == 20
        sizes = [len(cmd["deletes"][0]["q"].get("_id", {}).get("$in", ())) for _, cmd in listener.commands]
        assert sizes and all(0 < size <= 50 for size in sizes), sizes
        assert sum(sizes) == sum(expired.values())
    finally:
        store.close()


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
    with over_quota(store.client):
        with pytest.raises(StoreUnavailable, match=r"^quota exceeded \(error 12501\): OperationFailure") as raised:
            store.record_snapshot(make_status("2412345678", 30))
        assert raised.value.alert_cause == "quota exceeded (error 12501)"
    assert store.record_snapshot(make_status("2412345678", 30))


def test_server_down_becomes_store_unavailable(mongo_server) -> None:
    s = connect(mongo_server.uri, "pnr_test", 300, 30)
    mongo_server.stop()
    with pytest.raises(StoreUnavailable, match="^unreachable: ") as raised:
        s.ping()
    assert raised.value.alert_cause == "unreachable"
    s.close()


def test_a_store_found_down_fails_at_once_until_it_is_seen_again(mongo_server) -> None:
    """Every lookup waiting out the server-selection timeout would queue visitors behind each other."""
    s = connect(mongo_server.uri, "pnr_test", 1000, 30)
    s.ping()
    mongo_server.stop()
    started = time.monotonic()
    with pytest.raises(StoreUnavailable, match="^unreachable: "):
        s.ping()
    assert time.monotonic() - started >= 0.9  # the first call waits for the server
    for call in (s.ping, lambda: s.history("2412345678"), lambda: s.record_snapshot(make_status("2412345678", 30))):
        started = time.monotonic()
        with pytest.raises(StoreUnavailable, match="not seen since") as raised:
            call()
        assert time.monotonic() - started < 0.3 and raised.value.alert_cause == "unreachable"
    mongo_server.start()
    wait_for(lambda: s.ping() is None, 10, "the store answering again")
    assert s.record_snapshot(make_status("2412345678", 30))
    s.close()


class StartedCommands(monitoring.CommandListener):
    """Keeps the commands a client sends whose name is in `names`, in order."""

    def __init__(self, names: set[str]):
        self.names = names
        self.commands: list[tuple[str, dict]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name in self.names:
            self.commands.append((event.command_name, dict(event.command)))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


def test_a_known_status_writes_nothing_and_a_new_one_changes_the_history_version(mongo_server) -> None:
    listener = StartedCommands({"insert", "update", "delete", "findAndModify"})
    writes = listener.commands
    store = Store(pymongo.MongoClient(mongo_server.uri, event_listeners=[listener], tz_aware=True), "pnr_test")
    try:
        store.init_indexes()
        first = make_status("2412345678", 30)
        assert store.history_version("2412345678") is None
        assert store.record_snapshot(first)
        version = store.history_version("2412345678")
        assert version is not None
        writes.clear()
        assert not store.record_snapshot(dataclasses.replace(first, as_of=NOW + dt.timedelta(hours=1)))
        assert [name for name, _ in writes] == ["update"]  # the snapshot's upsert finds it: no commit, and the PNR's document is left alone
        assert store.history_version("2412345678") == version
        assert store.record_snapshot(make_status("2412345678", 21, NOW + dt.timedelta(hours=2)))
        assert store.history_version("2412345678") not in (None, version)
        assert [d for d, _ in store.history_entries("2412345678")] == [status_digest(s) for s in store.history("2412345678")]
        seeded = [make_status("2412345679", wl, NOW + dt.timedelta(hours=wl)) for wl in (3, 2)]
        assert store.record_history(seeded) == 2 and store.history_version("2412345679") is not None
    finally:
        store.close()


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


def test_a_lookup_records_its_status_and_reads_its_history_in_one_store_call(mongo_server) -> None:
    """record_status: one read when the caller's copy is current, two when the status is known but
    the copy is not, and for a new status version, history, snapshot, pnrs and the history again;
    the first time a PNR is seen its past statuses are stored with it."""
    listener = StartedCommands({"find", "insert", "update", "delete", "findAndModify"})
    store = Store(pymongo.MongoClient(mongo_server.uri, event_listeners=[listener], tz_aware=True), "pnr_test")
    copies: dict[str, list[PnrStatus]] = {}

    def cached(version: str, digest: str) -> list[PnrStatus] | None:
        return copies.get(f"{version}|{digest}")

    past = [make_status("2412345670", wl, NOW - dt.timedelta(hours=wl)) for wl in (40, 35)]
    try:
        store.init_indexes()
        now = make_status("2412345670", 30)
        listener.commands.clear()
        first = store.record_status(now, cached, lambda: past)
        assert [s.passengers[0].current_status.position for s in first.history] == [40, 35, 30]
        assert [name for name, _ in listener.commands] == ["find", "find", "update", "update", "find"]
        assert first.version == store.history_version("2412345670") and first.entries is not None
        copies[f"{first.version}|{status_digest(now)}"] = first.history

        listener.commands.clear()
        again = store.record_status(dataclasses.replace(now, as_of=NOW + dt.timedelta(hours=1)), cached, list)
        assert [name for name, _ in listener.commands] == ["find"] and again.entries is None
        assert again.history == first.history and again.version == first.version

        copies.clear()
        listener.commands.clear()
        uncached = store.record_status(now, cached, list)
        assert [name for name, _ in listener.commands] == ["find", "find"] and uncached.history == first.history

        listener.commands.clear()
        later = store.record_status(make_status("2412345670", 21, NOW + dt.timedelta(hours=2)), cached, list)
        assert [name for name, _ in listener.commands] == ["find", "find", "update", "update", "find"]
        assert later.version not in (None, first.version) and later.version == store.history_version("2412345670")
        assert [s.passengers[0].current_status.position for s in later.history] == [40, 35, 30, 21]
    finally:
        store.close()
