"""The store's one way of failing: every pymongo error becomes StoreUnavailable, named by its cause."""
from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pymongo.errors import ConnectionFailure, DuplicateKeyError, OperationFailure, PyMongoError

if TYPE_CHECKING:
    from .core import StoreCore

# Server error codes whose name the server may not send: 12501 is MongoDB's "quota exceeded", the
# error of the original outage.
SERVER_ERRORS = {12501: "quota exceeded"}


class StoreUnavailable(Exception):
    """The database could not serve a request (down, timing out, over quota, refusing writes).

    `alert_cause` says which of these it is ("unreachable", or the server's error code): the error
    mail tells causes apart by it, so that a store over quota is mailed at once even while the
    repeats of "store unreachable" a minute earlier are still being counted for a digest.
    """

    def __init__(self, message: str, alert_cause: str = "unavailable"):
        super().__init__(message)
        self.alert_cause = alert_cause


class mapped_errors:
    """Turn every pymongo error into StoreUnavailable, keeping the server's message; after the server
    could not be reached, fail at once until the client's monitor (HEARTBEAT_MS) sees it again."""

    def __init__(self, store: StoreCore):
        self.store = store

    def __enter__(self) -> None:
        store = self.store
        if store.unreachable_error:
            if not store.client.topology_description.has_writable_server():
                raise StoreUnavailable(f"unreachable: {store.unreachable_error} (not seen since)", "unreachable")
            store.unreachable_error = ""

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: object) -> Literal[False]:
        if exc is not None and isinstance(exc, PyMongoError) and not isinstance(exc, DuplicateKeyError):
            cause = failure_cause(exc)
            if cause == "unreachable":
                self.store.unreachable_error = f"{type(exc).__name__}: {exc}"
            raise StoreUnavailable(f"{cause}: {type(exc).__name__}: {exc}", cause) from exc
        return False


def failure_cause(exc: PyMongoError) -> str:
    """A few words for what went wrong: every way of not reaching the server is one cause, and each
    error code the server answers with is a cause of its own, named where the code has a name."""
    if isinstance(exc, ConnectionFailure):
        return "unreachable"
    if isinstance(exc, OperationFailure) and exc.code is not None:
        name = SERVER_ERRORS.get(exc.code) or str((exc.details or {}).get("codeName") or "")
        if not name or name.startswith("Location"):  # "Location12501": a code without a name
            return f"error {exc.code}"
        return f"{name} (error {exc.code})"
    return type(exc).__name__
