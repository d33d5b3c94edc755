"""The outside answer to what no process on the host can report (power lost, the host gone, every
process of the kit killed at once): a healthchecks-style dead man's switch. When PNR_HEARTBEAT_URL
is set, the alert listener GETs it every PNR_HEARTBEAT_EVERY_S seconds; the service behind it (a
healthchecks.io check, a cron monitor, one's own) alerts when the pings stop. Each ping therefore
says that supervisord runs and delivers events: it is sent from the listener's TICK_5, in a thread
of its own so that a slow URL never holds an event. Off by default.
"""
from __future__ import annotations

import logging
import threading
import time
import urllib.error
import urllib.request

log = logging.getLogger(__name__)

TIMEOUT_S = 10.0


class Pinger:
    """GETs `url` at most once per `every_s`; failures are logged, never raised."""

    def __init__(self, url: str, every_s: float):
        self.url = url
        self.every_s = every_s
        self.last_at: float | None = None
        self.sent = 0

    def tick(self, now: float | None = None) -> threading.Thread | None:
        """Ping if one is due; the thread doing it (for tests to join), or None."""
        if not self.url:
            return None
        now = time.monotonic() if now is None else now
        if self.last_at is not None and now - self.last_at < self.every_s:
            return None
        self.last_at = now
        self.sent += 1
        thread = threading.Thread(target=self._get, name="pnr-heartbeat-url", daemon=True)
        thread.start()
        return thread

    def _get(self) -> None:
        try:
            with urllib.request.urlopen(self.url, timeout=TIMEOUT_S) as response:
                response.read(1024)
        except (OSError, urllib.error.URLError, ValueError) as exc:
            log.warning("heartbeat URL %s not reached: %s", self.url, exc)
