"""Alerts from the kit's real supervisord and listeners, at a real SMTP server.

Programs are stand-ins (tests/standin.py) dropped into etc/conf.d/, where site-local programs go,
plus the kit's own jobs; the database, web app and predictors stay off unless a test needs them.
"""
from __future__ import annotations

import contextlib
import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest
from alertkit import (
    about,
    alert_kit,
    count,
    standin,
    standin_web,
    start,
    start_program,
    text,
)
from support import BIN, Kit, SmtpSink, wait_for

pytestmark = pytest.mark.integration

HOST = socket.gethostname()
MAIL_DEADLINE_S = 30.0
SMTP_OUTAGE_S = 60.0


@pytest.fixture
def kits(tmp_path: Path) -> Iterator[list[Kit]]:
    """Kits a test made, stopped afterwards."""
    made: list[Kit] = []
    yield made
    for kit in made:
        kit.stop()


def make(kits: list[Kit], root: Path, sink: SmtpSink, programs: str, **env: str) -> Kit:
    kit = alert_kit(root, sink.port, programs, **env)
    kits.append(kit)
    start(kit)
    return kit


def one_mail(sink: SmtpSink, program: str) -> str:
    """The single alert about `program`, as subject + body."""
    [mail] = wait_for(lambda: about(sink, program), MAIL_DEADLINE_S, f"the alert about {program}")
    assert mail["Subject"].startswith(f"[pnr.me {HOST}] {program}: ")
    return text(mail)


def test_every_kind_of_exit_is_mailed_once_with_its_reason(kits, tmp_path: Path, smtp_sink) -> None:
    programs = "".join(
        standin(name, f"serve {code}") for name, code in
        [("exit_one", 1), ("killed", 1), ("exit_zero", 0), ("raiser", 1), ("last_crash", 1), ("last_clean", 0)]
    )
    kit = make(kits, tmp_path, smtp_sink, programs)
    pids = {name: start_program(kit, name) for name in ("exit_one", "killed", "exit_zero", "raiser")}
    kit.ctl("signal", "USR1", "exit_one")
    os.kill(pids["killed"], signal.SIGKILL)
    kit.ctl("signal", "USR1", "exit_zero")
    kit.ctl("signal", "USR2", "raiser")

    text = one_mail(smtp_sink, "exit_one")
    assert "exit_one: exit status 1; supervisord restarted it" in text and f"Pid:          {pids['exit_one']}" in text
    text = one_mail(smtp_sink, "killed")
    assert "killed: terminated by SIGKILL; supervisord restarted it" in text and f"Pid:          {pids['killed']}" in text
    text = one_mail(smtp_sink, "exit_zero")
    assert "exit_zero: exit status 0 (an expected exit code)" in text
    text = one_mail(smtp_sink, "raiser")
    assert "raiser: exit status 1" in text
    assert f"Last words (uncaught exception, var/lastwords/raiser.txt):\npid {pids['raiser']} at " in text
    assert "StandInFailure: stand-in: simulated failure on SIGUSR2" in text
    assert "Last lines of " in text and "./scripts/ctl status raiser" in text

    # Both listeners handle events in order: once the last ones are mailed, a duplicate would be in.
    for name in ("last_crash", "last_clean"):
        start_program(kit, name)
        kit.ctl("signal", "USR1", name)
        one_mail(smtp_sink, name)
    assert Counter(m["X-PNR-Program"] for m in smtp_sink.received()) == Counter(
        ["exit_one", "killed", "exit_zero", "raiser", "last_crash", "last_clean"]
    )


def test_a_start_up_crash_is_mailed_with_its_traceback_and_so_is_fatal(kits, tmp_path: Path, smtp_sink) -> None:
    # startsecs well above supervisord's one-second poll, so that a quick death counts as one.
    kit = make(kits, tmp_path, smtp_sink, standin("startup", "startup-crash", startretries=2, startsecs=3))
    kit.ctl("start", "startup")
    fatal = wait_for(lambda: [m for m in about(smtp_sink, "startup") if m["X-PNR-Kind"] == "fatal"], MAIL_DEADLINE_S, "FATAL")[0]
    first, last = about(smtp_sink, "startup")
    assert last is fatal and first["X-PNR-Kind"] == "startup"
    assert "startup: failed during start-up (exit status 1), attempt 1 of 3; supervisord retries in 1 s" in first["Subject"]
    assert "FATAL, supervisord gave up after 3 start attempts (last: exit status 1)" in fatal["Subject"]
    for mail in (first, fatal):
        assert "StandInFailure: stand-in: cannot load settings" in mail.get_content()
    # Three deaths, three counted: one mailed at once, two reported by the FATAL mail.
    assert fatal["X-PNR-Absorbed"] == "2" and "./scripts/ctl start startup" in fatal.get_content()
    assert kit.states()["startup"][0] == "FATAL"


