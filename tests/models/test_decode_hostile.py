"""models/decode.py on hostile input: numbers orjson cannot hold, element splitting, size limits, redaction."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dvcpulse.models.decode import (
    MAX_EVENT_BYTES,
    MAX_KEPT_RAW_BYTES,
    EnvelopeError,
    decode_message,
    element_spans,
)
from tests.models.event_helpers import CCCD, CONTEXT, JSON_VALUES, SETTINGS, assert_hidden, event, rejection_texts


def with_extra(number: bytes, **changes: Any) -> bytes:
    """An event's JSON with an extra field `fee` holding a number orjson cannot represent."""
    return orjson.dumps(event(**changes))[:-1] + b',"fee":' + number + b"}"


@pytest.mark.parametrize("number", [b"1e400", b"-1e400", b"NaN", b"Infinity", b"-Infinity"])
def test_an_unrepresentable_extra_number_does_not_spoil_the_envelope(number: bytes) -> None:
    bad = with_extra(number, event_id="EV-1", status=11)  # invalid: rejected on its own
    good = with_extra(number, event_id="EV-2")  # valid: extra fields are ignored
    value = b"[" + orjson.dumps(event(event_id="EV-0")) + b", " + bad + b",\n" + good + b"]"
    decoded = decode_message(value, CONTEXT)
    assert [e.event_id for e in decoded.events] == ["EV-0", "EV-2"]
    assert decoded.indexes == [0, 2]
    ((rejected),) = decoded.rejected
    assert rejected.index == 1 and [e.field for e in rejected.errors] == ["status"]
    assert_hidden(CCCD, rejection_texts(decoded))  # safe_raw still redacts the element's own bytes
    assert decoded.spans is not None and value[slice(*decoded.spans[2])] == good


def test_an_element_that_is_not_json_is_rejected_alone() -> None:
    value = b"[" + orjson.dumps(event(event_id="EV-0")) + b", tru, 01, {\"a\": 1,}]"
    decoded = decode_message(value, CONTEXT)
    assert [e.event_id for e in decoded.events] == ["EV-0"]
    assert [r.index for r in decoded.rejected] == [1, 2, 3]
    assert all(r.reason.startswith("(event)=") and "Invalid JSON" in r.reason for r in decoded.rejected)


@pytest.mark.parametrize(
    "value",
    [b"[", b"[1,", b"[1,]", b"[,1]", b"[1,,2]", b'["abc', b'["a\\"]', b"[1] x", b"[1]]", b"[{]", b"[}]", b"[[}]",
     b"\x0c[1]", b"[1]\x0c"],
)  # fmt: skip
def test_an_array_whose_structure_cannot_be_read_is_rejected_whole(value: bytes) -> None:
    with pytest.raises(EnvelopeError):
        element_spans(value)
    (rejected,) = decode_message(value, CONTEXT).rejected
    assert rejected.index is None and "envelope is not valid JSON" in rejected.reason


@pytest.mark.parametrize("value", [b"[]", b" [ \n ] ", b"[\t]\r\n"])
def test_an_empty_envelope_decodes_to_nothing(value: bytes) -> None:
    decoded = decode_message(value, CONTEXT)
    assert decoded.empty and decoded.events == [] and decoded.rejected == []  # streams.ingest dead-letters it
    assert element_spans(value) == []


def test_an_event_larger_than_the_limit_is_rejected_alone_wherever_it_is() -> None:
    huge = event(event_id="EV-big", note="x" * MAX_EVENT_BYTES)
    (alone,) = decode_message(orjson.dumps(huge), CONTEXT).rejected
    assert alone.index is None and "more than the" in alone.reason
    assert len(alone.raw) < MAX_KEPT_RAW_BYTES + 100  # a dead letter stays small
    decoded = decode_message(orjson.dumps([event(event_id="EV-0"), huge, event(event_id="EV-2")]), CONTEXT)
    assert [e.event_id for e in decoded.events] == ["EV-0", "EV-2"]
    assert [r.index for r in decoded.rejected] == [1]


def test_a_large_valid_envelope_of_small_events_is_read_whole() -> None:
    items = [event(event_id=f"EV-{n}") for n in range(MAX_EVENT_BYTES // 300)]
    value = orjson.dumps(items)
    assert len(value) > MAX_EVENT_BYTES
    decoded = decode_message(value, CONTEXT)
    assert len(decoded.events) == len(items) and decoded.rejected == []


def test_unicode_escapes_brackets_and_quotes_inside_strings() -> None:
    tricky = event(event_id="EV-1", note='a "quoted" [bracket] {brace}, comma \\ backslash \u00e9 \U0001f600')
    value = b"[" + orjson.dumps(tricky) + b',"\\u005d\\"",[[],{}]]'
    spans = element_spans(value)
    assert [orjson.loads(value[s:e]) for s, e in spans] == [tricky, ']"', [[], {}]]
    assert [e.event_id for e in decode_message(value, CONTEXT).events] == ["EV-1"]


def test_deep_nesting_is_rejected_not_raised() -> None:
    deep = b"[" * 5000 + b"]" * 5000
    value = b"[" + orjson.dumps(event(event_id="EV-0")) + b"," + deep + b"]"
    decoded = decode_message(value, CONTEXT)
    assert [e.event_id for e in decoded.events] == ["EV-0"]
    assert [r.index for r in decoded.rejected] == [1]


# --- properties ---------------------------------------------------------------------------------------------------

_SPACE = st.text(alphabet=" \t\n\r", max_size=3).map(str.encode)


@SETTINGS
@given(st.lists(st.tuples(JSON_VALUES, _SPACE, _SPACE), max_size=6), _SPACE, _SPACE)
def test_property_spans_are_the_elements_of_any_json_array(items: list, before: bytes, after: bytes) -> None:
    value = before + b"[" + b",".join(a + orjson.dumps(item) + b for item, a, b in items) + b"]" + after
    spans = element_spans(value)
    assert [orjson.loads(value[s:e]) for s, e in spans] == [orjson.loads(orjson.dumps(i)) for i, _, _ in items]


@SETTINGS
@given(st.binary(max_size=200) | st.lists(st.sampled_from([b"[", b"]", b"{", b"}", b",", b'"', b"\\", b"1", b" ",
                                                            b'{"a":1}', b"NaN"]), max_size=30).map(b"".join))
def test_property_the_splitter_agrees_with_pydantic_on_arbitrary_bytes(raw: bytes) -> None:
    from pydantic import TypeAdapter, ValidationError

    value = b"[" + raw
    try:
        parsed = TypeAdapter(list[Any]).validate_json(value)
    except ValidationError:
        parsed = None
    if parsed is not None:  # whatever pydantic reads as an array, the splitter reads the same way
        spans = element_spans(value)
        assert len(spans) == len(parsed)
    decoded = decode_message(value, CONTEXT)  # and the decoder never raises
    assert all(r.reason for r in decoded.rejected)
