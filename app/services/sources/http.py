"""A real PNR-status JSON API as a status source: URL building, retries, and error mapping.

The reply shapes are read by `app.services.sources.shapes`; this module owns the transport, on
urllib3 alone (requests would add 4 MiB to every web worker for nothing the site uses). Transient
failures (timeouts, connection errors, HTTP 5xx and 429) are retried a bounded number of times with
a short backoff; everything else fails at once. The API key is kept out of every log line and
exception message, including urllib3's debug lines that print request URLs.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import re
import time
import urllib.parse
from collections.abc import Mapping
from typing import Any

import urllib3
from urllib3 import exceptions as http_errors

from ...domain.pnr import PnrError, PnrStatus, SourceUnavailable, validate_pnr
from . import shapes

log = logging.getLogger(__name__)

DEFAULT_PATH_TEMPLATE = "/pnr-status/pnr/{pnr}/apikey/{key}/"
RETRY_BACKOFF_S = 0.25
REDACTED = "***"
# The loggers that print request URLs (and so a key in the path) at DEBUG level.
URL_LOGGERS = ("urllib3.connectionpool", "urllib3.connection", "urllib3.util.retry")


class _RedactSecrets(logging.Filter):
    """Replaces every registered secret in a log record's message."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record in place; never drop it."""
        if self.secrets:
            message = record.getMessage()
            redacted = _redact(message, self.secrets)
            if redacted != message:
                record.msg, record.args = redacted, None
        return True


_URL_LOG_FILTER = _RedactSecrets()


