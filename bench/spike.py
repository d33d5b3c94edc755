"""The day the site is shared widely: a crowd against a real, slow status API that sometimes hangs.

    .venv/bin/python -m bench.spike [--visitors 64] [--latency-ms 1000] [--seconds 20] [--hang-s 30]
                                    [--set PNR_NAME=VALUE ...]

Starts the whole kit from the repo's etc/supervisord.conf (bench.stack) reading statuses from a
stand-in status API served here, on loopback, in ConfirmTkt's shape: every answer waits
`--latency-ms`, as a real API's does, and during a hanging phase it answers nothing at all. The kit
runs on its defaults with PNR_LOOKUP_CACHE_S=0 (every lookup asked afresh). `--visitors` threads
each ask the API page of a PNR, wait for the answer, and ask again at once, each request from its
own client address (X-Forwarded-For, PNR_TRUSTED_PROXIES=1) so that no rate limit applies. A
prober asks /healthz every 50 ms throughout. Three phases:

1. **fresh**: every visitor asks a PNR never asked before, for `--seconds`;
2. **hot**: every visitor asks the same PNR (a shared link), for `--seconds` / 2;
3. **hang**: visitors ask PNRs of phase 1 (stored) and new ones; after 5 s the API hangs for
   `--hang-s`, then answers again for 15 s more.

Prints per phase: answers per second, p50 and p99 latency, every answer's HTTP status (503s with and
without `last_known`), resets and other socket errors, upstream calls per answer and per PNR, and
/healthz's p50, p99 and worst; beside the theoretical ceiling (the kit's concurrent upstream calls,
PNR_UPSTREAM_CAP, ÷ the latency) and the visitors' own (visitors ÷ latency). Then: whether the web
program's pid and its workers changed (a restart) and the alert mails received, by subject.
"""
from __future__ import annotations

import argparse
import collections
import datetime as dt
import http.client
import http.server
import itertools
import json
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

from bench.stack import running_stack
from tests.support import free_port, wait_for

PNR_BASE = 4_100_000_000
HEALTH_EVERY_S = 0.05
CLIENT_TIMEOUT_S = 30.0


class StandIn:
    """A status API on loopback that answers any PNR after `latency_s`, or hangs while `hanging`."""

    def __init__(self, latency_s: float) -> None:
        self.latency_s = latency_s
        self.hang_until = 0.0
        self.calls: collections.Counter[str] = collections.Counter()
        self.lock = threading.Lock()
        self.template = self._template()
        stand_in = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def do_GET(self) -> None:
                pnr = self.path.split("/pnr/")[-1].split("/")[0]
                with stand_in.lock:
                    stand_in.calls[pnr] += 1
                while time.monotonic() < stand_in.hang_until:
                    time.sleep(0.05)
                time.sleep(stand_in.latency_s)
                body = json.dumps({**stand_in.template, "Pnr": pnr}).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the kit gave up on this call at its deadline, as it should

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

        self.port = free_port()
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    @staticmethod
    def _template() -> dict[str, Any]:
        """One waitlisted booking of the simulator's, as ConfirmTkt sends it: every PNR gets it."""
        from railsim.railway import Railway

        railway = Railway(2013, "2015")
        now = dt.datetime.now(dt.UTC)
        reply: dict[str, Any] = railway.reply(railway.sample_pnrs(now, 1)[0], now)
        return reply

    def total(self) -> int:
        with self.lock:
            return sum(self.calls.values())


class Crowd:
    """Visitors asking the kit's API, and a /healthz prober, recording every answer."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.addresses = itertools.count(1)
        self.lock = threading.Lock()

    def ask(self, conn: http.client.HTTPConnection | None, path: str) -> tuple[http.client.HTTPConnection | None, Any]:
        n = next(self.addresses)
        headers = {"X-Forwarded-For": f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"}
        started = time.monotonic()
        try:
            conn = conn or http.client.HTTPConnection("127.0.0.1", self.port, timeout=CLIENT_TIMEOUT_S)
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            body = response.read()
            code: Any = response.status
            if code == 503 and b'"last_known"' in body:
                code = "503 last_known"
            elif code == 200 and b'"stale": true' in body:
                code = "200 stale"
            if response.getheader("Connection", "").lower() == "close":
                conn.close()
                conn = None
        except (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected):
            code, conn = "reset", None
        except TimeoutError:
            code, conn = "timeout", None
        except OSError as exc:
            code, conn = type(exc).__name__, None
        return conn, (code, time.monotonic() - started)

    def run(self, visitors: int, seconds: float, pnr_for: Any, during: Any = None) -> dict[str, Any]:
        """`visitors` threads asking `pnr_for(i, k)` for `seconds`; the answers and /healthz's latencies."""
        answers: list[tuple[Any, float, float]] = []
        health: list[float] = []
        stop = threading.Event()

        def visitor(i: int) -> None:
            conn = None
            for k in itertools.count():
                if stop.is_set():
                    break
                conn, (code, took) = self.ask(conn, f"/api/v1/pnr/{pnr_for(i, k)}")
                with self.lock:
                    answers.append((code, took, time.monotonic()))

        def prober() -> None:
            conn = None
            while not stop.is_set():
                conn, (code, took) = self.ask(conn, "/healthz")
                health.append(took if code == 200 else float("inf"))
                stop.wait(HEALTH_EVERY_S)

        threads = [threading.Thread(target=visitor, args=(i,)) for i in range(visitors)] + [threading.Thread(target=prober)]
        started = time.monotonic()
        for t in threads:
            t.start()
        if during is not None:
            during()
        stop.wait(max(0.0, seconds - (time.monotonic() - started)))
        stop.set()
        for t in threads:
            t.join(CLIENT_TIMEOUT_S + 5)
        return {"answers": answers, "health": health, "seconds": time.monotonic() - started}


