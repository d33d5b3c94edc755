"""PNR lookups under load (the API and the page) beside a Flask hello world under the same gunicorn settings.

    .venv/bin/python -m bench.load [--concurrency 4,16,64] [--seconds 6] [--rounds 2] [--pnrs 100]
                                   [--warm-up 40] [--set PNR_NAME=VALUE ...]

Starts the whole kit from the repo's etc/supervisord.conf in a temporary directory (bench.stack)
and, beside it, bench.hello served by gunicorn with the kit's own etc/gunicorn.conf.py and the same
environment (so the same workers, worker class and threads) on another loopback port. Debian's
`wrk` drives both; it is installed with apt-get when missing. bench/rotate.lua makes every request
name the next of `--pnrs` simulated PNRs that are waitlisted now (so each answer needs a prediction)
and come from the next of 4096 client addresses through X-Forwarded-For, as from a reverse proxy
(PNR_TRUSTED_PROXIES=1), so every lookup counts against its client's rate limit as on a real site
and none is refused; it checks every answer (status, and the prediction in its body). The kit runs
on its defaults, which answer a PNR asked again within PNR_LOOKUP_CACHE_S from memory: with 100
PNRs most lookups are such repeats; `--set PNR_LOOKUP_CACHE_S=0` measures every lookup asked afresh.

The warm-up runs until every worker has looked up every PNR a few times (inventories simulated,
histories seeded); then it prints the RSS and PSS of every process of supervisord's tree and of
the hello server, by program, with the kit's totals (bench.stack.memory_table), and measures
hello, API, page in turn at each concurrency, `--rounds` times over, so that the machine's noise
falls on all three alike. Prints per concurrency: requests per second (all rounds together), p50
(median of the rounds) and p99 (worst round) of each, and the ratios API / hello and page / hello;
the checks (requests, non-2xx, 5xx, socket errors, the share of answers that carried a prediction);
and the CPU time each answer cost in each group of processes. `--set` changes a setting of the
kit, e.g. `--set PNR_RATE_LIMIT_STORAGE=mongo` or `--set PNR_WEB_WORKERS=4` (the hello server follows).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import random
import resource
import runpy
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

import psutil
import pymongo

from bench.stack import memory_table, memory_totals, program_pids, running_stack, sample_pnrs, tree_memory
from tests.support import BIN, REPO, Kit, free_port, wait_for

LUA = Path(__file__).with_name("rotate.lua")
CLIENT_ADDRESSES = 4096
WRK_THREADS = 2
WRK_TIMEOUT_S = 10
HELLO_START_DEADLINE_S = 30.0
WARM_UP_ROUNDS = 3
WARM_UP_CONCURRENCY = 8
WARM_UP_STEP_S = 2
SAMPLED_ANSWERS = 5
JOB_PROGRAMS = {"tracker", "trainer", "janitor", "outbox"}
LISTENER_PROGRAMS = {"crashmail", "alertlistener", "memmon", "httpok"}
CPU_GROUPS = ("web", "hello", "db", "predictors", "other programs", "wrk")
SETTLE_DEADLINE_S = 180.0
SETTLE_WINDOW_S = 2.0
SETTLE_IDLE_CORES = 0.1


@dataclasses.dataclass(frozen=True)
class Target:
    """What one wrk run asks for: a base URL, a path prefix the PNR is appended to, and the text every
    good answer contains."""

    name: str
    base_url: str
    prefix: str
    expected: str


@dataclasses.dataclass(frozen=True)
class Run:
    """One wrk run's figures (latencies in microseconds, as wrk counts them)."""

    requests: int
    duration_us: int
    p50_us: int
    p99_us: int
    max_us: int
    ok: int
    non_2xx: int
    status_5xx: int
    matched: int
    socket_errors: int
    timeouts: int

    @property
    def rps(self) -> float:
        return self.requests / (self.duration_us / 1e6)


