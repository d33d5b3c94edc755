"""The loop every job runs in: one logged iteration per interval, a clean stop on SIGTERM.

An exception that escapes an iteration ends the process with a non-zero status, so supervisord
restarts it and the alert listeners mail about it; per-item failures are handled inside.
"""
from __future__ import annotations

import importlib
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

import click

from .. import services
from ..alerts import bound, heartbeats
from . import child

log = logging.getLogger(__name__)

STORE_START_WAIT_S = 30.0
STORE_RETRY_S = 0.5


def every_option(default_s: float) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The --every/--once options shared by all jobs."""

    def decorate(f: Callable[..., Any]) -> Callable[..., Any]:
        f = click.option("--once", is_flag=True, help="Run one iteration and exit.")(f)
        return click.option(
            "--every", "every_s", type=click.FloatRange(min=0.1), default=default_s, show_default=True, help="Seconds between iterations."
        )(f)

    return decorate


def run_every(name: str, every_s: float, iteration: Callable[[], dict[str, Any]], once: bool = False,
              stop: threading.Event | None = None) -> None:
    """Call `iteration` now and then every `every_s` seconds until SIGTERM/SIGINT.

    Error mail logged during an iteration names the job (a job adds the item with alerts.bound).
    Each iteration's start and end are its heartbeat (app/alerts/heartbeats.py): an iteration not finished
    by its interval plus the job's grace (PNR_JOB_GRACE_S, the trainer's PNR_TRAINER_GRACE_S) is
    mailed as late by the alert listener. `stop` is set on SIGTERM/SIGINT, for an iteration that
    waits on a child.
    """
    stop = stop or threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    config = services.current().config
    grace_s = float(config.get(f"{name.upper()}_GRACE_S", config["JOB_GRACE_S"]))
    program = os.environ.get("SUPERVISOR_PROCESS_NAME", name)
    beat: dict[str, Any] = {"pid": os.getpid(), "every_s": every_s, "grace_s": grace_s, "finished_at": None,
                            "seconds": None, "items": None}
    log.info("%s: started, every %.1fs", name, every_s)
    while not stop.is_set():
        started = time.monotonic()
        beat.update(started_at=time.time(), due_at=time.time() + grace_s)
        heartbeats.write(config["VAR_DIR"], program, beat)
        with bound(job=name):
            summary = iteration()
        seconds = time.monotonic() - started
        log.info("%s: iteration in %.2fs: %s", name, seconds, " ".join(f"{k}={v}" for k, v in summary.items()))
        beat.update(started_at=None, finished_at=time.time(), seconds=round(seconds, 3), items=summary,
                    due_at=time.time() + every_s + grace_s)
        heartbeats.write(config["VAR_DIR"], program, beat)
        if once:
            break
        stop.wait(every_s)
    log.info("%s: stopped", name)


def run_each_in_child(name: str, every_s: float, work: str, args: tuple[Any, ...] = (),
                      once: bool = False, needs_store: bool = False) -> None:
    """run_every, each iteration in a short-lived child (app/jobs/child.py) calling `work(*args)`.

    The janitor and the tracker wait far longer than they work, and their work needs pymongo and the
    services (some 10 MiB a process): a child holds them for the seconds a pass takes, instead of the
    job for the hour or five minutes it waits. `work` names a module-level function, "module:function",
    imported in the child alone. A job that `needs_store` and runs on (not --once) has its first child
    wait up to STORE_START_WAIT_S for the store: the kit starts its programs together, and a job is up
    before the database is; that is not worth an alert. A stop ends the child mid-pass: every job's
    writes are idempotent, and a tracker cut short mails nobody twice.
    """
    stop = threading.Event()
    await_store = needs_store and not once

    def iteration() -> dict[str, Any]:
        nonlocal await_store
        try:
            summary: dict[str, Any] = child.run(_pass, (name, work, args, await_store), stop, name=f"{name} pass")
            await_store = False
        except child.Stopped:
            return {"stopped": "during the pass"}
        return summary

    run_every(name, every_s, iteration, once, stop=stop)


def _pass(name: str, work: str, args: tuple[Any, ...], await_store: bool) -> dict[str, Any]:
    module, _, function = work.partition(":")
    found: Callable[..., dict[str, Any]] = getattr(importlib.import_module(module), function)
    if await_store:
        _await_store(name)
    return found(*args)


def _await_store(name: str) -> None:
    """Return once the store answers, or after STORE_START_WAIT_S (the pass then says why). In a
    pass's child: a stop ends the child, waiting or not."""
    from ..services.store import StoreUnavailable, get_store  # in the child: the job itself carries no pymongo

    deadline = time.monotonic() + STORE_START_WAIT_S
    while True:
        try:
            get_store().ping()
            return
        except StoreUnavailable as exc:
            if time.monotonic() >= deadline:
                return
            log.info("%s: waiting for the store: %s", name, exc)
        time.sleep(STORE_RETRY_S)
