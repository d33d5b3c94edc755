"""The predictor's messages: versioned JSON over ZeroMQ, one request one reply.

Request  {"v": 1, "id": "<uuid>", "op": "predict", "items": [...]}
         {"v": 1, "id": "<uuid>", "op": "ping"} | {"v": 1, "id": "<uuid>", "op": "reload"}
Reply    {"v": 1, "id": "<same>", "ok": true, ...}      predict: "results", "model_version"
                                                        ping: "model_version", "pid", "uptime_s"
                                                        reload: "model_version", "previous_version"
         {"v": 1, "id": "<same or null>", "ok": false, "error": {"code": "...", "message": "..."}}
Every operation is idempotent: a retried request may be served twice, by two daemons.
A message longer than MAX_MESSAGE_BYTES never reaches the daemon: its socket's ZMQ_MAXMSGSIZE makes
libzmq drop the connection, so the sender hears nothing and (Lazy Pirate) retries elsewhere; the
client refuses to send such a request in the first place.
Shared by server and client; imports neither numpy nor the model.
"""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

VERSION = 1
MAX_MESSAGE_BYTES = 1024 * 1024
MAX_BATCH_ITEMS = 1000
MAX_ID_CHARS = 128
OPS = ("predict", "ping", "reload")

# Error codes of error replies.
BAD_FRAME = "bad_frame"  # not a single frame
TOO_LARGE = "too_large"
BAD_ENCODING = "bad_encoding"  # not UTF-8
BAD_JSON = "bad_json"
BAD_REQUEST = "bad_request"  # JSON, but not a valid request
UNSUPPORTED_VERSION = "unsupported_version"
UNKNOWN_OP = "unknown_op"
TOO_MANY_ITEMS = "too_many_items"
RELOAD_FAILED = "reload_failed"
INTERNAL = "internal"


class ProtocolError(Exception):
    """A message that breaks the protocol; becomes an error reply (code, message, request id if known)."""

    def __init__(self, code: str, message: str, request_id: str | None = None):
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.request_id = code, message, request_id


@dataclass(frozen=True)
class Request:
    """A valid request."""

    id: str
    op: str
    items: list[Any] | None = None


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _loads(data: bytes) -> Any:
    """Strict JSON: UTF-8 only, no NaN/Infinity, bounded nesting and number sizes."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtocolError(BAD_ENCODING, f"message is not UTF-8 ({exc.reason} at byte {exc.start})") from exc
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:  # ValueError covers JSONDecodeError and huge integers
        raise ProtocolError(BAD_JSON, f"message is not valid JSON ({str(exc)[:200]})") from exc


def _request_id(message: dict[str, Any]) -> str | None:
    rid = message.get("id")
    return rid if isinstance(rid, str) and 0 < len(rid) <= MAX_ID_CHARS else None


def decode_request(frames: list[bytes]) -> Request:
    """Parse and check a request; raises ProtocolError carrying the request id when it is readable."""
    if len(frames) != 1:
        raise ProtocolError(BAD_FRAME, f"expected one frame, got {len(frames)}")
    data = frames[0]
    if len(data) > MAX_MESSAGE_BYTES:
        raise ProtocolError(TOO_LARGE, f"message is larger than {MAX_MESSAGE_BYTES} bytes")
    message = _loads(data)
    if not isinstance(message, dict):
        raise ProtocolError(BAD_REQUEST, "request must be a JSON object")
    rid = _request_id(message)
    if "v" not in message:
        raise ProtocolError(BAD_REQUEST, "missing protocol version v", rid)
    if message["v"] != VERSION or isinstance(message["v"], bool):
        raise ProtocolError(UNSUPPORTED_VERSION, f"protocol version {message['v']!r} is not {VERSION}", rid)
    if rid is None:
        raise ProtocolError(BAD_REQUEST, f"id must be a string of 1 to {MAX_ID_CHARS} characters")
    op = message.get("op")
    if op not in OPS:
        raise ProtocolError(UNKNOWN_OP, f"op must be one of {', '.join(OPS)}", rid)
    items = message.get("items")
    if op == "predict":
        if not isinstance(items, list):
            raise ProtocolError(BAD_REQUEST, "predict needs items, a list", rid)
        if len(items) > MAX_BATCH_ITEMS:
            raise ProtocolError(TOO_MANY_ITEMS, f"at most {MAX_BATCH_ITEMS} items per request", rid)
    elif items is not None:
        raise ProtocolError(BAD_REQUEST, f"{op} takes no items", rid)
    return Request(id=rid, op=op, items=items)


def encode(message: dict[str, Any]) -> bytes:
    """A message as compact UTF-8 JSON (never NaN)."""
    return json.dumps(message, separators=(",", ":"), allow_nan=False).encode("utf-8")


def encode_request(op: str, items: list[Any] | None = None, request_id: str | None = None) -> tuple[str, bytes]:
    """A request with a fresh id (or the given one): (id, bytes)."""
    rid = request_id or uuid.uuid4().hex
    message: dict[str, Any] = {"v": VERSION, "id": rid, "op": op}
    if items is not None:
        message["items"] = items
    return rid, encode(message)


def ok_reply(request_id: str, **fields: Any) -> dict[str, Any]:
    """A success reply."""
    return {"v": VERSION, "id": request_id, "ok": True, **fields}


def error_reply(request_id: str | None, code: str, message: str) -> dict[str, Any]:
    """An error reply."""
    return {"v": VERSION, "id": request_id, "ok": False, "error": {"code": code, "message": message}}


def decode_reply(frames: list[bytes]) -> dict[str, Any]:
    """Parse and check a reply's envelope; raises ProtocolError if it is not one."""
    if len(frames) != 1:
        raise ProtocolError(BAD_FRAME, f"expected one frame, got {len(frames)}")
    message = _loads(frames[0])
    if not isinstance(message, dict) or message.get("v") != VERSION or not isinstance(message.get("ok"), bool):
        raise ProtocolError(BAD_REQUEST, "not a version 1 reply")
    if not message["ok"]:
        error = message.get("error")
        if not isinstance(error, dict) or not isinstance(error.get("code"), str):
            raise ProtocolError(BAD_REQUEST, "error reply without an error code")
    return message
