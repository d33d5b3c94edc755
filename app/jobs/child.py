"""Work done in a short-lived child process, so that the long-running job stays small.

The trainer's fit needs scipy and numpy (some 100 MiB, for a minute every six hours); the job that
waits between fits needs neither. The child is spawned (a fresh interpreter, not a fork of the
job), binds its own Services from the job's settings, and sends back its result or its exception.
A SIGTERM to the job ends the child too; a child whose job is gone (SIGKILL) stops by itself.
Between children the job holds no other process: multiprocessing's resource tracker is ended too.
"""
from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from plumbing import lastwords, logs

from .. import alerts, services

log = logging.getLogger(__name__)

STOP_WAIT_S = 10.0
PARENT_CHECK_S = 1.0


class Stopped(Exception):
    """The job was asked to stop while its child was working; the child was ended."""


class ChildDied(Exception):
    """The child ended without a result (killed, or out of memory); the message says how."""


def run(target: Callable[..., Any], args: tuple[Any, ...], stop: threading.Event, name: str = "child") -> Any:
    """`target(*args)` in a spawned child with services made from this process's settings; its
    return value, or its exception raised here. Ends the child and raises Stopped once `stop` is set."""
    current = services.current()
    ctx = multiprocessing.get_context("spawn")
    reader, writer = ctx.Pipe(duplex=False)
    program = os.environ.get("SUPERVISOR_PROCESS_NAME", name)
    child = ctx.Process(target=_child_main, args=(writer, target, args, dict(current.config), current.extensions.get("pnr_version"),
                                                        os.getpid(), program),
                        name=name, daemon=True)
    child.start()
    writer.close()
    answered = False
    try:
        while not multiprocessing.connection.wait([reader, child.sentinel], timeout=0.2):
            if stop.is_set():
                raise Stopped(f"stopped while {name} was running")
        if reader.poll():
            try:
                ok, value = reader.recv()
            except EOFError:  # the child died: its end of the pipe closed with nothing sent
                pass
            else:
                answered = True
                if ok:
                    return value
                raise value
        child.join(STOP_WAIT_S)
        if stop.is_set():  # a SIGTERM to the job's whole process group ends the child first
            raise Stopped(f"stopped while {name} was running (the child ended with exit code {child.exitcode})")
        raise ChildDied(f"{name} (pid {child.pid}) ended without a result, exit code {child.exitcode}")
    finally:
        reader.close()
        if child.is_alive():
            child.terminate()
            child.join(STOP_WAIT_S)
            if child.is_alive():
                child.kill()
                child.join()
        if answered:
            _stop_resource_tracker()


def _stop_resource_tracker() -> None:
    """End the resource tracker process that multiprocessing starts with the first spawned child.

    It would otherwise live as long as the job (12 MiB resident, for children that run a few
    seconds an hour); the next child starts a new one. Only after a child that answered: its work
    is done, processes it started included (the fit's pool is shut down before it answers), so no
    process holds the tracker's end of the pipe any longer and it exits at once. A child stopped or
    killed may leave processes of its own that still hold it for a while: the tracker then stays,
    rather than the job waiting for them.
    """
    from multiprocessing import resource_tracker

    stop = getattr(resource_tracker._resource_tracker, "_stop", None)  # noqa: SLF001 - no public way to end it
    if stop is not None:
        stop()


def _child_main(writer: Any, target: Callable[..., Any], args: tuple[Any, ...], config: dict[str, Any],
                version: str | None, parent_pid: int, program: str) -> None:
    lastwords.install(program=program)
    logs.configure()
    threading.Thread(target=_follow_parent, args=(parent_pid,), name="follow-parent", daemon=True).start()
    found = services.Services(config)
    alerts.install(found.config, program, version)
    try:
        with services.bound(found):
            try:
                result = (True, target(*args))
            except Exception as exc:  # sent to the job, which raises it
                log.debug("child failed", exc_info=True)
                result = (False, exc)
            finally:
                found.close()
        writer.send(result)
    finally:
        writer.close()


def _follow_parent(parent_pid: int) -> None:
    """A child must not outlive its job: supervisord no longer knows of it."""
    while os.getppid() == parent_pid:
        time.sleep(PARENT_CHECK_S)
    os._exit(1)