def test_a_real_job_that_cannot_start_is_reported_with_the_cause(kits, tmp_path: Path, smtp_sink) -> None:
    """A bad setting stops a job at start-up with exit status 2 and a line naming it; the alert
    pipeline itself reads only mail settings. Whether supervisord sees the death as a start-up
    failure (BACKOFF, mailed by the listener) or as an exit (crashmail), the first mail quotes the
    job's log, which names the setting.
    """
    kit = make(kits, tmp_path, smtp_sink, "", PNR_MONGO_TIMEOUT_MS="soon")
    kit.ctl("start", "janitor")
    mails = wait_for(lambda: about(smtp_sink, "janitor"), 60, "the janitor alert", interval_s=0.5)
    body = text(mails[0])
    assert re.search(r"janitor: (failed during start-up \(exit status 2\)|exit status 2;)", body)
    assert "pnr-job: PNR_MONGO_TIMEOUT_MS: invalid literal for int()" in body
    kit.ctl("stop", "janitor")


def test_a_crash_loop_of_100_exits_is_at_most_3_mails_counting_all(kits, tmp_path: Path, smtp_sink) -> None:
    """Each exit costs crashmail a pnr-sendmail run (~0.3 s): 100 of them take 30-90 s to handle.

    With a 45 s digest window (300 s in production): the first mail at once, a digest at 45 s if
    the loop is still going, and a last one 10 s after it stops (PNR_ALERT_QUIET_S): at most three
    as long as handling takes less than 135 s.
    """
    runs = tmp_path / "runs"
    kit = make(
        kits, tmp_path, smtp_sink, standin("crashloop", f"crashloop {runs} 100", startsecs=0),
        PNR_ALERT_DIGEST_S="45", PNR_ALERT_QUIET_S="10",
    )
    kit.ctl("start", "crashloop")
    wait_for(lambda: runs.exists() and int(runs.read_text() or 0) > 100, 180, "100 exits", interval_s=0.5)
    mails = wait_for(lambda: (m := about(smtp_sink, "crashloop")) and count(m) >= 100 and m, 180, "all 100 counted", interval_s=0.5)
    assert len(mails) <= 3 and count(mails) == 100
    assert mails[0]["X-PNR-Count"] == "1" and all("digest" in m["Subject"] for m in mails[1:])
    assert "crashloop: exit status 1" in text(mails[-1])


@pytest.mark.long
def test_an_smtp_outage_delays_alerts_and_loses_or_doubles_none(kits, tmp_path: Path, smtp_sink) -> None:
    """SMTP down while five programs die and one crash-loops; then back, with two drainers racing.

    The outage lasts a minute (SMTP_OUTAGE_S), as in the issue; the digest window (6 s) ends inside it.
    """
    runs = tmp_path / "runs"
    programs = "".join(standin(n, f"serve {c}") for n, c in [("a", 1), ("b", 1), ("c", 1), ("z", 0)])
    programs += standin("loop", f"crashloop {runs} 5", startsecs=0)
    kit = make(
        kits, tmp_path, smtp_sink, programs,
        PNR_OUTBOX_AUTOSTART="true", PNR_OUTBOX_EVERY_S="1", PNR_ALERT_DIGEST_S="6",
    )
    wait_for(lambda: kit.states()["outbox"][0] == "RUNNING", 60, "the outbox job", interval_s=0.5)
    pids = {n: start_program(kit, n) for n in ("a", "b", "c", "z")}
    port = smtp_sink.port
    smtp_sink.stop()
    outage_started = time.monotonic()
    os.kill(pids["a"], signal.SIGKILL)
    os.kill(pids["b"], signal.SIGKILL)
    kit.ctl("signal", "USR1", "c", "z")
    kit.ctl("start", "loop")
    # Five alerts at once, then the loop's digest when its window ends: six mails in the spool.
    spool = kit.var / "spool"
    wait_for(lambda: len(list(spool.glob("*.eml"))) >= 6, 60, "six spooled alerts", interval_s=0.5)
    # The outage itself is the scenario: the server stays away for its full length.
    time.sleep(max(0.0, SMTP_OUTAGE_S - (time.monotonic() - outage_started)))
    assert len(list(spool.glob("*.eml"))) == 6

    back = SmtpSink(port).start()
    try:
        racer = kit.run(str(BIN / "pnr-job"), "outbox", "--once", timeout=120)
        assert racer.returncode == 0, racer.stderr[-2000:]
        wait_for(lambda: not list(spool.glob("*.eml")), 60, "an empty spool", interval_s=0.5)
        mails = back.received()
    finally:
        back.stop()
    ids = [m["Message-ID"] for m in mails]
    assert len(ids) == len(set(ids)) == 6
    assert Counter(m["X-PNR-Program"] for m in mails) == Counter(["a", "b", "c", "z", "loop", "loop"])
    assert count([m for m in mails if m["X-PNR-Program"] == "loop"]) == 5


