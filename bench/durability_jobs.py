"""Durability of the jobs: each killed with SIGKILL mid-iteration, then run to the end (bench.durability).

Outbox, tracker and janitor run as supervisord runs them (`pnr-job <job> --once`), against
a real SecantusDB, a real predictor and a real SMTP server, with a queue of work large enough that
the kill lands mid-iteration: after a random amount of progress, plus a random fraction of one
item, so that it is not in step with the deliveries it watches. Also the table printing shared
with bench.durability.
"""
from __future__ import annotations

import argparse
import collections
import datetime as dt
import os
import random
import secrets
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pymongo

from app.services.store import Store, connect
from tests.support import BIN, REPO, MongoServer, SmtpSink, free_port, read_env_file

JOB_DEADLINE_S = 120.0
BENCH_DOMAIN = "durability.test"
NOTIFIED_FIELDS = ("notified_digest", "notified_status", "notified_at", "final")
OUTBOX_ITEMS = 400
TRACKER_PNRS = 30
TRACKER_SUBSCRIBERS_PER_PNR = 4
JANITOR_EXPIRED = 8000
JANITOR_LIVE = 800
PROGRESS_POLL_S = 0.005
KILL_JITTER_S = 0.03


def table(title: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Print a markdown table."""
    print(f"\n{title}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for row in rows:
        print("| " + " | ".join(str(c) for c in row) + " |")


def breakdown(counter: collections.Counter[str]) -> str:
    """'503: 12, ConnectionError: 1', or 'none'."""
    return ", ".join(f"{k}: {v}" for k, v in counter.most_common()) or "none"


def job_env(var: Path, smtp_port: int, mongo_uri: str = "", predictor: str = "") -> dict[str, str]:
    """The environment supervisord gives a job, with this run's ports and var/."""
    env = {**os.environ, **read_env_file(REPO / "etc" / "pnr.env.example"),
           "PNR_SECRET_KEY": secrets.token_urlsafe(16), "PNR_VAR_DIR": str(var), "PNR_SMTP_PORT": str(smtp_port),
           "PNR_ALERT_TO": "oncall@pnr.test", "PNR_RATE_LIMIT_STORAGE": "memory",
           "PATH": f"{BIN}:{os.environ['PATH']}"}
    if mongo_uri:
        env["PNR_MONGO_URI"] = mongo_uri
    if predictor:
        env["PNR_PREDICTOR_ENDPOINTS"] = predictor
    return env


def kill_runs(cmd: list[str], env: dict[str, str], cwd: Path, progress: Callable[[], int], kills: int,
              rng: random.Random, step: tuple[int, int], poll_s: float = PROGRESS_POLL_S) -> dict[str, Any]:
    """Run the job `kills` times, each SIGKILLed after a random amount of progress; then once to the end."""
    log_path = cwd / f"{cmd[3]}.log"
    killed, log = 0, open(log_path, "ab")
    try:
        for _ in range(kills):
            target = progress() + rng.randint(*step)
            proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            try:
                end = time.monotonic() + JOB_DEADLINE_S
                while proc.poll() is None and progress() < target and time.monotonic() < end:
                    time.sleep(poll_s)
                # Not in step with the progress just seen: anywhere in the item being worked on.
                time.sleep(rng.uniform(0, KILL_JITTER_S))
            finally:
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGKILL)
                    killed += 1
                proc.wait()
        started = time.monotonic()
        final = subprocess.run(cmd, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, timeout=JOB_DEADLINE_S)
        return {"killed": killed, "final_rc": final.returncode, "final_s": time.monotonic() - started,
                "errors": errors_logged(log_path)}
    finally:
        log.close()


def errors_logged(log_path: Path) -> str:
    """The job's ERROR lines (each one an alert mail), counted by message."""
    found: collections.Counter[str] = collections.Counter()
    for line in log_path.read_text(errors="replace").splitlines():
        if " ERROR " in line:
            found[line.split(" ERROR ", 1)[1].split(":", 2)[-1].strip()[:60]] += 1
    return breakdown(found)


def outbox_scenario(root: Path, kills: int, rng: random.Random) -> list[Any]:
    """Spooled mail, outbox killed while draining: every item delivered, how many twice."""
    from app import config
    from app.alerts.mail import MailSettings, complete, spool, spooled

    sink = SmtpSink().start()
    try:
        var = root / "outbox-var"
        var.mkdir()
        settings = MailSettings.from_config({**config.defaults(), "VAR_DIR": str(var), "SMTP_PORT": sink.port})
        for i in range(OUTBOX_ITEMS):
            message = EmailMessage()
            message["To"] = f"item-{i}@{BENCH_DOMAIN}"
            message["Subject"] = f"outbox item {i}"
            message["X-Bench-Item"] = str(i)
            message.set_content(f"item {i}\n")
            spool(settings, complete(message, settings))

        def items() -> list[str]:
            return [str(m["X-Bench-Item"]) for m in sink.received() if m["X-Bench-Item"]]

        run = kill_runs([str(BIN / "pnr-job"), "outbox", "--once"], job_env(var, sink.port), root,
                        lambda: len(items()), kills, rng, (5, 60))
        counts = collections.Counter(items())
        left = len(spooled(settings))
        tmp = len(list(settings.spool_dir.glob(".tmp-*")))
        return ["outbox (spooled mail)", OUTBOX_ITEMS, run["killed"], run["final_rc"],
                sum(1 for i in range(OUTBOX_ITEMS) if counts[str(i)] == 0),
                sum(1 for n in counts.values() if n > 1), f"{left} left in spool, {tmp} temp files", run["errors"]]
    finally:
        sink.stop()


