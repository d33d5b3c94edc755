"""Durability: the store killed under acknowledged writes, and jobs killed mid-iteration.

    .venv/bin/python -m bench.durability [--writers 3] [--kills 4] [--kill-every 3] [--job-kills 5] [--only store|jobs]

Store: starts the whole kit (bench.stack, the repo's own etc/supervisord.conf, SecantusDB with
--sync-on-commit as the `db` program runs it). Writers stream subscriptions (POST /pnr/<pnr>/track,
through the page's CSRF form: a 200 "we sent a confirmation link" is the acknowledgement) and
snapshots (GET /api/v1/pnr/<fresh pnr>: a 200 with tracking_available is the acknowledgement that
the status and its history are stored; the answer lists the stored history). Meanwhile the db
process is killed with SIGKILL every few seconds and supervisord restarts it. After the stream, one
more SIGKILL and restart, then every acknowledged write is looked for in the store.

The same, with SecantusDB started without --sync-on-commit: the store's writes beside the same
upsert sent with the client's default write concern, to show that the store's acknowledgement does
not depend on that server flag (a MongoDB standalone does not sync each commit either).

Jobs (bench.durability_jobs): outbox, tracker and janitor run as supervisord runs them (`flask
--app app <job> --once`), against a real SecantusDB, a real predictor and a real SMTP server, with a
queue of work large enough that SIGKILL lands mid-iteration at random points; then a last run
finishes the work. Counts: what was never done, what was done twice, what was left half-written.
"""
from __future__ import annotations

import argparse
import collections
import datetime as dt
import os
import random
import re
import secrets
import signal
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pymongo
import requests

from app.services.store import StoreUnavailable, connect
from bench.durability_jobs import BENCH_DOMAIN, breakdown, jobs_scenario, table
from bench.stack import running_stack, sample_pnrs
from tests.support import REPO, Kit, MongoServer, read_env_file, wait_for

HTTP_TIMEOUT_S = 30.0
RESTART_DEADLINE_S = 60.0
SUBSCRIPTION_PNRS = 20
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
SUBSCRIBED = "we sent a confirmation link"
# Everything the subscribe upsert writes: a document missing one of these is half-written.
SUBSCRIPTION_FIELDS = ("pnr", "email", "token", "confirmed", "created_at", "expires_at")
NOSYNC_STREAM_S = 1.5


class Writes:
    """What the writers attempted and what the site acknowledged, shared by the writer threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.attempted: collections.Counter[str] = collections.Counter()
        self.failed: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
        self.subscriptions: list[tuple[str, str]] = []  # acknowledged (pnr, email)
        self.snapshots: dict[str, set[dt.datetime]] = collections.defaultdict(set)  # pnr -> acknowledged as_of
        self.snapshot_acks = 0
        self.unacked_subscriptions: list[tuple[str, str]] = []

    def fail(self, kind: str, how: str) -> None:
        with self.lock:
            self.failed[kind][how] += 1


def _page_token(session: requests.Session, base: str, pnr: str, stop: threading.Event) -> str:
    """A CSRF token tied to the session's cookie, from the PNR page (lookups work with the store down)."""
    while not stop.is_set():
        try:
            r = session.get(f"{base}/pnr/{pnr}", timeout=HTTP_TIMEOUT_S)
            found = CSRF.search(r.text)
            if r.status_code == 200 and found:
                return found.group(1)
        except requests.RequestException:
            pass
        stop.wait(0.2)
    return ""