def test_a_thousand_identical_web_errors_make_at_most_two_mails(kits, tmp_path: Path, smtp_sink) -> None:
    """The real app under gunicorn (two workers sharing flood control), 1,000 failing requests.

    Within a minute (the digest window): one mail at once, one digest 10 s after the last error.
    """
    kit = make(
        kits, tmp_path, smtp_sink, standin_web("boomweb"),
        PNR_ALERT_DIGEST_S="60", PNR_ALERT_QUIET_S="10", PNR_WEB_WORKERS="2",
    )
    kit.ctl("start", "boomweb")
    wait_for(lambda: kit.get("/healthz")[0] == 200, 60, "the web app", interval_s=0.5)
    with ThreadPoolExecutor(8) as pool:
        statuses = Counter(pool.map(lambda _: kit.get("/boom")[0], range(1000)))
    assert statuses == {500: 1000}
    mails = wait_for(lambda: (m := about(smtp_sink, "boomweb")) and count(m) >= 1000 and m, 90, "1000 counted", interval_s=0.5)
    assert len(mails) <= 2 and count(mails) == 1000
    first = text(mails[0])
    assert "boomweb: ERROR unhandled error on GET /boom: ZeroDivisionError: division by zero in the fare table" in first
    assert "Request:      GET /boom" in first and "Client:       127.0.0.1" in first and "Request id:   " in first


def test_a_predictor_over_its_memory_limit_is_restarted_and_reported(kits, tmp_path: Path, smtp_sink) -> None:
    """The real predictors (about 55 MB each) against a 20 MB limit: memmon restarts one, mails once."""
    from predictor.synthetic import reference_model

    kit = alert_kit(tmp_path, smtp_sink.port, PNR_PREDICTOR_AUTOSTART="true", PNR_PREDICTOR_MAX_RSS="20MB")
    kits.append(kit)
    reference_model().save(kit.var / "model.json")
    start(kit)
    first_pids = wait_for(
        lambda: all(kit.states()[f"predictor:predictor-{i}"][0] == "RUNNING" for i in (0, 1))
        and {i: int(kit.ctl("pid", f"predictor:predictor-{i}").stdout) for i in (0, 1)},
        60, "the predictors RUNNING", interval_s=0.5,
    )
    mail = wait_for(lambda: [m for m in smtp_sink.received() if m["X-PNR-Kind"] == "memory"], 60, "memmon's mail")[0]
    body = text(mail)
    namespec = mail["X-PNR-Program"]
    assert re.search(rf"{namespec}: restarted by memmon: memory over the limit of 20MB \(\d+ MB RSS\)", body)
    assert "memmon.py restarted the process named" in body  # memmon's own report, quoted
    index = int(namespec[-1])
    wait_for(
        lambda: kit.states()[namespec][0] == "RUNNING" and int(kit.ctl("pid", namespec).stdout) != first_pids[index],
        60, f"{namespec} restarted", interval_s=0.5,
    )
    # A restart by memmon is a stop and a start, not an exit: no exit alert besides memmon's.
    assert {m["X-PNR-Kind"] for m in smtp_sink.received()} == {"memory"}


