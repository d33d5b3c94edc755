"""Predictor throughput, latency and memory: the model in process against the same over ZeroMQ.

    .venv/bin/python -m bench.predictor [--seconds 2]

Starts one daemon on a free loopback port with the reference model (predictor.synthetic) and prints:
predictions per second for batches of 1, 10, 100 and 1000 items, in process and through the pool
client (and their ratio); round-trip latency (median, p99) for one PNR (a batch of 2 items), asked
afresh and asked again; the daemon's resident memory. A model keeps its results per item, so every
call but "asked again" moves each item's hours to the chart by a microhour: each is computed.
"""
from __future__ import annotations

import argparse
import functools
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from predictor.client import PredictorClient, PredictorUnavailable
from predictor.features import MAX_HOURS_TO_CHART
from predictor.synthetic import random_items, reference_model
from tests.support import free_port

BATCHES = (1, 10, 100, 1000)
LATENCY_CALLS = 2000
START_DEADLINE_S = 30.0


def _rate(call: Callable[[], Any], items: int, seconds: float) -> float:
    """Items per second over repeated calls for about `seconds`."""
    call()  # warm up
    done, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        call()
        done += items
    return done / elapsed


def _afresh(call: Callable[[list[dict[str, Any]]], Any], items: list[dict[str, Any]]) -> Callable[[], Any]:
    """`call` on `items` moved by another microhour each time, so no result is one the model kept."""
    count = iter(range(1, 10**9))

    def ask() -> Any:
        shift = next(count) * 1e-6
        return call([{**i, "hours_to_chart": min(i["hours_to_chart"] + shift, MAX_HOURS_TO_CHART)} for i in items])

    return ask


def _round_trips(ask: Callable[[], Any], calls: int) -> np.ndarray:
    """Milliseconds per call."""
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        ask()
        times.append(time.perf_counter() - started)
    return np.array(times) * 1000


def _wait_ready(client: PredictorClient, proc: subprocess.Popen[bytes]) -> None:
    end = time.monotonic() + START_DEADLINE_S
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise SystemExit(f"predictor exited with status {proc.returncode}")
        try:
            client.ping()
            return
        except PredictorUnavailable:  # not up yet
            continue
    raise SystemExit("predictor did not answer within the start deadline")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(prog="python -m bench.predictor")
    parser.add_argument("--seconds", type=float, default=2.0, help="time per throughput figure")
    args = parser.parse_args(argv)
    model = reference_model()
    rng = np.random.default_rng(1)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.json"
        model.save(path)
        endpoint = f"tcp://127.0.0.1:{free_port()}"
        proc = subprocess.Popen([sys.executable, "-m", "predictor", "--model", str(path), "--endpoint", endpoint,
                                 "--log-level", "WARNING"])
        client = PredictorClient([endpoint], request_timeout_ms=5000, deadline_ms=10000)
        try:
            _wait_ready(client, proc)
            print(f"model {model.version}, daemon pid {proc.pid} on {endpoint}")
            print(f"{'batch':>6} {'in process/s':>14} {'over zmq/s':>12} {'zmq/in process':>15}")
            for size in BATCHES:
                items = random_items(model, size, rng)
                local = _rate(_afresh(model.predict, items), size, args.seconds)
                remote = _rate(_afresh(client.predict, items), size, args.seconds)
                print(f"{size:>6} {local:>14.0f} {remote:>12.0f} {remote / local:>15.2f}")
            pnr = random_items(model, 2, rng)
            for what, ask in (("asked afresh", _afresh(client.predict, pnr)),
                              ("asked again", functools.partial(client.predict, pnr))):
                ms = _round_trips(ask, LATENCY_CALLS)
                local = _round_trips(_afresh(model.predict, pnr) if what == "asked afresh"
                                     else functools.partial(model.predict, pnr), LATENCY_CALLS // 4)
                print(f"one PNR (2 items) {what}, round trip: median {np.median(ms):.2f} ms, "
                      f"p99 {np.percentile(ms, 99):.2f} ms (in process: median {np.median(local):.2f} ms)")
            rss = psutil.Process(proc.pid).memory_info().rss / 2**20
            print(f"daemon resident memory: {rss:.1f} MiB")
        finally:
            client.close()
            proc.terminate()
            proc.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
