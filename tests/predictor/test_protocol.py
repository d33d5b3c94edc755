"""The message schema: what is a request, what each broken message is answered with."""
from __future__ import annotations

import json

import pytest

from predictor import protocol
from predictor.protocol import ProtocolError


def _frames(message: object) -> list[bytes]:
    return [json.dumps(message).encode()]


@pytest.mark.parametrize("message,op,items", [
    ({"v": 1, "id": "a", "op": "predict", "items": []}, "predict", []),
    ({"v": 1, "id": "a", "op": "predict", "items": [{"x": 1}, 5]}, "predict", [{"x": 1}, 5]),
    ({"v": 1, "id": "a", "op": "ping"}, "ping", None),
    ({"v": 1, "id": "a", "op": "reload", "extra": "ignored"}, "reload", None),
])
def test_valid_requests(message: dict[str, object], op: str, items: object) -> None:
    request = protocol.decode_request(_frames(message))
    assert (request.id, request.op, request.items) == ("a", op, items)


@pytest.mark.parametrize("frames,code,request_id", [
    ([b"a", b"b"], protocol.BAD_FRAME, None),
    ([], protocol.BAD_FRAME, None),
    ([b"x" * (protocol.MAX_MESSAGE_BYTES + 1)], protocol.TOO_LARGE, None),
    ([b"\xff\xfe\xfd"], protocol.BAD_ENCODING, None),
    ([b'{"v": 1, "id": "\xe9"}'], protocol.BAD_ENCODING, None),
    ([b""], protocol.BAD_JSON, None),
    ([b"{not json"], protocol.BAD_JSON, None),
    ([b'{"v": 1, "id": "a", "op": "ping", "n": NaN}'], protocol.BAD_JSON, None),
    ([b'{"v": 1, "id": "a", "op": "ping", "n": Infinity}'], protocol.BAD_JSON, None),
    ([b"[" * 100000 + b"]" * 100000], protocol.BAD_JSON, None),
    ([b'{"v": 1, "id": "a", "n": ' + b"9" * 5000 + b"}"], protocol.BAD_JSON, None),
    (_frames([1, 2, 3]), protocol.BAD_REQUEST, None),
    (_frames("ping"), protocol.BAD_REQUEST, None),
    (_frames(None), protocol.BAD_REQUEST, None),
    (_frames({"id": "a", "op": "ping"}), protocol.BAD_REQUEST, "a"),
    (_frames({"v": 2, "id": "a", "op": "ping"}), protocol.UNSUPPORTED_VERSION, "a"),
    (_frames({"v": "1", "id": "a", "op": "ping"}), protocol.UNSUPPORTED_VERSION, "a"),
    (_frames({"v": True, "id": "a", "op": "ping"}), protocol.UNSUPPORTED_VERSION, "a"),
    (_frames({"v": 1, "op": "ping"}), protocol.BAD_REQUEST, None),
    (_frames({"v": 1, "id": 7, "op": "ping"}), protocol.BAD_REQUEST, None),
    (_frames({"v": 1, "id": "", "op": "ping"}), protocol.BAD_REQUEST, None),
    (_frames({"v": 1, "id": "x" * 129, "op": "ping"}), protocol.BAD_REQUEST, None),
    (_frames({"v": 1, "id": "a", "op": "shutdown"}), protocol.UNKNOWN_OP, "a"),
    (_frames({"v": 1, "id": "a"}), protocol.UNKNOWN_OP, "a"),
    (_frames({"v": 1, "id": "a", "op": "predict"}), protocol.BAD_REQUEST, "a"),
    (_frames({"v": 1, "id": "a", "op": "predict", "items": {"0": {}}}), protocol.BAD_REQUEST, "a"),
    (_frames({"v": 1, "id": "a", "op": "predict", "items": [{}] * (protocol.MAX_BATCH_ITEMS + 1)}),
     protocol.TOO_MANY_ITEMS, "a"),
    (_frames({"v": 1, "id": "a", "op": "ping", "items": []}), protocol.BAD_REQUEST, "a"),
])
def test_broken_requests(frames: list[bytes], code: str, request_id: str | None) -> None:
    with pytest.raises(ProtocolError) as caught:
        protocol.decode_request(frames)
    assert (caught.value.code, caught.value.request_id) == (code, request_id)
    reply = protocol.error_reply(caught.value.request_id, caught.value.code, caught.value.message)
    assert protocol.decode_reply([protocol.encode(reply)]) == reply


def test_a_full_batch_fits_in_a_message() -> None:
    item = {"id": "1000", "train_number": "12951", "journey_class": "SL", "quota": "GN", "waitlist_type": "GNWL",
            "booking_position": 450, "current_position": 120, "hours_to_chart": 1234.56}
    _rid, payload = protocol.encode_request("predict", [item] * protocol.MAX_BATCH_ITEMS)
    assert len(payload) < protocol.MAX_MESSAGE_BYTES


def test_request_round_trip_and_fresh_ids() -> None:
    rid, payload = protocol.encode_request("predict", [{"a": 1}])
    request = protocol.decode_request([payload])
    assert (request.id, request.op, request.items) == (rid, "predict", [{"a": 1}])
    assert protocol.encode_request("ping")[0] != protocol.encode_request("ping")[0]
    assert protocol.encode_request("ping", request_id="fixed")[0] == "fixed"


@pytest.mark.parametrize("frames", [
    [b"nope"], [b"{}"], [b'{"v": 1}'], [b'{"v": 1, "ok": false}'], [b'{"v": 2, "ok": true}'], [b"a", b"b"],
])
def test_broken_replies(frames: list[bytes]) -> None:
    with pytest.raises(ProtocolError):
        protocol.decode_reply(frames)


def test_replies_never_carry_nan() -> None:
    with pytest.raises(ValueError):
        protocol.encode(protocol.ok_reply("a", value=float("nan")))
