"""Lookups under faults: predictors killed and frozen, the store stopped and over quota.

    .venv/bin/python -m bench.chaos [--clients 8] [--kill-s 60] [--kill-every-s 2]

Starts the whole kit from the repo's etc/supervisord.conf in a temporary directory (bench.stack;
the db program with --enable-test-commands so that configureFailPoint works), warms it up, and
keeps CLIENTS concurrent clients looking PNRs up (the API, and every fifth request the page)
while, phase after phase:

- baseline: nothing is wrong;
- predictor kill -9: every KILL_EVERY_S one predictor (alternating) is killed; after each kill, the
  time until that endpoint answers `ping` again (from a new process) is measured;
- predictor frozen: SIGSTOP on predictor-0, SIGCONT after FREEZE_S;
- store stopped: `supervisorctl stop db`, `start db` after STORE_S;
- store over quota: `configureFailPoint failCommand` makes every write fail with
  OperationFailure 12501 "quota exceeded" for STORE_S.

Each phase is followed by a recovery window as long as the alert listener needs to send a quiet
digest, so that every mail lands in the phase that caused it. Before each store phase a few
addresses subscribe to tracking; after it they (and every stored snapshot) must still be there.

After the phases, with no load, predictor-0 is killed IDLE_KILLS more times, one at a time: the
reference the restart times under load are compared with.

Prints per phase: requests, 5xx, answers without an HTTP answer at all, the share of answers that
carry a prediction, latency p50/p99/worst (and p99 as a multiple of the baseline's); per kill, the
seconds until supervisord spawned a new process, it listened and it answered ping; how long both
predictors were down at once (a restart slower than the time between kills) and the share of
predictions among the requests that never met such a moment; the alert mails
received per phase; the writes before and after each outage; the issue's targets, met or missed.
The lookup rate limits are lifted (all the load comes from one address), and flood control's quiet
time is QUIET_S so that a phase's digest arrives within its recovery window.
"""
from __future__ import annotations

import argparse
import datetime as dt
import http.client
import http.cookiejar
import json
import math
import os
import re
import signal
import statistics
import threading
import time
import urllib.parse
import urllib.request
import xmlrpc.client
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pymongo
import zmq
from supervisor.xmlrpc import SupervisorTransport

from bench.stack import running_stack, sample_pnrs
from predictor import protocol
from tests.support import Kit, SmtpSink, over_quota, wait_for

PNRS = 24
PAGE_EVERY = 5  # every fifth request of a client is the HTML page, the others the API
REQUEST_TIMEOUT_S = 35.0  # above gunicorn's 30 s worker timeout: a stuck worker shows as a 5xx or no answer
PING_RESEND_S = 1.0  # Lazy Pirate for the recovery probe: a fresh socket and request this often
RECONNECT_IVL_MS = 10  # the probe notices a restarted predictor within this
PING_GIVE_UP_S = 30.0
QUIET_S = 5  # PNR_ALERT_QUIET_S: a stopped storm's digest goes out this long after its last alert
RECOVERY_S = QUIET_S + 7  # quiet time plus the listener's TICK_5 and a margin
SUBSCRIBERS_PER_OUTAGE = 4
IDLE_KILLS = 3
# One client address does all the load: lift the per-address limits far above it (a moving window of
# N per second keeps at most N timestamps per address, so N stays small). Every lookup asks the
# source, the store and the predictors: one answered again from memory (app.services.recent) would not meet
# the fault at all.
OVERRIDES = {
    "PNR_LOOKUP_CACHE_S": "0",
    "PNR_RATE_LIMIT_LOOKUP": "2000/second",
    "PNR_RATE_LIMIT_TRACK": "100/second",
    "PNR_RATE_LIMIT_TRACK_PER_ADDRESS": "100/day",
}
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Answer:
    """One request as a client saw it."""

    started: float
    latency_s: float
    page: bool
    status: int  # 0: no HTTP answer (refused, reset, timed out)
    predicted: bool


@dataclass
class Phase:
    """A stretch of the run; requests count where they started, mails where they arrived."""

    name: str
    started: float
    ended: float = 0.0
    mails: list[str] = field(default_factory=list)