def ensure_wrk() -> str:
    """The wrk binary; installs Debian's package when it is missing (saying so)."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0:
        raise SystemExit("wrk is not installed and this is not root: run `apt-get install -y wrk`")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    print("wrk not found: installing Debian's package with `apt-get install -y -q wrk`", flush=True)
    if subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], env=env, check=False).returncode != 0:
        print("apt-get install failed: refreshing the package lists with `apt-get update -q`, then again", flush=True)
        subprocess.run(["apt-get", "update", "-q"], env=env, check=True)
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], env=env, check=True)
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("apt-get installed wrk but it is not on PATH")
    return found


def gunicorn_settings(kit: Kit) -> dict[str, Any]:
    """The settings etc/gunicorn.conf.py gives under the kit's environment (as both servers read them)."""
    with mock.patch.dict(os.environ, kit.env, clear=True):
        conf = runpy.run_path(str(kit.etc / "gunicorn.conf.py"))
    return {"workers": conf["workers"], "worker_class": conf["worker_class"], "threads": conf.get("threads", 1),
            "timeout": conf["timeout"], "keepalive": conf["keepalive"]}


def _status(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


@contextmanager
def hello_server(kit: Kit, log_path: Path) -> Iterator[tuple[str, int]]:
    """bench.hello under gunicorn with the kit's config file and environment, on another port; yields
    its base URL and the master's pid, and stops its whole process group after."""
    port = free_port()
    env = {**kit.env, "PNR_WEB_PORT": str(port)}
    with open(log_path, "ab") as log:
        # --name only renames the processes, so that `ps` tells the two servers apart.
        proc = subprocess.Popen(
            [str(BIN / "gunicorn"), "--config", str(kit.etc / "gunicorn.conf.py"), "--name", "pnr-bench-hello",
             "bench.hello:create_app()"],
            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: proc.poll() is None and _status(url + "/hello/x")[0] == 200, HELLO_START_DEADLINE_S,
                 "the hello-world gunicorn")
        yield url, proc.pid
    finally:
        for sig, wait_s in ((signal.SIGTERM, 30), (signal.SIGKILL, None)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(wait_s)
                break
            except subprocess.TimeoutExpired:
                continue
        proc.wait()


def wrk(binary: str, target: Target, pnr_file: Path, concurrency: int, seconds: int) -> Run:
    """One wrk run against a target, rotating PNRs and client addresses (bench/rotate.lua)."""
    cmd = [binary, f"-t{min(WRK_THREADS, concurrency)}", f"-c{concurrency}", f"-d{seconds}s",
           "--timeout", f"{WRK_TIMEOUT_S}s", "-s", str(LUA), target.base_url, "--",
           target.prefix, str(pnr_file), target.expected, str(CLIENT_ADDRESSES), str(random.randrange(2**20))]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60, check=False)
    for line in out.stdout.splitlines():
        if line.startswith("WRK_RESULT "):
            return Run(**json.loads(line.removeprefix("WRK_RESULT ")))
    raise SystemExit(f"wrk printed no result (status {out.returncode}): {out.stdout}{out.stderr}")


def warm_up(binary: str, target: Target, pnr_file: Path, lookups: int, max_s: int) -> str:
    """Short runs until `target` has answered WARM_UP_ROUNDS * `lookups` requests (every worker has
    looked up every PNR several times: inventories simulated, histories seeded and read), or for
    `max_s` seconds; says what it did."""
    runs: list[Run] = []
    wanted = WARM_UP_ROUNDS * lookups if target.name != "hello" else 1
    while sum(r.requests for r in runs) < wanted and sum(r.duration_us for r in runs) < max_s * 1e6:
        runs.append(wrk(binary, target, pnr_file, WARM_UP_CONCURRENCY, WARM_UP_STEP_S))
    return (f"{target.name} {sum(r.requests for r in runs)} requests in {sum(r.duration_us for r in runs) / 1e6:.0f} s "
            f"({sum(r.non_2xx for r in runs)} non-2xx)")


class CpuMeter:
    """CPU seconds used by each group of processes (the kit's programs, the hello server, wrk) and by
    the whole machine, between two readings; the processes are listed once, after the warm-up."""

    def __init__(self, kit: Kit, hello_pid: int) -> None:
        self.groups: dict[str, list[psutil.Process]] = {g: [] for g in CPU_GROUPS if g != "wrk"}
        pids = program_pids(kit)
        if kit.proc is not None:
            pids["supervisord"] = kit.proc.pid
        pids["hello"] = hello_pid
        for name, pid in pids.items():
            group = ("web" if name == "web" else "hello" if name == "hello" else "db" if name == "db"
                     else "predictors" if name.startswith("predictor") else "other programs")
            try:
                proc = psutil.Process(pid)
                # supervisord's children are the programs, counted in their own groups.
                children = [] if name == "supervisord" else proc.children(recursive=True)
                self.groups[group] += [proc, *children]
            except psutil.NoSuchProcess:
                continue

    def read(self) -> dict[str, float]:
        """Cumulative CPU seconds per group, "wrk" (this process's waited-for children) and "machine"."""
        out = {}
        for group, procs in self.groups.items():
            total = 0.0
            for proc in procs:
                try:
                    t = proc.cpu_times()
                    total += t.user + t.system
                except psutil.NoSuchProcess:
                    continue
            out[group] = total
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        out["wrk"] = children.ru_utime + children.ru_stime
        machine = psutil.cpu_times()
        out["machine"] = sum(machine) - machine.idle - getattr(machine, "iowait", 0.0)
        return out


def settle(meter: CpuMeter) -> str:
    """Wait (up to SETTLE_DEADLINE_S) until the kit's other programs are idle: at start the trainer
    fits a first model and the jobs run their first iterations, which would fall on whatever is
    measured then. Says how long it took."""
    started = time.monotonic()
    last = meter.read()
    while time.monotonic() - started < SETTLE_DEADLINE_S:
        time.sleep(SETTLE_WINDOW_S)
        now = meter.read()
        busy = sum(now[g] - last[g] for g in ("other programs", "db", "predictors", "web")) / SETTLE_WINDOW_S
        last = now
        if busy < SETTLE_IDLE_CORES:
            return f"the kit's programs idle after {time.monotonic() - started:.0f} s"
    return f"the kit's programs still busy after {SETTLE_DEADLINE_S:.0f} s (measuring anyway)"


def _ms(us: float) -> str:
    return f"{us / 1000:.1f}"


def _memory_group(program: str) -> str:
    return ("supervisor" if program == "supervisord" else "web" if program == "web"
            else "predictor" if program.startswith("predictor") else "store" if program == "db"
            else "job" if program in JOB_PROGRAMS else "listener" if program in LISTENER_PROGRAMS
            else "reference" if program == "hello" else "other")


def print_memory(kit: Kit, hello_pid: int) -> None:
    """RSS and PSS of every process of the kit (supervisord's whole process tree, bench.stack's
    memory_table), by program, and the kit's totals; the reference server's tree apart."""
    order = ["web", "predictor", "store", "job", "listener", "supervisor", "other", "reference"]
    kit_rows, hello_rows = memory_table(kit), tree_memory(hello_pid, "hello")
    rows = sorted(kit_rows + hello_rows, key=lambda r: (order.index(_memory_group(r.program)), r.program, r.pid))
    print("\nmemory after warm-up, MiB: RSS, and PSS (each page shared by N processes counted 1/N in each), of")
    print("every process of supervisord's tree (gunicorn's workers are the web program's children) and of hello's")
    print(f"| {'program':<22} | {'pid':>7} | {'parent':>7} | {'process':<60} | {'RSS MiB':>8} | {'PSS MiB':>8} |")
    print(f"|{'-' * 24}|{'-' * 8}:|{'-' * 8}:|{'-' * 62}|{'-' * 9}:|{'-' * 9}:|")
    for r in rows:
        print(f"| {r.program:<22} | {r.pid:>7} | {r.ppid:>7} | {r.process:<60} | {r.rss_mib:8.1f} | "
              f"{r.pss_mib:8.1f} |")

    print("\nmemory by program, MiB (sums over each program's processes)")
    print(f"| {'group':<10} | {'program':<40} | {'processes':>9} | {'RSS MiB':>8} | {'PSS MiB':>8} |")
    print(f"|{'-' * 12}|{'-' * 42}|{'-' * 10}:|{'-' * 9}:|{'-' * 9}:|")
    programs = sorted({r.program for r in kit_rows}, key=lambda p: (order.index(_memory_group(p)), p))
    for program in programs:
        t = memory_totals(r for r in kit_rows if r.program == program)
        print(f"| {_memory_group(program):<10} | {program:<40} | {t.processes:>9} | {t.rss_mib:8.1f} | "
              f"{t.pss_mib:8.1f} |")
    for label, part in (("total", kit_rows), ("reference", hello_rows)):
        t = memory_totals(part)
        what = "the kit (every process above but hello)" if label == "total" else "hello (master and workers)"
        print(f"| {label:<10} | {what:<40} | {t.processes:>9} | {t.rss_mib:8.1f} | {t.pss_mib:8.1f} |")


def print_results(results: dict[tuple[str, int], list[Run]], targets: Sequence[Target],
                  concurrencies: Sequence[int]) -> None:
    """The rps/p50/p99 table with the ratios, then the checks table."""
    def rps(runs: list[Run]) -> float:
        return sum(r.requests for r in runs) / (sum(r.duration_us for r in runs) / 1e6)

    names = [t.name for t in targets]
    print("\nrequests per second (all rounds), p50 (median of rounds) and p99 (worst round), ms")
    header = " | ".join(f"{n} rps | {n} p50 | {n} p99" for n in names)
    print(f"| conc. | {header} | API / hello | page / hello |")
    print("|" + "---:|" * (1 + 3 * len(names) + 2))
    for c in concurrencies:
        cells = []
        for n in names:
            runs = results[(n, c)]
            cells += [f"{rps(runs):.0f}", _ms(statistics.median(r.p50_us for r in runs)),
                      _ms(max(r.p99_us for r in runs))]
        hello = rps(results[("hello", c)])
        print(f"| {c} | {' | '.join(cells)} | {rps(results[('API', c)]) / hello:.2f} | "
              f"{rps(results[('page', c)]) / hello:.2f} |")

    print("\nchecks (every answer of every round): non-2xx and 5xx answers, socket errors and timeouts, and the")
    print("share of answers carrying what a good one carries (hello: its text; API: prediction_available true;")
    print("page: a percentage chance)")
    print("| conc. | target | requests | non-2xx | 5xx | socket errors | timeouts | good answers |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|")
    for c in concurrencies:
        for n in names:
            runs = results[(n, c)]
            total, matched = sum(r.requests for r in runs), sum(r.matched for r in runs)
            share = 100 * matched / total if total else 0.0
            print(f"| {c} | {n} | {total} | {sum(r.non_2xx for r in runs)} | {sum(r.status_5xx for r in runs)} | "
                  f"{sum(r.socket_errors for r in runs)} | {sum(r.timeouts for r in runs)} | {share:.2f}% |")


def print_cpu(cpu: dict[str, dict[str, float]], results: dict[tuple[str, int], list[Run]],
              targets: Sequence[Target]) -> None:
    """CPU milliseconds per answer, by group of processes, over every measurement of each target."""
    print("\nCPU time per answer, ms, by process group (every round and concurrency together); "
          "machine: all CPU\nbusy during the runs, in cores (the rest of it is other work on the machine)")
    print(f"| target | {' | '.join(CPU_GROUPS)} | all of these | machine, cores |")
    print("|---|" + "---:|" * (len(CPU_GROUPS) + 2))
    for t in targets:
        runs = [r for (name, _), rs in results.items() if name == t.name for r in rs]
        requests, seconds = sum(r.requests for r in runs), sum(r.duration_us for r in runs) / 1e6
        per = {g: 1000 * cpu[t.name].get(g, 0.0) / requests for g in CPU_GROUPS}
        print(f"| {t.name} | {' | '.join(f'{per[g]:.2f}' for g in CPU_GROUPS)} | {sum(per.values()):.2f} | "
              f"{cpu[t.name].get('machine', 0.0) / seconds:.2f} |")


def sample_answers(web_url: str, pnrs: Sequence[str]) -> None:
    """A few API answers fetched apart from wrk, to show what the load asked for."""
    print(f"\nsampled API answers ({SAMPLED_ANSWERS} PNRs, fetched apart from wrk):")
    for i, pnr in enumerate(pnrs[:SAMPLED_ANSWERS]):
        status, body = _status(f"{web_url}/api/v1/pnr/{pnr}", {"X-Forwarded-For": f"10.200.0.{i}"})
        data = json.loads(body)
        predicted = [p for p in data.get("pnr", {}).get("passengers", []) if p.get("prediction")]
        first = predicted[0] if predicted else None
        detail = (f"passenger {first['number']} {first['current_status']['text']}: "
                  f"P(CNF) {first['prediction']['p_cnf']:.2f}" if first else "no passenger predicted")
        print(f"  {pnr}: HTTP {status}, prediction_available {data.get('prediction_available')}, "
              f"{len(data.get('history', []))} history entries, {detail}")


def print_store(kit: Kit, pnrs: Sequence[str]) -> None:
    """What the lookups left in the store: PNRs, snapshots, rate-limit windows."""
    client: pymongo.MongoClient = pymongo.MongoClient(kit.env["PNR_MONGO_URI"], serverSelectionTimeoutMS=5000)
    try:
        db = client[kit.env.get("PNR_MONGO_DB", "pnr")]
        snapshots = db.snapshots.count_documents({"pnr": {"$in": list(pnrs)}})
        print(f"\nstore after the run: {db.pnrs.count_documents({})} PNRs, {snapshots} snapshots of the "
              f"{len(pnrs)} looked-up PNRs, {db.ratelimit_windows.count_documents({})} rate-limit windows")
    finally:
        client.close()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the tables."""
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", default="4,16,64", help="comma-separated open connections")
    parser.add_argument("--seconds", type=int, default=6, help="seconds per measurement")
    parser.add_argument("--rounds", type=int, default=2, help="times every measurement is repeated")
    parser.add_argument("--warm-up", type=int, default=40, help="most seconds of warm-up for the API and for the page")
    parser.add_argument("--pnrs", type=int, default=100, help="simulated PNRs the requests rotate over")
    parser.add_argument("--set", action="append", default=[], metavar="PNR_NAME=VALUE",
                        help="a setting for the kit (and the hello server), as in etc/pnr.env; repeatable")
    args = parser.parse_args(argv)
    overrides = {"PNR_TRUSTED_PROXIES": "1"}
    for item in args.set:
        name, sep, value = item.partition("=")
        if not sep or not name.startswith("PNR_"):
            parser.error(f"--set takes PNR_NAME=VALUE, not {item!r}")
        overrides[name] = value
    concurrencies = [int(c) for c in args.concurrency.split(",")]

    binary = ensure_wrk()
    version = subprocess.run([binary, "-v"], capture_output=True, text=True, check=False)
    print(f"machine: {os.cpu_count()} CPUs ({platform.processor() or platform.machine()}), "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}, Python {platform.python_version()}, "
          f"{(version.stdout + version.stderr).splitlines()[0].strip()}")
    with tempfile.TemporaryDirectory(prefix="pnr-bench-load-") as tmp, \
            running_stack(**overrides) as (kit, smtp), \
            hello_server(kit, Path(tmp) / "hello.log") as (hello_url, hello_pid):
        settings = gunicorn_settings(kit)
        workers = {name: len(psutil.Process(pid).children()) for name, pid in
                   (("web", int(kit.ctl("pid", "web").stdout)), ("hello", hello_pid))}
        print(f"gunicorn (etc/gunicorn.conf.py, both servers): {settings}; live workers {workers}")
        print(f"settings changed from etc/pnr.env.example: {overrides}")
        pnrs = sample_pnrs(kit, args.pnrs)
        pnr_file = Path(tmp) / "pnrs.txt"
        pnr_file.write_text("\n".join(pnrs) + "\n")
        print(f"{len(pnrs)} simulated PNRs waitlisted now, {CLIENT_ADDRESSES} client addresses; "
              f"{args.seconds} s per measurement, {args.rounds} rounds")
        web_url = f"http://127.0.0.1:{kit.web_port}"
        targets = [Target("hello", hello_url, "/hello/", "Hello, World!"),
                   Target("API", web_url, "/api/v1/pnr/", '"prediction_available":true'),
                   Target("page", web_url, "/pnr/", '<span class="pct">')]

        meter = CpuMeter(kit, hello_pid)
        print(settle(meter))
        print("warm-up: " + ", ".join(warm_up(binary, t, pnr_file, len(pnrs) * settings["workers"], args.warm_up)
                                      for t in targets))
        print_memory(kit, hello_pid)

        results: dict[tuple[str, int], list[Run]] = {(t.name, c): [] for t in targets for c in concurrencies}
        cpu: dict[str, dict[str, float]] = {t.name: {} for t in targets}
        for _ in range(args.rounds):
            for c in concurrencies:
                for t in targets:
                    before = meter.read()
                    results[(t.name, c)].append(wrk(binary, t, pnr_file, c, args.seconds))
                    for group, seconds in meter.read().items():
                        cpu[t.name][group] = cpu[t.name].get(group, 0.0) + seconds - before[group]
        print_results(results, targets, concurrencies)
        print_cpu(cpu, results, targets)
        sample_answers(web_url, pnrs)
        print_store(kit, pnrs)
        mails = smtp.received()
        print(f"alert mails received during the run: {len(mails)}"
              + "".join(f"\n  {m['Subject']}" for m in mails))
    return 0


if __name__ == "__main__":
    sys.exit(main())