def subscription_writer(base: str, pnrs: list[str], index: int, writes: Writes, stop: threading.Event) -> None:
    """Subscribe new addresses until stopped; the page's 200 'confirmation link sent' is the acknowledgement."""
    session = requests.Session()
    token = _page_token(session, base, pnrs[0], stop)
    n = 0
    while not stop.is_set():
        pnr, email = pnrs[n % len(pnrs)], f"w{index}-{n}@{BENCH_DOMAIN}"
        n += 1
        with writes.lock:
            writes.attempted["subscriptions"] += 1
        try:
            r = session.post(f"{base}/pnr/{pnr}/track", data={"email": email, "csrf_token": token},
                             timeout=HTTP_TIMEOUT_S)
        except requests.RequestException as exc:
            writes.fail("subscriptions", type(exc).__name__)
            with writes.lock:
                writes.unacked_subscriptions.append((pnr, email))
            continue
        if r.status_code == 200 and SUBSCRIBED in r.text:
            with writes.lock:
                writes.subscriptions.append((pnr, email))
        else:
            writes.fail("subscriptions", f"HTTP {r.status_code}")
            with writes.lock:
                writes.unacked_subscriptions.append((pnr, email))


def snapshot_writer(base: str, index: int, seed: int, writes: Writes, stop: threading.Event) -> None:
    """Look up fresh PNRs until stopped: each stores a status and its history; the answer lists what is stored."""
    session = requests.Session()
    rng = random.Random(seed * 1000 + index)
    while not stop.is_set():
        pnr = f"{rng.randint(1, 9)}{rng.randrange(10**9):09d}"
        with writes.lock:
            writes.attempted["snapshots"] += 1
        try:
            r = session.get(f"{base}/api/v1/pnr/{pnr}", timeout=HTTP_TIMEOUT_S)
        except requests.RequestException as exc:
            writes.fail("snapshots", type(exc).__name__)
            continue
        if r.status_code == 404:  # a flushed PNR: nothing to store, not a write
            with writes.lock:
                writes.attempted["snapshots"] -= 1
            continue
        body = r.json() if r.headers.get("Content-Type", "").startswith("application/json") else {}
        if r.status_code == 200 and body.get("tracking_available"):
            stored = {dt.datetime.fromisoformat(h["as_of"]) for h in body["history"]}
            with writes.lock:
                writes.snapshot_acks += 1
                writes.snapshots[pnr] |= stored
        elif r.status_code == 200:
            writes.fail("snapshots", "HTTP 200 without tracking (store down)")
        else:
            writes.fail("snapshots", f"HTTP {r.status_code}")


def db_pid(kit: Kit) -> int | None:
    """The db program's pid while supervisord reports it RUNNING."""
    state = kit.states().get("db", ("", ""))[0]
    out = kit.ctl("pid", "db").stdout.strip()
    return int(out) if state == "RUNNING" and out.isdigit() and out != "0" else None


def kill_db(kit: Kit, client: pymongo.MongoClient) -> float:
    """SIGKILL the db; seconds until the db supervisord restarted answers a ping."""
    old = wait_for(lambda: db_pid(kit), RESTART_DEADLINE_S, "db RUNNING")
    os.kill(old, signal.SIGKILL)
    killed = time.monotonic()
    wait_for(lambda: client.admin.command("ping"), RESTART_DEADLINE_S, "db answering", interval_s=0.02)
    answered = time.monotonic() - killed
    wait_for(lambda: (pid := db_pid(kit)) and pid != old, RESTART_DEADLINE_S, "supervisord reporting the new db")
    return answered


