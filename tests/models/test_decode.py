"""models/decode.py: one event or an envelope of events from a Kafka message; every rejection explained."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dvcpulse.models.decode import decode_event, decode_message
from tests.models.event_helpers import (
    CCCD,
    CMND,
    CONTEXT,
    JSON_VALUES,
    SETTINGS,
    VALID,
    assert_hidden,
    decode,
    event,
    every_reject_explained,
    rejected_one,
)

# --- one event ------------------------------------------------------------------------------------------------


def test_decode_event_accepts_a_parsed_object_and_str() -> None:
    assert decode_event(VALID, CONTEXT) == decode(VALID)
    assert decode_event(orjson.dumps(VALID).decode(), CONTEXT) == decode(VALID)


# --- whole-message errors: not JSON, empty, not an object -----------------------------------------------------


@pytest.mark.parametrize("value", [b"", None])
def test_empty_message(value: bytes | None) -> None:
    rejected = rejected_one(value) if value is not None else decode_message(None).rejected[0]
    assert rejected.reason == "(message)=: empty message value"
    assert rejected.raw == b""


@pytest.mark.parametrize("value", [b"hello", b"{", b"{'single': 'quotes'}", b"\xff\xfe", b'{"event_id": "EV-1",}'])
def test_not_json(value: bytes) -> None:
    (error,) = rejected_one(value).errors
    assert error.field == "(event)"
    assert error.reason.startswith("Invalid JSON")
    assert error.value  # shows (part of) the line, so the sender can find it


@pytest.mark.parametrize("value", [b"42", b'"text"', b"null", b"true", b"3.5"])
def test_json_that_is_not_an_object(value: bytes) -> None:
    (error,) = rejected_one(value).errors
    assert (error.field, error.value, error.reason) == (
        "(event)",
        value.decode().strip('"'),
        "Input should be an object",
    )


def test_whole_value_errors_are_shown_redacted_and_truncated() -> None:
    line = orjson.dumps(event(applicant_id=CCCD))
    cut = line[: line.index(CCCD.encode()) + 10]  # cut inside the id
    (error,) = rejected_one(cut).errors
    assert error.field == "(event)"
    assert error.reason.startswith("Invalid JSON: EOF while parsing a string")
    assert error.value.startswith('{"schema_version":1,"event_id":"EV-2025-0001"')
    assert len(error.value) <= 80 and error.value.endswith("…")
    assert_hidden(CCCD, [error.value, rejected_one(cut).raw.decode()])
    # A long line of digits is masked however it is spelled.
    text = b"CCCD " + CCCD.encode() + b", CMND " + CMND.encode()
    rejected = rejected_one(text)
    assert rejected.errors[0].value == "CCCD <digits>, CMND <digits>"
    assert rejected.raw == b"CCCD <digits>, CMND <digits>"


def test_integer_beyond_64_bits_is_rejected_not_raised() -> None:
    raw = orjson.dumps(VALID).replace(b'"status":1', b'"status":123456789012345678901234567890')
    (error,) = rejected_one(raw).errors
    assert error.field == "status"
    assert error.value == "<digits>"  # a run of 9 or more digits may hold a citizen number: never shown
    assert "less than or equal to 10" in error.reason


# --- envelopes ----------------------------------------------------------------------------------------------------


def test_envelope_all_valid_keeps_order() -> None:
    items = [event(event_id=f"EV-{n}") for n in range(5)]
    decoded = decode_message(orjson.dumps(items), CONTEXT)
    assert [e.event_id for e in decoded.events] == [f"EV-{n}" for n in range(5)]
    assert decoded.rejected == []


def test_envelope_bad_event_keeps_the_good_ones_and_reports_its_index() -> None:
    items = [event(event_id="EV-0"), event(event_id="EV-1", status=11), event(event_id="EV-2"), 42]
    decoded = decode_message(b"  " + orjson.dumps(items), CONTEXT)
    assert [e.event_id for e in decoded.events] == ["EV-0", "EV-2"]
    assert [r.index for r in decoded.rejected] == [1, 3]
    first, second = decoded.rejected
    assert [(e.field, e.value) for e in first.errors] == [("status", "11")]
    assert b'"EV-1"' in first.raw and b"<withheld>" in first.raw and CCCD.encode() not in first.raw
    assert [(e.field, e.value) for e in second.errors] == [("(event)", "42")]
    assert "valid dictionary" in second.reason


def test_envelope_event_with_several_errors_reports_each() -> None:
    decoded = decode_message(orjson.dumps([event(channel=7, status=0, province_code="03")]), CONTEXT)
    (rejected,) = decoded.rejected
    assert rejected.index == 0
    assert {e.field for e in rejected.errors} == {"channel", "status", "province_code"}


def test_envelope_not_json() -> None:
    rejected = rejected_one(b"[" + orjson.dumps(VALID) + b",")
    assert rejected.errors[0].field == "(message)"
    assert rejected.reason.startswith("(message)=: envelope is not valid JSON")
    assert "none of its events was read" in rejected.reason
    assert rejected.index is None
    assert CCCD.encode() not in rejected.raw


# --- properties ---------------------------------------------------------------------------------------------------


@SETTINGS
@given(st.binary(max_size=300))
def test_property_arbitrary_bytes_never_raise(value: bytes) -> None:
    decoded = decode_message(value, CONTEXT)
    every_reject_explained(decoded)
    if not value.lstrip().startswith(b"["):
        assert len(decoded.events) + len(decoded.rejected) == 1


@SETTINGS
@given(JSON_VALUES)
def test_property_arbitrary_json_never_raises(value: Any) -> None:
    decoded = decode_message(orjson.dumps(value), CONTEXT)
    every_reject_explained(decoded)
    if isinstance(value, list):
        assert len(decoded.events) + len(decoded.rejected) == len(value)
        assert all(r.index is not None and 0 <= r.index < len(value) for r in decoded.rejected)
    else:
        assert len(decoded.rejected) == 1


@SETTINGS
@given(st.sampled_from(sorted(VALID)), JSON_VALUES)
def test_property_a_bad_field_is_named_in_its_rejection(field: str, value: Any) -> None:
    decoded = decode_message(orjson.dumps(event(**{field: value})), CONTEXT)
    every_reject_explained(decoded)
    assert len(decoded.events) + len(decoded.rejected) == 1
    for rejected in decoded.rejected:
        assert {e.field.split(".")[0] for e in rejected.errors} == {field}
