"""The budget of a slow, rate-limited status API, shared by every web worker and thread of a host.

A real PNR-status API answers in 0.5–3 s, sometimes hangs, and has quotas. Without this, a crowd
asking one PNR makes one upstream call per visitor, a hanging API holds every worker, and the site
goes down with it. `GuardedSource` wraps the source and keeps four promises, across processes, with
nothing but files and flock(2) under $PNR_VAR_DIR/upstream/ (the kernel drops a dead holder's lock):

- **One call per PNR at a time** (single-flight): the first lookup of a PNR holds its flight lock
  and asks; the others wait on that lock and take its answer (a status, "not found", or the
  failure), which is kept for UPSTREAM_SHARE_S so that a crowd arriving just after it shares it too.
  A PNR's lock is one of FLIGHT_BUCKETS by its hash, so the files stay bounded however many PNRs
  are asked; two PNRs of one bucket only wait for each other's call. The answer is written into the
  lock file itself, in place, by the lock's holder, and read only under the lock: no temporary
  file and no rename, which on ext4 costs a forced write-out of the new file on every fresh lookup.
- **A cap on concurrent calls** (UPSTREAM_CAP slot locks): when every slot is taken the lookup does
  not queue; it fails at once, so the visitor gets the last stored status (or a 503) in
  milliseconds instead of a worker held for seconds.
- **A deadline** (UPSTREAM_DEADLINE_S) on a lookup's whole wait, its own call and retries included
  (the source's `deadline_s`) and the wait on another lookup's call.
- **A circuit breaker**: after UPSTREAM_BREAKER_FAILURES failed calls in a row the API is not called
  for UPSTREAM_BREAKER_OPEN_S; then one call probes it. breaker.json says whether it is open, since
  when and why; the alert listener mails it as one "down" and one "resolved" (app/alerts/upstream.py).

Lookups of another time than now (the tracker's `--now`) bypass the flight: their answer is theirs.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import errno
import fcntl
import hashlib
import json
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from plumbing import jsonfile

from ...domain.pnr import PnrNotFound, PnrStatus, SourceUnavailable, validate_pnr

log = logging.getLogger(__name__)

UPSTREAM_DIR = "upstream"
BREAKER_FILE = "breaker.json"
POLL_S = 0.01
FLIGHT_BUCKETS = 4096
MAX_ANSWER_BYTES = 1 << 20  # a PNR's status is a few KiB
# A lookup "of now" asks about a moment within this of the wall clock.
NOW_TOLERANCE_S = 5.0


class BudgetFull(SourceUnavailable):
    """Every upstream slot is taken: answered at once from the store, never queued."""


class CircuitOpen(SourceUnavailable):
    """The upstream failed too often in a row; it is left alone until its probe."""


def upstream_dir(var_dir: str | os.PathLike[str]) -> Path:
    """Where the locks, shared answers and breaker state live."""
    return Path(var_dir) / UPSTREAM_DIR


def read_breaker(var_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The breaker's state: {"failures", "open_until", "down_since", "cause", "name"}; {} when none."""
    return jsonfile.read_dict(upstream_dir(var_dir) / BREAKER_FILE, "upstream breaker")