def test_a_frozen_web_app_is_restarted_and_reported(kits, tmp_path: Path, smtp_sink) -> None:
    """SIGSTOP on gunicorn's whole process group: httpok's /healthz times out, it restarts web, mails."""
    # The production timeout (10 s): gunicorn's workers take seconds to boot on a loaded machine, and
    # a request that arrives meanwhile waits in the listen queue for them.
    kit = make(kits, tmp_path, smtp_sink, "", PNR_WEB_AUTOSTART="true", PNR_WEB_HEALTH_TIMEOUT_S="10")
    wait_for(lambda: kit.get("/healthz")[0] == 200, 60, "the web app", interval_s=0.5)
    frozen = int(kit.ctl("pid", "web").stdout)
    os.killpg(frozen, signal.SIGSTOP)
    try:
        # Detection within a 5 s tick plus the 10 s timeout; then stopwaitsecs (15 s) before SIGKILL.
        mail = wait_for(lambda: about(smtp_sink, "web"), 90, "httpok's mail", interval_s=0.5)[0]
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(frozen, signal.SIGCONT)
    body = text(mail)
    assert mail["X-PNR-Kind"] == "health"
    assert re.search(r"web: not answering http://127\.0\.0\.1:\d+/healthz; restarted by httpok", body)
    assert "web is in RUNNING state, restarting" in body and "web restarted" in body
    wait_for(lambda: kit.get("/healthz")[0] == 200, 60, "web answering again", interval_s=0.5)
    assert int(kit.ctl("pid", "web").stdout) != frozen


def test_a_worker_timeout_mails_the_request_and_its_stack_and_a_killed_worker_mails_killed(kits, tmp_path: Path, smtp_sink) -> None:
    """gunicorn kills its own workers, and supervisord sees nothing: the real app under gunicorn with
    the kit's config and a 2 s timeout; a request sleeping 10 s, then a worker killed with kill -9."""
    kit = make(kits, tmp_path, smtp_sink, standin_web("slowweb"), PNR_WEB_TIMEOUT_S="2", PNR_WEB_WORKERS="2")
    kit.ctl("start", "slowweb")
    wait_for(lambda: kit.get("/healthz")[0] == 200, 60, "the web app", interval_s=0.5)
    master = int(kit.ctl("pid", "slowweb").stdout)

    request = urllib.request.Request(f"http://127.0.0.1:{kit.web_port}/sleep/10.0", headers={"X-Request-ID": "req-slow-1"})
    with pytest.raises((urllib.error.URLError, ConnectionError, http.client.HTTPException)):
        urllib.request.urlopen(request, timeout=30)
    [timeout] = wait_for(lambda: about(smtp_sink, "slowweb"), MAIL_DEADLINE_S, "the timeout's mail")
    body = text(timeout)
    assert timeout["X-PNR-Kind"] == "worker"
    assert "slowweb: worker timeout: GET /sleep/10.0 held a worker past 2 s" in body
    assert "Request id:   req-slow-1" in body and "Client:       127.0.0.1" in body
    assert "time.sleep(seconds)  # a fare table that never answers" in body  # the stuck frame, from worker_abort

    workers = wait_for(lambda: len(psutil.Process(master).children()) == 2 and psutil.Process(master).children(),
                       30, "two workers again")
    victim = workers[0].pid
    os.kill(victim, signal.SIGKILL)
    mails = wait_for(lambda: len(about(smtp_sink, "slowweb")) >= 2 and about(smtp_sink, "slowweb"), MAIL_DEADLINE_S,
                     "the kill's mail")
    assert len(mails) == 2 and mails[1]["X-PNR-Kind"] == "worker"
    assert f"slowweb: worker {victim} killed by SIGKILL" in text(mails[1])
    assert kit.states()["slowweb"][0] == "RUNNING" and int(kit.ctl("pid", "slowweb").stdout) == master