def tracker_scenario(root: Path, kills: int, rng: random.Random) -> list[Any]:
    """Confirmed subscribers waiting for a change mail, tracker killed while mailing them."""
    from railsim.railway import Railway

    sink, server = SmtpSink().start(), MongoServer(root / "tracker-db")
    predictor = None
    try:
        server.start()
        port = free_port()
        predictor = subprocess.Popen(
            [str(BIN / "pnr-predictor"), "--host", "127.0.0.1", "--port-base", str(port), "--index", "0",
             "--model", str(REPO / "app" / "data" / "model-default.json")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        env = read_env_file(REPO / "etc" / "pnr.env.example")
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        pnrs = Railway(seed=int(env["PNR_SIM_SEED"]), era=env["PNR_SIM_ERA"]).sample_pnrs(now, TRACKER_PNRS)
        store = connect(server.uri, env["PNR_MONGO_DB"], 1500, 30)
        store.init_indexes()
        source = Railway(seed=int(env["PNR_SIM_SEED"]), era=env["PNR_SIM_ERA"])
        expected = 0
        for pnr in pnrs:
            journey = source.status(pnr, now).journey_date
            for k in range(TRACKER_SUBSCRIBERS_PER_PNR):
                store.confirm_subscription(store.subscribe(pnr, f"{pnr}-{k}@{BENCH_DOMAIN}", journey))
                expected += 1

        def mails() -> list[str]:
            return [str(m["To"]) for m in sink.received() if str(m["To"]).endswith(BENCH_DOMAIN)]

        var = root / "tracker-var"
        var.mkdir()
        env = job_env(var, sink.port, server.uri, f"tcp://127.0.0.1:{port}")
        run = kill_runs([str(BIN / "pnr-job"), "tracker", "--once", "--now", now.isoformat()],
                        env, root, lambda: len(mails()), kills, rng, (3, 25))
        # A tracker killed after marking a subscriber leaves the mail spooled: the kit's outbox sends it.
        left_to_outbox = len(list((var / "spool").glob("*.eml")))
        subprocess.run([str(BIN / "pnr-job"), "outbox", "--once"], env=env, cwd=root,
                       capture_output=True, timeout=JOB_DEADLINE_S, check=True)
        counts = collections.Counter(mails())
        subs = list(store.db.subscriptions.find({}))
        half = sum(1 for s in subs if 0 < sum(f in s for f in NOTIFIED_FIELDS) < len(NOTIFIED_FIELDS))
        untold = sum(1 for s in subs if "notified_digest" not in s)
        store.close()
        return ["tracker (change mail per subscriber)", expected, run["killed"], run["final_rc"],
                sum(1 for s in subs if counts[s["email"]] == 0), sum(1 for n in counts.values() if n > 1),
                f"{half} half-marked, {untold} never marked, {left_to_outbox} left to the outbox (sent by it)",
                run["errors"]]
    finally:
        if predictor is not None:
            os.killpg(predictor.pid, signal.SIGKILL)
            predictor.wait()
        server.stop()
        sink.stop()


def janitor_scenario(root: Path, kills: int, rng: random.Random) -> list[Any]:
    """Expired and live documents, janitor killed while deleting: expired all gone, live all kept."""
    server = MongoServer(root / "janitor-db")
    try:
        server.start()
        client: pymongo.MongoClient = pymongo.MongoClient(server.uri, tz_aware=True)
        name = read_env_file(REPO / "etc" / "pnr.env.example")["PNR_MONGO_DB"]
        Store(client, name).init_indexes()  # as the web app has made them; counting by expires_at stays cheap
        db = client[name]
        now = dt.datetime.now(dt.UTC)
        past, future = now - dt.timedelta(days=1), now + dt.timedelta(days=30)
        for coll, share in (("snapshots", 0.8), ("subscriptions", 0.1), ("pnrs", 0.1)):
            for expires_at, prefix, n in ((past, "e", JANITOR_EXPIRED), (future, "l", JANITOR_LIVE)):
                db[coll].insert_many([{"expires_at": expires_at, "pnr": f"{prefix}{i}", "digest": coll,
                                       "email": f"{prefix}{i}", "token": f"{coll}-{prefix}{i}"}
                                      for i in range(int(n * share))])

        def expired() -> int:
            return sum(db[n].count_documents({"expires_at": {"$lt": now}}) for n in ("snapshots", "subscriptions", "pnrs"))

        var = root / "janitor-var"
        var.mkdir()
        run = kill_runs([str(BIN / "pnr-job"), "janitor", "--once"], job_env(var, 1, server.uri),
                        root, lambda: JANITOR_EXPIRED - expired(), kills, rng, (1, JANITOR_EXPIRED // (kills + 2)), 0.1)
        live = sum(db[n].count_documents({"expires_at": {"$gt": now}}) for n in ("snapshots", "subscriptions", "pnrs"))
        left = expired()
        client.close()
        return ["janitor (expired documents)", JANITOR_EXPIRED, run["killed"], run["final_rc"], "",
                "", f"{left} expired left, {JANITOR_LIVE - live} live deleted", run["errors"]]
    finally:
        server.stop()


def jobs_scenario(args: argparse.Namespace) -> None:
    """Each job killed at random points mid-iteration, then run to the end."""
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="pnr-durability-") as tmp:
        rows = [outbox_scenario(Path(tmp), args.job_kills, rng), tracker_scenario(Path(tmp), args.job_kills, rng),
                janitor_scenario(Path(tmp), args.job_kills, rng)]
    table(f"Jobs killed (SIGKILL) mid-iteration, {args.job_kills} times each, then run to the end",
          ["job", "items", "kills mid-iteration", "last run's exit", "never done", "done twice", "left behind",
           "errors logged (mailed)"],
          rows)