def store_scenario(args: argparse.Namespace) -> None:
    """Stream acknowledged writes through the web app while the db is killed; count what is missing."""
    unlimited = {"PNR_RATE_LIMIT_LOOKUP": "1000000/minute", "PNR_RATE_LIMIT_TRACK": "1000000/minute",
                 "PNR_RATE_LIMIT_TRACK_PER_ADDRESS": "1000000/day"}
    with running_stack(**unlimited) as (kit, smtp):
        base = f"http://127.0.0.1:{kit.web_port}"
        client: pymongo.MongoClient = pymongo.MongoClient(kit.env["PNR_MONGO_URI"], serverSelectionTimeoutMS=500,
                                                          tz_aware=True)
        try:
            pnrs = sample_pnrs(kit, SUBSCRIPTION_PNRS)
            writes, stop = Writes(), threading.Event()
            threads = [threading.Thread(target=subscription_writer, args=(base, pnrs, i, writes, stop))
                       for i in range(args.writers)]
            threads += [threading.Thread(target=snapshot_writer, args=(base, i, args.seed, writes, stop))
                        for i in range(args.writers)]
            started = time.monotonic()
            for t in threads:
                t.start()
            restarts = []
            try:
                for _ in range(args.kills):
                    time.sleep(args.kill_every)
                    restarts.append(kill_db(kit, client))
                time.sleep(args.kill_every)
            finally:
                stop.set()
                for t in threads:
                    t.join()
            streamed_s = time.monotonic() - started
            # The writes acknowledged after the last kill must survive one too.
            restarts.append(kill_db(kit, client))
            confirmations = collections.Counter(str(m["To"]) for m in smtp.received()
                                                if str(m["Subject"]).startswith("Confirm tracking"))
            report_store(writes, client[kit.env["PNR_MONGO_DB"]], confirmations, restarts, streamed_s, args)
        finally:
            client.close()


def report_store(writes: Writes, db: Any, confirmations: collections.Counter[str], restarts: list[float],
                 streamed_s: float, args: argparse.Namespace) -> None:
    """Look for every acknowledged write in the restarted store and print the tables."""
    subs = list(db.subscriptions.find({"email": {"$regex": f"@{re.escape(BENCH_DOMAIN)}$"}}))
    by_key = collections.Counter((s["pnr"], s["email"]) for s in subs)
    half = sum(1 for s in subs if any(f not in s for f in SUBSCRIPTION_FIELDS))
    sub_missing = sum(1 for key in writes.subscriptions if by_key[key] == 0)
    sub_dups = sum(n - 1 for n in by_key.values() if n > 1)
    stored_unacked = sum(1 for key in writes.unacked_subscriptions if by_key[key])

    snaps = list(db.snapshots.find({"pnr": {"$in": list(writes.snapshots)}}, {"pnr": 1, "digest": 1, "status.as_of": 1}))
    stored_as_of: dict[str, set[dt.datetime]] = collections.defaultdict(set)
    for s in snaps:
        stored_as_of[s["pnr"]].add(dt.datetime.fromisoformat(s["status"]["as_of"]))
    snap_acked = sum(len(v) for v in writes.snapshots.values())
    snap_missing = sum(len(v - stored_as_of[pnr]) for pnr, v in writes.snapshots.items())
    snap_dups = sum(n - 1 for n in collections.Counter((s["pnr"], s["digest"]) for s in snaps).values() if n > 1)
    pnr_docs = {d["_id"] for d in db.pnrs.find({"_id": {"$in": list(writes.snapshots)}}, {"_id": 1})}
    pnr_missing = len(set(writes.snapshots) - pnr_docs)

    table(f"Store killed (SIGKILL) {args.kills} times during {streamed_s:.0f} s of writes, once more after; "
          f"{args.writers} writers per kind",
          ["writes", "attempted", "acknowledged", "failed (answer)", "missing after restart", "duplicates",
           "half-written", "stored though not acknowledged"],
          [["subscriptions (POST /pnr/…/track)", writes.attempted["subscriptions"], len(writes.subscriptions),
            f"{sum(writes.failed['subscriptions'].values())} ({breakdown(writes.failed['subscriptions'])})",
            sub_missing, sub_dups, half, stored_unacked],
           ["lookups storing a snapshot (GET /api/v1/pnr/…)", writes.attempted["snapshots"], writes.snapshot_acks,
            f"{sum(writes.failed['snapshots'].values())} ({breakdown(writes.failed['snapshots'])})",
            f"{pnr_missing} PNRs", "", "", ""],
           ["snapshots listed in acknowledged answers", "", snap_acked, "", snap_missing, snap_dups, "", ""],
           ["confirmation mails of acknowledged subscriptions (at the SMTP server)", "", len(writes.subscriptions), "",
            sum(1 for _, email in writes.subscriptions if not confirmations[email]),
            sum(confirmations[email] - 1 for _, email in writes.subscriptions if confirmations[email] > 1), "", ""]])
    table("db restarts (SIGKILL until supervisord's new db answers ping)",
          ["kill", "seconds to answer again"],
          [[i + 1, f"{s:.2f}"] for i, s in enumerate(restarts)])