@contextlib.contextmanager
def _flock(path: Path, deadline: float | None) -> Iterator[int | None]:
    """Hold an exclusive flock on `path`: its fd once held, None if `deadline` (monotonic) passed
    first; a deadline of None tries once. Each call opens its own file, so threads of one process
    exclude each other as processes do."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
            if deadline is None or time.monotonic() >= deadline:
                yield None
                return
            time.sleep(POLL_S)
        yield fd
    finally:
        os.close(fd)


class GuardedSource:
    """A source behind the host's upstream budget; see the module's docstring."""

    def __init__(self, source: Any, var_dir: str | os.PathLike[str], *, name: str, cap: int, deadline_s: float,
                 share_s: float, breaker_failures: int, breaker_open_s: float) -> None:
        if cap < 1 or deadline_s <= 0 or share_s < 0 or breaker_failures < 1 or breaker_open_s <= 0:
            raise ValueError("cap and breaker failures must be at least 1, deadline and open time positive, "
                             "share time not negative")
        self.source = source
        self.name = name
        self.cap, self.deadline_s, self.share_s = cap, deadline_s, share_s
        self.breaker_failures, self.breaker_open_s = breaker_failures, breaker_open_s
        self.var_dir = Path(var_dir)
        self.dir = upstream_dir(var_dir)
        self._made = False

    def __getattr__(self, attr: str) -> Any:
        """What the source has besides statuses (railsim's history and sample PNRs)."""
        return getattr(self.source, attr)

    def close(self) -> None:
        """Close the source's connections."""
        self.source.close()

    def get_status(self, pnr: str, now: dt.datetime) -> PnrStatus:
        """The status, from one call shared by every lookup of `pnr` on this host; BudgetFull,
        CircuitOpen or SourceUnavailable (after at most the deadline) otherwise."""
        pnr = validate_pnr(pnr)
        deadline = time.monotonic() + self.deadline_s
        if not self._made:  # on first use, not at start: a web app is built before VAR_DIR may exist
            for sub in ("flight", "slot"):
                (self.dir / sub).mkdir(parents=True, exist_ok=True)
            self._made = True
        if abs((now - dt.datetime.now(dt.UTC)).total_seconds()) > NOW_TOLERANCE_S:
            return self._call(pnr, now, deadline)
        asked_at = time.time()
        bucket = int(hashlib.blake2b(pnr.encode(), digest_size=4).hexdigest(), 16) % FLIGHT_BUCKETS
        with _flock(self.dir / "flight" / f"{bucket}.lock", deadline) as fd:
            if fd is None:
                raise SourceUnavailable(f"no answer from {self.name} within {self.deadline_s:g} s "
                                        "(another lookup of this PNR is still waiting on it)")
            shared = self._shared(fd, asked_at)
            if shared is not None and shared.get("pnr") == pnr:
                return _unpack(shared, pnr)
            try:
                status = self._call(pnr, now, deadline)
            except PnrNotFound as exc:
                _share(fd, {"pnr": pnr, "not_found": str(exc)})
                raise
            except (BudgetFull, CircuitOpen):
                raise
            except SourceUnavailable as exc:
                _share(fd, {"pnr": pnr, "unavailable": str(exc)})
                raise
            _share(fd, {"pnr": pnr, "status": status.to_dict()})
            return status

    def _shared(self, fd: int, asked_at: float) -> dict[str, Any] | None:
        """The answer in a held flight lock: one written while this lookup waited, or within share_s."""
        try:
            if os.fstat(fd).st_mtime < asked_at - self.share_s:
                return None
            answer = json.loads(os.pread(fd, MAX_ANSWER_BYTES, 0) or b"null")
        except (OSError, ValueError):  # a holder that died mid-write left half an answer
            return None
        return answer if isinstance(answer, dict) else None

    def _call(self, pnr: str, now: dt.datetime, deadline: float) -> PnrStatus:
        """One upstream call within a free slot, past the breaker, within the deadline."""
        self._check_breaker()
        with self._slot() as slot:
            if slot is None:
                raise BudgetFull(f"{self.name} is busy: all {self.cap} upstream calls of this host are in flight")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise SourceUnavailable(f"no answer from {self.name} within {self.deadline_s:g} s")
            try:
                status: PnrStatus = self.source.get_status(pnr, now, deadline_s=remaining)
            except PnrNotFound:
                self._record(ok=True)
                raise
            except SourceUnavailable as exc:
                self._record(ok=False, cause=str(exc))
                raise
            self._record(ok=True)
            return status

    @contextlib.contextmanager
    def _slot(self) -> Iterator[int | None]:
        """One of the cap's slots, tried from a place that spreads lookups; None when all are taken."""
        start = os.getpid() + time.monotonic_ns() // 1000
        for i in range(self.cap):
            index = (start + i) % self.cap
            with _flock(self.dir / "slot" / f"{index}.lock", None) as held:
                if held is not None:
                    yield index
                    return
        yield None

    def _check_breaker(self) -> None:
        """Raise CircuitOpen while the breaker is open; let one probe through once it may close."""
        state = read_breaker(self.var_dir)
        open_until = float(state.get("open_until") or 0)
        if not open_until:
            return
        if time.time() < open_until:
            raise CircuitOpen(f"{self.name} is not being called: it failed {state.get('failures')} times in a row, "
                              f"last: {state.get('cause')}")
        # Half-open: the first lookup past open_until probes; the others wait for its verdict.
        with self._breaker_lock() as held:
            if not held:
                raise CircuitOpen(f"{self.name} is being probed after {state.get('failures')} failures in a row")
            state = read_breaker(self.var_dir)
            if time.time() < float(state.get("open_until") or 0):
                raise CircuitOpen(f"{self.name} is not being called: {state.get('cause')}")
            if state.get("open_until"):
                state["open_until"] = time.time() + self.breaker_open_s  # until the probe says otherwise
                jsonfile.write(self.dir / BREAKER_FILE, state)

    @contextlib.contextmanager
    def _breaker_lock(self, wait_s: float | None = None) -> Iterator[bool]:
        deadline = None if wait_s is None else time.monotonic() + wait_s
        with _flock(self.dir / "breaker.lock", deadline) as held:
            yield held is not None

    def _record(self, ok: bool, cause: str = "") -> None:
        """Count a call's outcome; open the breaker after breaker_failures failures in a row."""
        state = read_breaker(self.var_dir)
        if ok and not state.get("failures"):
            return  # the common case: nothing to write
        with self._breaker_lock(wait_s=1.0) as held:
            if not held:
                return
            state = read_breaker(self.var_dir)
            now = time.time()
            if ok:
                if state.get("open_until"):
                    log.warning("%s answers again after %s (down since %s)", self.name, state.get("cause"),
                                state.get("down_since"))
                state = {"failures": 0, "open_until": 0, "name": self.name, "up_since": now,
                         "last_down_since": state.get("down_since"), "last_cause": state.get("cause")}
            else:
                failures = int(state.get("failures") or 0) + 1
                state.update(failures=failures, cause=cause, name=self.name, last_failure_at=now)
                if failures >= self.breaker_failures:
                    if not state.get("open_until"):
                        state["down_since"] = now
                        log.warning("%s failed %d times in a row, not called for %g s: %s", self.name, failures,
                                  self.breaker_open_s, cause)
                    state["open_until"] = now + self.breaker_open_s
            jsonfile.write(self.dir / BREAKER_FILE, state)


def _share(fd: int, answer: dict[str, Any]) -> None:
    """Write an answer into the held flight lock, in place (readers hold the lock too)."""
    data = json.dumps(answer, default=str).encode()
    with contextlib.suppress(OSError):
        os.pwrite(fd, data, 0)
        os.ftruncate(fd, len(data))  # never to zero: ext4 forces a write-out after truncate-to-zero


def _unpack(answer: dict[str, Any], pnr: str) -> PnrStatus:
    """Another lookup's answer as this one's: the status, or the same error."""
    if "status" in answer:
        return PnrStatus.from_dict(answer["status"])
    if "not_found" in answer:
        raise PnrNotFound(answer["not_found"])
    raise SourceUnavailable(answer.get("unavailable") or f"no answer for {pnr}")