def quantile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def report(name: str, run: dict[str, Any], calls: int, pnrs: int) -> None:
    answers, health = run["answers"], run["health"]
    took = [a[1] for a in answers]
    codes = collections.Counter(str(a[0]) for a in answers)
    fresh = sum(n for c, n in codes.items() if c == "200")
    print(f"| {name} | {len(answers) / run['seconds']:.1f} | {fresh / run['seconds']:.1f} | {quantile(took, 0.5):.2f} | "
          f"{quantile(took, 0.99):.2f} | {max(took, default=0):.2f} | "
          f"{', '.join(f'{c}: {n}' for c, n in sorted(codes.items()))} | {calls / max(1, len(answers)):.3f} | "
          f"{calls / max(1, pnrs):.2f} | {quantile(health, 0.5) * 1000:.1f} | {quantile(health, 0.99) * 1000:.1f} | "
          f"{max(health, default=0) * 1000:.1f} |")


def web_pids(kit: Any) -> tuple[int, frozenset[int]]:
    import psutil

    pid = int(kit.ctl("pid", "web").stdout)
    return pid, frozenset(c.pid for c in psutil.Process(pid).children())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.spike", description=__doc__.split("\n\n")[0])
    parser.add_argument("--visitors", type=int, default=64)
    parser.add_argument("--latency-ms", type=float, default=1000.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--hang-s", type=float, default=30.0)
    parser.add_argument("--set", action="append", default=[], metavar="PNR_NAME=VALUE")
    args = parser.parse_args(argv)
    overrides = dict(item.split("=", 1) for item in args.set)
    latency = args.latency_ms / 1000
    stand_in = StandIn(latency)
    env = {"PNR_HTTP_BASE_URL": f"http://127.0.0.1:{stand_in.port}", "PNR_HTTP_API_KEY": "bench",
           "PNR_HTTP_SHAPE": "confirmtkt", "PNR_HTTP_RAILSIM": "false", "PNR_LOOKUP_CACHE_S": "0",
           "PNR_TRUSTED_PROXIES": "1", **overrides}
    with running_stack(**env) as (kit, smtp):
        cap = int(kit.env.get("PNR_UPSTREAM_CAP", "64"))
        deadline = float(kit.env.get("PNR_UPSTREAM_DEADLINE_S", "4"))
        print(f"kit: {kit.env.get('PNR_WEB_WORKERS')} web workers of {kit.env.get('PNR_WEB_THREADS') or 48} threads; "
              f"upstream cap {cap}, deadline {deadline:g} s; stand-in API latency {latency:g} s; "
              f"{args.visitors} visitors; settings changed: {overrides or 'none'}")
        print(f"ceilings: the kit's {cap} / {latency:g} s = {cap / latency:.1f} fresh answers/s; "
              f"the visitors' own {args.visitors} / {latency:g} s = {args.visitors / latency:.1f}/s")
        crowd = Crowd(kit.web_port)
        before = web_pids(kit)
        print("\n| phase | answers/s | fresh 200/s | p50 s | p99 s | max s | answers by status | upstream calls "
              "per answer | per PNR | /healthz p50 ms | p99 ms | max ms |")
        print("|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|")

        counter = itertools.count(PNR_BASE)
        fresh_pnrs: list[int] = []

        def new_pnr(i: int, k: int) -> int:
            pnr = next(counter)
            fresh_pnrs.append(pnr)
            return pnr

        calls0 = stand_in.total()
        run = crowd.run(args.visitors, args.seconds, new_pnr)
        report("fresh PNRs", run, stand_in.total() - calls0, len(run["answers"]))

        hot = PNR_BASE - 1
        calls0 = stand_in.total()
        run = crowd.run(args.visitors, args.seconds / 2, lambda i, k: hot)
        hot_calls = stand_in.total() - calls0
        report("one hot PNR", run, hot_calls, 1)
        print(f"\none hot PNR: {hot_calls} upstream calls in {run['seconds']:.1f} s = "
              f"{hot_calls / run['seconds']:.2f} per second, for {len(run['answers'])} answers")

        stored = fresh_pnrs[: 10 * args.visitors]

        def mixed(i: int, k: int) -> int:
            return stored[(i * 7919 + k) % len(stored)] if (i + k) % 4 else next(counter)

        def hang() -> None:
            time.sleep(5)
            stand_in.hang_until = time.monotonic() + args.hang_s

        calls0 = stand_in.total()
        run = crowd.run(args.visitors, 5 + args.hang_s + 15, mixed, during=hang)
        report(f"hang {args.hang_s:g} s", run, stand_in.total() - calls0, len(run["answers"]))
        slow = [a for a in run["answers"] if a[1] > deadline + 1]
        print(f"\nhang: answers slower than the deadline + 1 s: {len(slow)}; slowest {max(a[1] for a in run['answers']):.2f} s")
        after = web_pids(kit)
        print(f"web program pid {before[0]} -> {after[0]}; workers {'unchanged' if before[1] == after[1] else 'changed'} "
              f"({sorted(before[1])} -> {sorted(after[1])})")
        try:
            wait_for(lambda: any("resolved: the status API" in str(m["Subject"]) for m in smtp.received()), 30,
                     "the upstream's resolved mail")
        except AssertionError as exc:
            print(f"no resolved mail: {exc}")
        subjects = collections.Counter(str(m["Subject"]).strip() for m in smtp.received())
        print("alert mails:")
        for subject, n in sorted(subjects.items()):
            print(f"  {n} x {subject}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