class HttpSource:
    """Statuses from a PNR-status API; `path_template` takes `{pnr}` and `{key}`, e.g. a query string.

    `shape` is one of `shapes.SHAPES` ("auto" tells them apart by their keys). With `key_header`
    the key is sent in that header (RapidAPI's x-rapidapi-key) instead of, or besides, the URL.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        *,
        timeout_s: float,
        retries: int,
        shape: str = "auto",
        path_template: str = DEFAULT_PATH_TEMPLATE,
        key_header: str | None = None,
        headers: Mapping[str, str] | None = None,
        backoff_s: float = RETRY_BACKOFF_S,
        connections: int = 1,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"the status API base URL must start with http:// or https://, not {base_url!r}")
        if shape not in shapes.SHAPES:
            raise ValueError(f"unknown reply shape {shape!r}; known: {', '.join(shapes.SHAPES)}")
        if not api_key and ("{key}" in path_template or key_header):
            raise ValueError("the status API needs a key: the path template or key header uses one")
        if timeout_s <= 0 or retries < 0 or connections < 1:
            raise ValueError("timeout_s and connections must be positive and retries not negative")
        try:
            path_template.format(pnr="0", key="0")
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"bad path template {path_template!r}: only {{pnr}} and {{key}} are filled in") from exc
        self._base_url = base_url.rstrip("/")
        # The API's name in logs and alerts: its scheme and host, never its path or key.
        split = urllib.parse.urlsplit(self._base_url)
        self.host = f"the status API {split.scheme}://{split.netloc}"
        self._path_template = path_template
        self._api_key = api_key or ""
        self._secrets = {s for s in (self._api_key, urllib.parse.quote(self._api_key, safe="")) if s}
        self._timeout_s, self._retries, self._backoff_s = timeout_s, retries, backoff_s
        self.shape = shape
        self._headers = {"Accept": "application/json", **(headers or {})}
        if key_header:
            self._headers[key_header] = self._api_key
        # Connections are kept per host and reused, up to `connections` (the threads of a worker asking
        # at once: past it urllib3 opens one more and drops it afterwards, with a warning); no retries
        # or redirects below _fetch's own.
        self._pool = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(total=timeout_s), maxsize=connections)
        _URL_LOG_FILTER.secrets |= self._secrets
        for name in URL_LOGGERS:
            logging.getLogger(name).addFilter(_URL_LOG_FILTER)  # no-op when already added

    def get_status(self, pnr: str, now: dt.datetime, deadline_s: float | None = None) -> PnrStatus:
        """The status of `pnr` as of `now`, every attempt within `deadline_s` when given;
        InvalidPnr, PnrNotFound or SourceUnavailable otherwise."""
        pnr = validate_pnr(pnr)
        try:
            return shapes.to_status(self._fetch(self.status_url(pnr, now), pnr, deadline_s), pnr, now, self.shape)
        except PnrError as exc:
            message = str(exc)
            if _redact(message, self._secrets) == message:
                raise
            raise type(exc)(_redact(message, self._secrets)) from None

    def status_url(self, pnr: str, now: dt.datetime) -> str:
        """The URL of a PNR's status (a real API answers as of the moment it is asked, whatever `now` is)."""
        key = urllib.parse.quote(self._api_key, safe="")
        return self._base_url + self._path_template.format(pnr=urllib.parse.quote(pnr), key=key)

    def close(self) -> None:
        """Close the pooled connections."""
        self._pool.clear()

    def __enter__(self) -> HttpSource:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _fetch(self, url: str, pnr: str, deadline_s: float | None = None) -> Any:
        """The decoded JSON reply to a GET of `url` (about `pnr`, for the log), retrying transient
        failures while `deadline_s` (from now) allows; SourceUnavailable when there is none."""
        attempts = self._retries + 1
        deadline = None if deadline_s is None else time.monotonic() + deadline_s
        for attempt in range(1, attempts + 1):
            timeout_s = self._timeout_s if deadline is None else min(self._timeout_s, deadline - time.monotonic())
            cause = self._attempt(url, timeout_s)
            if not isinstance(cause, str):
                return cause.value
            log.warning("status API attempt %d/%d for %s failed: %s", attempt, attempts, pnr, cause)
            backoff_s = self._backoff_s * 2 ** (attempt - 1)
            if deadline is not None and time.monotonic() + backoff_s + 0.05 >= deadline:
                raise SourceUnavailable(f"the status source is unavailable after {attempt} attempts in "
                                        f"{deadline_s:g} s: {cause}")
            if attempt < attempts:
                time.sleep(backoff_s)
        raise SourceUnavailable(f"the status source is unavailable after {attempts} attempts: {cause}")

    def _attempt(self, url: str, timeout_s: float) -> _Reply | str:
        """One request within `timeout_s`: the reply, or the transient cause of its failure
        (permanent ones raise)."""
        try:
            response = self._pool.request("GET", url, headers=self._headers, redirect=False,
                                          timeout=urllib3.Timeout(total=max(timeout_s, 0.001)))
        except (http_errors.NewConnectionError, http_errors.ProtocolError, http_errors.SSLError) as exc:
            # First: urllib3 counts a refused connection (NewConnectionError) among its timeouts.
            return f"cannot connect: {_reason(exc, self._secrets)}"
        except http_errors.TimeoutError:
            return f"no answer within {timeout_s:.3g} s"
        except http_errors.HTTPError as exc:
            raise SourceUnavailable(f"the status API request failed: {_reason(exc, self._secrets)}") from None
        if response.status == 429 or response.status >= 500:
            return f"HTTP {response.status} {response.reason or ''}".rstrip()
        if not 200 <= response.status < 300:
            raise SourceUnavailable(f"the status source answered HTTP {response.status} {response.reason}")
        try:
            return _Reply(json.loads(response.data))
        except ValueError:
            raise SourceUnavailable("the status source sent malformed JSON") from None


class _Reply:
    """A decoded reply, told apart from a failure cause (a str) even when the JSON is a string."""

    def __init__(self, value: Any) -> None:
        self.value = value


def _reason(exc: BaseException, secrets: set[str]) -> str:
    """A short cause, "[Errno 111] Connection refused" rather than urllib3's nested reprs with the URL."""
    text = str(exc)
    found = re.search(r"\[Errno -?[0-9]+\][^'\")]*", text)
    return _redact(found.group(0).strip() if found else type(exc).__name__, secrets)


def _redact(text: str, secrets: set[str]) -> str:
    """`text` with every secret replaced, longest first so a quoted key is not half-replaced."""
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text