def nosync_scenario(args: argparse.Namespace) -> None:
    """Store writes beside plain default-concern writes on a db without --sync-on-commit, killed mid-stream."""
    db_name = read_env_file(REPO / "etc" / "pnr.env.example")["PNR_MONGO_DB"]
    acked: dict[str, list[str]] = {"store": [], "plain": []}
    with tempfile.TemporaryDirectory(prefix="pnr-durability-") as tmp:
        server = MongoServer(Path(tmp) / "db", sync_on_commit=False)
        server.start()
        try:
            for k in range(args.kills):
                store = connect(server.uri, db_name, 1500, 30)
                plain: pymongo.MongoClient = pymongo.MongoClient(server.uri, serverSelectionTimeoutMS=1500)
                stop = threading.Event()

                def write(kind: str, i: int, k: int = k, store: Any = store, plain: Any = plain,
                          stop: threading.Event = stop) -> None:
                    n = 0
                    while not stop.is_set():
                        email = f"{kind}-{k}-{i}-{n}@{BENCH_DOMAIN}"
                        try:
                            if kind == "store":
                                store.subscribe("2400000002", email, dt.date(2026, 12, 15))
                            else:  # what the store sent before: the client's default write concern (w: 1)
                                plain[db_name].plain.update_one(
                                    {"pnr": "2400000002", "email": email},
                                    {"$setOnInsert": {"token": secrets.token_urlsafe(24), "confirmed": False}}, upsert=True)
                        except (StoreUnavailable, pymongo.errors.PyMongoError):
                            return
                        acked[kind].append(email)
                        n += 1

                threads = [threading.Thread(target=write, args=(kind, i)) for kind in acked for i in range(args.writers)]
                for t in threads:
                    t.start()
                time.sleep(NOSYNC_STREAM_S)
                server.stop(signal.SIGKILL)
                stop.set()
                for t in threads:
                    t.join()
                store.close()
                plain.close()
                server.start()
            client: pymongo.MongoClient = pymongo.MongoClient(server.uri)
            stored = {kind: {d["email"] for d in client[db_name][coll].find({}, {"email": 1})}
                      for kind, coll in (("store", "subscriptions"), ("plain", "plain"))}
            client.close()
        finally:
            server.stop()
    table(f"SecantusDB WITHOUT --sync-on-commit, SIGKILLed {args.kills} times under {args.writers} writers per kind",
          ["writes", "acknowledged", "missing after restart"],
          [["Store.subscribe (journaled acknowledgement, j: true)", len(acked["store"]),
            sum(1 for e in acked["store"] if e not in stored["store"])],
           ["the same upsert, client default write concern (w: 1)", len(acked["plain"]),
            sum(1 for e in acked["plain"] if e not in stored["plain"])]])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--writers", type=int, default=3, help="Concurrent writers per kind of write.")
    parser.add_argument("--kills", type=int, default=4, help="SIGKILLs of the db during the stream.")
    parser.add_argument("--kill-every", type=float, default=3.0, help="Seconds between SIGKILLs of the db.")
    parser.add_argument("--job-kills", type=int, default=5, help="SIGKILLs of each job.")
    parser.add_argument("--seed", type=int, default=7, help="Random seed (PNRs looked up, kill points).")
    parser.add_argument("--only", choices=("store", "jobs"), help="Run one scenario.")
    args = parser.parse_args(argv)
    started = time.monotonic()
    if args.only != "jobs":
        store_scenario(args)
        nosync_scenario(args)
    if args.only != "store":
        jobs_scenario(args)
    print(f"\n(whole run {time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