def _timed_get(port: int, path: str) -> tuple[str, float]:
    """GET `path`: its body, or the name of the error that ended it; and when that was (monotonic)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=60) as reply:
            outcome = reply.read().decode()
    except (urllib.error.URLError, ConnectionError, http.client.HTTPException) as exc:
        outcome = type(exc).__name__
    return outcome, time.monotonic()


def test_a_threaded_worker_answers_health_beside_a_stuck_request_and_lets_others_finish_when_it_retires(
        kits, tmp_path: Path, smtp_sink) -> None:
    """One gthread worker and a 4 s timeout: /healthz answers at once beside a stuck request; when the
    watchdog retires the worker, the stuck visitor is cut off at once, while a request that began
    since (3.5 s long, inside the timeout) is answered before the worker exits."""
    timeout_s = 4.0
    kit = make(kits, tmp_path, smtp_sink, standin_web("threadweb"), PNR_WEB_TIMEOUT_S=f"{timeout_s:g}",
               PNR_WEB_WORKERS="1")
    kit.ctl("start", "threadweb")
    wait_for(lambda: kit.get("/healthz")[0] == 200, 60, "the web app", interval_s=0.5)
    master = psutil.Process(int(kit.ctl("pid", "threadweb").stdout))
    [worker] = master.children()
    log = kit.var / "log" / "threadweb.log"

    with ThreadPoolExecutor(2) as pool:
        stuck = pool.submit(_timed_get, kit.web_port, "/sleep/60.0")
        wait_for(lambda: "sleeping 60.0 s" in log.read_text(), 10, "the stuck request in its sleep")
        stuck_since = time.monotonic()
        started = time.monotonic()
        assert kit.get("/healthz")[0] == 200
        assert time.monotonic() - started < 1.0
        # The other request has to be in flight when the watchdog looks past the timeout, and younger
        # than the timeout then: it starts halfway through the stuck one's.
        time.sleep(max(0.0, stuck_since + timeout_s / 2 - time.monotonic()))
        other = pool.submit(_timed_get, kit.web_port, "/sleep/3.5")
        (stuck_outcome, cut_at), (other_outcome, answered_at) = stuck.result(60), other.result(60)

    assert stuck_outcome in {"RemoteDisconnected", "ConnectionResetError"}, stuck_outcome
    assert cut_at - stuck_since < timeout_s + 2.0  # cut off when the watchdog saw it, not when the worker exited
    assert other_outcome == "slept" and cut_at < answered_at  # in flight during the retirement, and answered
    [mail] = wait_for(lambda: about(smtp_sink, "threadweb"), MAIL_DEADLINE_S, "the timeout's mail")
    body = text(mail)
    assert "threadweb: worker timeout: GET /sleep/60.0 held a worker past 4 s" in body
    assert f"Worker {worker.pid} of threadweb retired itself" in body
    assert "(the stuck request):" in body and "time.sleep(seconds)  # a fare table that never answers" in body
    wait_for(lambda: [w.pid for w in master.children()] not in ([], [worker.pid]), 30, "another worker")
    wait_for(lambda: kit.get("/healthz")[0] == 200, 30, "the new worker answering", interval_s=0.25)
    assert not worker.is_running() and master.is_running()


def _memory_cgroup(limit_bytes: int) -> Path:
    """A fresh memory cgroup with `limit_bytes` (cgroup v1 or v2), or a skip saying why there is none."""
    v1, v2 = Path("/sys/fs/cgroup/memory"), Path("/sys/fs/cgroup")
    base, limit_file = (v1, "memory.limit_in_bytes") if v1.is_dir() else (v2, "memory.max")
    if not (base / "cgroup.procs").exists():
        pytest.skip(f"no memory cgroup controller at {base}")
    group = base / f"pnr-test-{os.getpid()}-{time.monotonic_ns()}"
    try:
        group.mkdir()
        (group / limit_file).write_text(str(limit_bytes))
    except OSError as exc:
        with contextlib.suppress(OSError):
            group.rmdir()
        pytest.skip(f"cannot make a memory cgroup with a limit under {base} (needs root): {exc}")
    return group


# The kernel's OOM kill count is host-wide: a last gasp that reads it moving blames the OOM killer
# (tests/test_lastgasp.py), so the two never run at the same time (scripts/test: --dist loadgroup).
@pytest.mark.xdist_group("host_oom_kill_count")
def test_a_worker_past_its_memory_cgroup_is_mailed_as_killed_by_the_oom_killer(kits, tmp_path: Path, smtp_sink) -> None:
    """A real OOM kill: one worker moved into a 64 MiB memory cgroup, then asked to allocate 256 MB."""
    group = _memory_cgroup(64 * 2**20)
    try:
        kit = make(kits, tmp_path, smtp_sink, standin_web("oomweb"), PNR_WEB_WORKERS="1")
        kit.ctl("start", "oomweb")
        wait_for(lambda: kit.get("/healthz")[0] == 200, 60, "the web app", interval_s=0.5)
        master = psutil.Process(int(kit.ctl("pid", "oomweb").stdout))
        [worker] = master.children()
        try:
            (group / "cgroup.procs").write_text(str(worker.pid))
        except OSError as exc:  # cgroup v2 inside a container: moving a process may be refused
            pytest.skip(f"cannot move a worker into {group}: {exc}")
        with pytest.raises((urllib.error.URLError, ConnectionError, http.client.HTTPException)):
            urllib.request.urlopen(f"http://127.0.0.1:{kit.web_port}/grow/256", timeout=30)
        [mail] = wait_for(lambda: about(smtp_sink, "oomweb"), MAIL_DEADLINE_S, "the OOM kill's mail")
        assert f"oomweb: worker {worker.pid} killed by the kernel's OOM killer" in text(mail)
        assert "oom_kill count moved" in text(mail)
    finally:
        for kit in kits:
            kit.stop()
        wait_for(lambda: not (group / "cgroup.procs").read_text().strip(), 30, "the cgroup empty")
        group.rmdir()


def _no_more_mail_for(sink: SmtpSink, seconds: float, expected: int) -> None:
    """The number of mails stays `expected` for `seconds` (two listener ticks, say)."""
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        assert len(sink.received()) == expected, [str(m["Subject"]) for m in sink.received()]
        time.sleep(0.25)


def test_a_crash_loop_that_is_fixed_is_one_alert_one_digest_and_one_resolved(kits, tmp_path: Path, smtp_sink) -> None:
    """Ten exits, then the program stays up: the first mailed, nine in a digest once it stops, and
    one "resolved" once it has been RUNNING for PNR_ALERT_RESOLVED_S with nothing pending."""
    runs = tmp_path / "runs"
    kit = make(kits, tmp_path, smtp_sink, standin("flaky", f"crashloop {runs} 10", startsecs=0),
               PNR_ALERT_DIGEST_S="60", PNR_ALERT_QUIET_S="3", PNR_ALERT_RESOLVED_S="5")
    kit.ctl("start", "flaky")
    wait_for(lambda: runs.exists() and int(runs.read_text() or 0) > 10, 90, "ten exits, then a run that stays", interval_s=0.5)
    mails = wait_for(lambda: (m := about(smtp_sink, "flaky")) and m[-1]["X-PNR-Kind"] == "resolved" and m, 90,
                     "the resolved mail", interval_s=0.5)
    _no_more_mail_for(smtp_sink, 2 * 5, len(mails))
    assert [m["X-PNR-Kind"] for m in mails] == ["exit", "exit", "resolved"], [str(m["Subject"]) for m in mails]
    assert count(mails[:2]) == 10 and "digest" in mails[1]["Subject"]
    resolved = text(mails[2])
    assert "flaky: resolved: RUNNING again since " in resolved and "after 10 alert(s)" in resolved
    assert kit.states()["flaky"][0] == "RUNNING"


def test_a_crash_in_a_quiet_window_pages_nobody_and_one_summary_counts_it(kits, tmp_path: Path, smtp_sink) -> None:
    kit = make(kits, tmp_path, smtp_sink, standin("busy", "serve 1"), PNR_ALERT_RESOLVED_S="3")
    quiet = subprocess.run([sys.executable, "-m", "app.alerts.quiet", str(kit.root), "8s", "deploying"], env=kit.env,
                           capture_output=True, text=True, timeout=30)
    assert quiet.returncode == 0 and "alerts held until" in quiet.stdout, quiet.stderr
    pid = start_program(kit, "busy")
    kit.ctl("signal", "USR1", "busy")
    wait_for(lambda: kit.states()["busy"][0] == "RUNNING" and int(kit.ctl("pid", "busy").stdout) != pid, 30,
             "busy exited and restarted", interval_s=0.25)
    assert smtp_sink.received() == []  # inside the window: no page
    [summary] = wait_for(smtp_sink.received, 8 + 5 + 10, "the window's summary")
    assert summary["X-PNR-Kind"] == "quiet" and "quiet window over (deploying): 1 alert(s) held" in summary["Subject"]
    assert "busy: exit status 1" in text(summary)
    _no_more_mail_for(smtp_sink, 2 * 5, 1)  # and no "resolved" for an episode nobody was paged about


def test_a_quiet_window_is_refused_without_a_duration_it_can_read(tmp_path: Path) -> None:
    refused = subprocess.run([sys.executable, "-m", "app.alerts.quiet", str(tmp_path), "half an hour"],
                             capture_output=True, text=True, timeout=30)
    assert refused.returncode == 2 and "not a duration" in refused.stderr