class Load:
    """CLIENTS threads, each looking PNRs up one after another, as fast as answers come."""

    def __init__(self, port: int, pnrs: list[str], clients: int):
        self.port, self.pnrs, self.clients = port, pnrs, clients
        self.answers: list[Answer] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._client, args=(i,), daemon=True) for i in range(clients)]

    def __enter__(self) -> Load:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(REQUEST_TIMEOUT_S + 5)

    def _client(self, index: int) -> None:
        n = index
        while not self._stop.is_set():
            pnr = self.pnrs[n % len(self.pnrs)]
            page = n % PAGE_EVERY == 0
            answer = lookup(self.port, pnr, page)
            with self._lock:
                self.answers.append(answer)
            n += self.clients

    def between(self, start: float, end: float) -> list[Answer]:
        """Answers to requests started in [start, end)."""
        with self._lock:
            return [a for a in self.answers if start <= a.started < end]


def lookup(port: int, pnr: str, page: bool) -> Answer:
    """One lookup; whether the answer carries a prediction for the waitlisted passengers."""
    path = f"/pnr/{pnr}" if page else f"/api/v1/pnr/{pnr}"
    started = time.monotonic()
    status, predicted = 0, False
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT_S)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
        status = response.status
        if status == 200 and page:
            predicted = b'<span class="pct">' in body and b'data-notice="prediction"' not in body
        elif status == 200:
            data = json.loads(body)
            predicted = bool(data["prediction_available"]) and any(p["prediction"] for p in data["pnr"]["passengers"])
    except (OSError, http.client.HTTPException, ValueError, KeyError):
        pass
    finally:
        conn.close()
    return Answer(started, time.monotonic() - started, page, status, predicted)


def ping_recovery(endpoint: str, old_pid: int, killed_at: float) -> float | None:
    """Seconds from the kill until a new process answers `ping` on the endpoint (None: gave up)."""
    context = zmq.Context.instance()
    end = killed_at + PING_GIVE_UP_S
    while time.monotonic() < end:
        sock = context.socket(zmq.REQ)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.RECONNECT_IVL, RECONNECT_IVL_MS)
        sock.connect(endpoint)
        try:
            request_id, payload = protocol.encode_request("ping")
            sock.send(payload)
            if sock.poll(int(PING_RESEND_S * 1000), zmq.POLLIN):
                reply = protocol.decode_reply(sock.recv_multipart())
                if reply.get("ok") and reply.get("id") == request_id and reply.get("pid") != old_pid:
                    return time.monotonic() - killed_at
        finally:
            sock.close(linger=0)
    return None


def supervisor(kit: Kit) -> Any:
    """supervisord's XML-RPC interface over the kit's control socket (what supervisorctl talks to,
    without starting a Python process per question while the machine is under load)."""
    transport = SupervisorTransport(None, None, f"unix://{kit.var / 'run' / 'supervisor.sock'}")
    return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport).supervisor


def program_pid(rpc: Any, name: str) -> int:
    """The pid supervisord reports for a program (0 when it has none)."""
    return int(rpc.getProcessInfo(name)["pid"])


@dataclass
class Kill:
    """One kill -9 of a predictor and how its restart went (seconds after the kill)."""

    program: str
    at_s: float  # since the phase began
    killed_at: float  # wall clock, to find the restart in supervisord's log
    killed_mono: float  # monotonic clock, to compare with the requests
    old_pid: int
    ping_s: float | None = None  # a new process answered ping
    spawned_s: float | None = None  # supervisord spawned the new process
    listening_s: float | None = None  # the new process logged that it listens (model loaded, socket bound)


def kill_predictors(kit: Kit, seconds: float, every_s: float) -> list[Kill]:
    """kill -9 a predictor every `every_s`, alternating, each followed by a probe timing its return."""
    names = ["predictor:predictor-0", "predictor:predictor-1"]
    endpoints = {n: f"tcp://127.0.0.1:{int(kit.env['PNR_PREDICTOR_PORT_BASE']) + i}" for i, n in enumerate(names)}
    rpc = supervisor(kit)
    kills: list[Kill] = []
    probes = []
    start = time.monotonic()
    for i in range(int(seconds / every_s)):
        time.sleep(max(0.0, start + i * every_s - time.monotonic()))
        name = names[i % 2]
        pid = program_pid(rpc, name)
        if not pid:  # not running at all: counted as a kill that never came back
            kills.append(Kill(name, time.monotonic() - start, time.time(), time.monotonic(), 0))
            continue
        os.kill(pid, signal.SIGKILL)
        kill = Kill(name, time.monotonic() - start, time.time(), time.monotonic(), pid)
        kills.append(kill)

        def probe(kill: Kill = kill) -> None:
            kill.ping_s = ping_recovery(endpoints[kill.program], kill.old_pid, kill.killed_mono)

        t = threading.Thread(target=probe, daemon=True)
        t.start()
        probes.append(t)
    time.sleep(max(0.0, start + seconds - time.monotonic()))
    for t in probes:
        t.join(PING_GIVE_UP_S + 5)
    return kills


LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ")


def _log_time(line: str) -> float:
    found = LOG_TIME.match(line)
    return dt.datetime.strptime(found.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp() if found else 0.0


def restart_steps(kit: Kit, kills: list[Kill]) -> None:
    """From the logs: when supervisord spawned each killed predictor's successor, and when it listened."""
    log_dir = kit.var / "log"
    spawned = [line for line in (log_dir / "supervisord.log").read_text().splitlines() if "INFO spawned: 'predictor-" in line]
    for kill in kills:
        short = kill.program.split(":")[-1]
        after = [line for line in spawned if f"'{short}'" in line and _log_time(line) >= kill.killed_at - 0.01]
        if not after:
            continue
        kill.spawned_s = _log_time(after[0]) - kill.killed_at
        new_pid = after[0].rsplit(" ", 1)[-1]
        for line in (log_dir / f"{short}.log").read_text().splitlines():
            if f"[{new_pid}]: listening on" in line:
                kill.listening_s = _log_time(line) - kill.killed_at
                break


def idle_restarts(kit: Kit, n: int) -> list[Kill]:
    """The reference: kill -9 predictor-0 with no load, one kill at a time, each timed to its ping."""
    endpoint = f"tcp://127.0.0.1:{int(kit.env['PNR_PREDICTOR_PORT_BASE'])}"
    rpc, kills = supervisor(kit), []
    for _ in range(n):
        pid = program_pid(rpc, "predictor:predictor-0")
        os.kill(pid, signal.SIGKILL)
        kill = Kill("predictor:predictor-0", 0.0, time.time(), time.monotonic(), pid)
        kill.ping_s = ping_recovery(endpoint, pid, kill.killed_mono)
        kills.append(kill)
    return kills


def freeze_predictor(kit: Kit, seconds: float) -> None:
    """SIGSTOP predictor-0 for `seconds`, then SIGCONT."""
    pid = program_pid(supervisor(kit), "predictor:predictor-0")
    os.kill(pid, signal.SIGSTOP)
    try:
        time.sleep(seconds)
    finally:
        os.kill(pid, signal.SIGCONT)


def stop_store(kit: Kit, seconds: float) -> None:
    """supervisorctl stop db, and start it again after `seconds`."""
    kit.ctl("stop", "db")
    try:
        time.sleep(seconds)
    finally:
        kit.ctl("start", "db")


def store_over_quota(db: pymongo.MongoClient, seconds: float) -> None:
    """Every write fails with OperationFailure 12501 "quota exceeded" for `seconds`."""
    with over_quota(db):
        time.sleep(seconds)


def subscribe(port: int, pnr: str, address: str) -> int:
    """Ask for tracking mail as a visitor does (the page's form and its CSRF token); the HTTP status."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    base = f"http://127.0.0.1:{port}"
    try:
        with opener.open(f"{base}/pnr/{pnr}", timeout=REQUEST_TIMEOUT_S) as r:
            found = _CSRF.search(r.read().decode())
        if not found:
            return 0
        form = urllib.parse.urlencode({"email": address, "csrf_token": found.group(1)}).encode()
        with opener.open(f"{base}/pnr/{pnr}/track", data=form, timeout=REQUEST_TIMEOUT_S) as r:
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError:
        return 0


def stored_writes(db: pymongo.MongoClient, name: str, addresses: list[str]) -> tuple[int, int]:
    """(of these addresses, how many subscriptions are stored; how many snapshots are stored)."""
    wait_for(lambda: db.admin.command("ping"), 30, "the store answering")
    d = db[name]
    return d.subscriptions.count_documents({"email": {"$in": addresses}}), d.snapshots.count_documents({})


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank) of a non-empty list."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered), math.ceil(q / 100 * len(ordered))) - 1)]


@dataclass(frozen=True)
class Mail:
    """An alert mail as the on-call engineer's filter sees it."""

    subject: str
    fingerprint: str
    digest: bool


def alert_mails(smtp: SmtpSink, alert_to: str) -> list[Mail]:
    """The mails to the on-call address, in order of arrival."""
    with smtp._lock:
        pairs = list(zip(smtp.messages, smtp.envelopes, strict=True))
    return [Mail(str(m["Subject"]), str(m["X-PNR-Fingerprint"]), m["X-PNR-Digest"] is not None)
            for m, rcpt in pairs if alert_to in rcpt]


def both_down(kills: list[Kill]) -> list[tuple[float, float]]:
    """The stretches (monotonic clock) when neither predictor answered: each down from its kill until
    its successor answered ping (to the end of the probe when it never did)."""
    down: dict[str, list[tuple[float, float]]] = {}
    for k in sorted(kills, key=lambda k: k.killed_mono):
        start, end = k.killed_mono, k.killed_mono + (k.ping_s or PING_GIVE_UP_S)
        spans = down.setdefault(k.program, [])
        if spans and start <= spans[-1][1]:  # killed again before it answered: one longer stretch
            spans[-1] = (spans[-1][0], max(end, spans[-1][1]))
        else:
            spans.append((start, end))
    first, second = list(down.values()) + [[]] * (2 - len(down))
    return [(max(a, c), min(b, d)) for a, b in first for c, d in second if max(a, c) < min(b, d)]


def predicted_with_one_down(answers: list[Answer], kills: list[Kill]) -> tuple[float, int, float]:
    """(share of the 200 answers carrying a prediction among requests that never overlapped a moment with
    both predictors down, how many requests did overlap one, seconds with both down)."""
    stretches = both_down(kills)

    def overlaps(a: Answer) -> bool:
        return any(a.started < end and a.started + a.latency_s > start for start, end in stretches)

    alone = [a for a in answers if a.status == 200 and not overlaps(a)]
    share = sum(a.predicted for a in alone) / len(alone) if alone else 0.0
    return share, sum(overlaps(a) for a in answers), sum(end - start for start, end in stretches)


def summarise(phase: Phase, answers: list[Answer]) -> dict[str, Any]:
    """The figures of one phase."""
    latencies = [a.latency_s * 1000 for a in answers] or [0.0]
    answered = [a for a in answers if a.status == 200]
    return {
        "phase": phase.name,
        "secs": phase.ended - phase.started,
        "requests": len(answers),
        "5xx": sum(500 <= a.status < 600 for a in answers),
        "other": sum(a.status not in (0, 200) and not 500 <= a.status < 600 for a in answers),
        "none": sum(a.status == 0 for a in answers),
        "predicted": sum(a.predicted for a in answered) / len(answered) if answered else 0.0,
        "p50": percentile(latencies, 50),
        "p99": percentile(latencies, 99),
        "worst": max(latencies),
    }


@dataclass
class Writes:
    """Writes accepted before an outage, counted before it and after it."""

    phase: str
    subscribed: int
    subscriptions_before: int
    subscriptions_after: int
    snapshots_before: int
    snapshots_after: int

    @property
    def kept(self) -> bool:
        return self.subscribed == self.subscriptions_before == self.subscriptions_after \
            and self.snapshots_after >= self.snapshots_before


def main(argv: Sequence[str] | None = None) -> int:
    """Run the phases under load and print the figures."""
    parser = argparse.ArgumentParser(prog="python -m bench.chaos")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients")
    parser.add_argument("--baseline-s", type=float, default=10.0)
    parser.add_argument("--kill-s", type=float, default=60.0, help="length of the kill phase")
    parser.add_argument("--kill-every-s", type=float, default=2.0)
    parser.add_argument("--freeze-s", type=float, default=10.0)
    parser.add_argument("--store-s", type=float, default=10.0, help="length of each store outage")
    args = parser.parse_args(argv)

    overrides = {**OVERRIDES, "PNR_DB_FLAGS": "--enable-test-commands", "PNR_ALERT_QUIET_S": str(QUIET_S)}
    began = time.monotonic()
    with running_stack(**overrides) as (kit, smtp):
        print(f"stack up in {time.monotonic() - began:.1f} s; {kit.env['PNR_WEB_WORKERS']} gunicorn workers; "
              f"predictor client: {kit.env['PNR_PREDICTOR_TIMEOUT_MS']} ms per try, "
              f"{kit.env['PNR_PREDICTOR_DEADLINE_MS']} ms deadline; {args.clients} clients")
        db: pymongo.MongoClient = pymongo.MongoClient(kit.env["PNR_MONGO_URI"], serverSelectionTimeoutMS=2000)
        db_name, alert_to = kit.env["PNR_MONGO_DB"], kit.env["PNR_ALERT_TO"]
        pnrs = sample_pnrs(kit, PNRS)
        for pnr in pnrs:  # first lookups seed each PNR's history: not what the phases measure
            wait_for(lambda pnr=pnr: lookup(kit.web_port, pnr, False).status == 200, 30, f"a first lookup of {pnr}")
        phases: list[Phase] = []
        writes: list[Writes] = []

        def run(name: str, action: Callable[[], Any], recovery_s: float = RECOVERY_S) -> Any:
            mails_before = len(alert_mails(smtp, alert_to))
            phase = Phase(name, time.monotonic())
            phases.append(phase)
            result = action()
            phase.ended = time.monotonic()
            recovery = Phase(f"  after {name}", phase.ended)
            phases.append(recovery)
            time.sleep(recovery_s)
            recovery.ended = time.monotonic()
            phase.mails = alert_mails(smtp, alert_to)[mails_before:]
            return result

        def outage(name: str, action: Callable[[], Any]) -> None:
            tag = name.split()[-1]
            addresses = [f"sub-{tag}-{i}@example.in" for i in range(SUBSCRIBERS_PER_OUTAGE)]
            accepted = [a for i, a in enumerate(addresses) if subscribe(kit.web_port, pnrs[i], a) == 200]
            before = stored_writes(db, db_name, accepted)
            run(name, action)
            after = stored_writes(db, db_name, accepted)
            writes.append(Writes(name, len(accepted), before[0], after[0], before[1], after[1]))

        with Load(kit.web_port, pnrs, args.clients) as load:
            run("baseline", lambda: time.sleep(args.baseline_s), recovery_s=0)
            kills = run("predictor kill -9", lambda: kill_predictors(kit, args.kill_s, args.kill_every_s))
            run("predictor frozen", lambda: freeze_predictor(kit, args.freeze_s))
            outage("store stopped", lambda: stop_store(kit, args.store_s))
            outage("store over quota", lambda: store_over_quota(db, args.store_s))
        db.close()
        idle = idle_restarts(kit, IDLE_KILLS)
        restart_steps(kit, kills + idle)
        rows = [(p, summarise(p, load.between(p.started, p.ended))) for p in phases if p.ended > p.started]
        print_phases(rows)
        print_kills(kills, idle)
        kill_phase = next(p for p in phases if p.name == "predictor kill -9")
        one_down = predicted_with_one_down(load.between(kill_phase.started, kill_phase.ended), kills)
        print(f"both predictors down at once for {one_down[2]:.1f} s of the kill phase (a restart longer than the "
              f"time between kills); {one_down[1]} requests overlapped those moments; the others carried a "
              f"prediction in {one_down[0]:.1%} of 200 answers")
        print_mails(rows)
        print_writes(writes)
        print_targets(rows, kills, writes, int(kit.env["PNR_PREDICTOR_DEADLINE_MS"]))
    print(f"whole run {time.monotonic() - began:.0f} s")
    return 0


def print_phases(rows: list[tuple[Phase, dict[str, Any]]]) -> None:
    """Requests, errors, predictions and latency per phase; p99 as a multiple of the baseline's."""
    base_p99 = rows[0][1]["p99"] or 1.0
    print()
    print(f"{'phase':<26}{'secs':>6}{'requests':>9}{'5xx':>5}{'other':>6}{'none':>5}{'predicted':>10}"
          f"{'p50 ms':>8}{'p99 ms':>8}{'worst ms':>9}{'p99/base':>9}")
    for _, s in rows:
        print(f"{s['phase']:<26}{s['secs']:>6.1f}{s['requests']:>9}{s['5xx']:>5}{s['other']:>6}{s['none']:>5}"
              f"{s['predicted']:>10.1%}{s['p50']:>8.0f}{s['p99']:>8.0f}{s['worst']:>9.0f}{s['p99'] / base_p99:>9.2f}")
    print("other: answers neither 200 nor 5xx; none: no HTTP answer at all; predicted: share of the 200 answers "
          "that carry a prediction (every PNR has a waitlisted passenger)")


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def print_kills(kills: list[Kill], idle: list[Kill]) -> None:
    """Per kill: seconds until supervisord spawned the successor, it listened, it answered ping; and
    the same with no load, after the phases, as the reference."""
    print()
    print(f"{len(kills)} kills; seconds after each kill -9 until supervisord spawned a new process, the new "
          "process listened (model loaded), and it answered ping:")
    print(f"{'kill':>5}  {'program':<24}{'at s':>6}{'spawned':>9}{'listening':>10}{'ping':>7}")
    for i, k in enumerate(kills, 1):
        print(f"{i:>5}  {k.program:<24}{k.at_s:>6.1f}{_s(k.spawned_s):>9}{_s(k.listening_s):>10}{_s(k.ping_s):>7}")
    print(f"{'median':<14}{'under load':>22}{'no load':>10}{'ratio':>7}")
    for what in ("spawned", "listening", "ping"):
        loaded = [v for k in kills if (v := getattr(k, f"{what}_s")) is not None]
        quiet = [v for k in idle if (v := getattr(k, f"{what}_s")) is not None]
        if loaded and quiet:
            a, b = statistics.median(loaded), statistics.median(quiet)
            print(f"{what:<14}{a:>20.2f} s{b:>8.2f} s{a / b:>7.2f}")
    print(f"(no load: {len(idle)} kills of predictor-0 one at a time after the phases; max under load: "
          f"ping {max((k.ping_s for k in kills if k.ping_s is not None), default=math.nan):.2f} s, "
          f"{sum(k.ping_s is None for k in kills)} never)")


def print_mails(rows: list[tuple[Phase, dict[str, Any]]]) -> None:
    """The alert mails each phase (with its recovery window) brought."""
    print()
    print("alert mails to on-call, by the phase (with its recovery window) they arrived in:")
    for phase, _ in rows:
        if phase.name.startswith(" "):
            continue
        alerts = sum(not m.digest for m in phase.mails)
        print(f"  {phase.name}: {alerts} alert(s), {len(phase.mails) - alerts} digest(s)")
        for m in phase.mails:
            print(f"    {'digest' if m.digest else 'alert '}  {m.subject}")


def print_writes(writes: list[Writes]) -> None:
    """Subscriptions accepted before each outage, and every stored snapshot, before and after it."""
    print()
    print(f"{'writes before':<20}{'subscribed':>11}{'stored before':>14}{'after':>7}{'snapshots before':>17}{'after':>7}")
    for w in writes:
        print(f"{w.phase:<20}{w.subscribed:>11}{w.subscriptions_before:>14}{w.subscriptions_after:>7}"
              f"{w.snapshots_before:>17}{w.snapshots_after:>7}")


def print_targets(rows: list[tuple[Phase, dict[str, Any]]], kills: list[Kill], writes: list[Writes],
                  deadline_ms: int) -> None:
    """The issue's Done-when figures, met or missed."""
    by_name = {p.name: (p, s) for p, s in rows}
    checks = []
    _, killed = by_name["predictor kill -9"]
    checks.append(("kill: zero 5xx", killed["5xx"] + killed["none"] == 0,
                   f"{killed['5xx']} 5xx, {killed['none']} unanswered"))
    checks.append(("kill: >= 99% of answers with a prediction", killed["predicted"] >= 0.99, f"{killed['predicted']:.1%}"))
    pings = [k.ping_s for k in kills]
    median = statistics.median([math.inf if p is None else p for p in pings]) if pings else math.inf
    checks.append(("kill: ping again within 2.5 s (median)", median <= 2.5, f"median {median:.2f} s"))
    _, frozen = by_name["predictor frozen"]
    checks.append(("frozen: zero 5xx", frozen["5xx"] + frozen["none"] == 0, f"{frozen['5xx']} 5xx"))
    checks.append((f"frozen: p99 within the {deadline_ms} ms deadline", frozen["p99"] <= deadline_ms,
                   f"p99 {frozen['p99']:.0f} ms"))
    for name in ("store stopped", "store over quota"):
        phase, s = by_name[name]
        alerts = [m for m in phase.mails if not m.digest]
        one_kind = len({m.fingerprint for m in phase.mails}) <= 1
        checks.append((f"{name}: zero 5xx", s["5xx"] + s["none"] == 0, f"{s['5xx']} 5xx"))
        checks.append((f"{name}: one alert (and its digest)", len(alerts) == 1 and one_kind,
                       f"{len(alerts)} alert(s), {len(phase.mails) - len(alerts)} digest(s)"))
    for w in writes:
        checks.append((f"{w.phase}: writes kept", w.kept,
                       f"{w.subscriptions_after}/{w.subscribed} subscriptions, snapshots {w.snapshots_before} -> "
                       f"{w.snapshots_after}"))
    print()
    print("targets (issue #7, Done when):")
    for what, ok, figure in checks:
        print(f"  {'met ' if ok else 'MISS'}  {what:<46} {figure}")


if __name__ == "__main__":
    raise SystemExit(main())
