"""Shared by the tests of dvcpulse.models: a valid schema-v1 event, ways to change and decode it, and checks
that a rejection is explained and never shows a citizen id."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from dvcpulse.models.decode import Decoded, FieldError, RejectedEvent, decode_event, decode_message
from dvcpulse.models.filing_event import FilingEvent

KEY = "test-pii-key"
CONTEXT = {"pii_key": KEY}
CCCD = "079203012345"  # 12 digits
CMND = "271234567"  # 9 digits
DROP = object()  # marks a field to leave out

# No run of 9+ digits anywhere, so a citizen id found in a text can only have come from applicant_id.
VALID: dict[str, Any] = {
    "schema_version": 1,
    "event_id": "EV-2025-0001",
    "record_id": "000.00.01.H29-250801-0001",
    "procedure_code": "1.001612",
    "service_code": "DV03",
    "province_code": "79",
    "agency_code": "H29.01",
    "channel": 2,
    "online_level": "full",
    "event_type": "submitted",
    "status": 1,
    "event_time": "2025-08-01T09:30:00+07:00",
    "due_date": "2025-08-08T17:00:00+07:00",
    "paid_online": True,
    "applicant_id": CCCD,
}
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def event(**changes: Any) -> dict[str, Any]:
    """VALID with some fields changed; a field given as DROP is left out."""
    data = {**VALID, **changes}
    return {k: v for k, v in data.items() if v is not DROP}


def decode(data: dict[str, Any] | bytes, context: dict[str, Any] | None = CONTEXT) -> FilingEvent:
    """Decode one event from JSON bytes, as the worker receives it."""
    return decode_event(data if isinstance(data, bytes) else orjson.dumps(data), context)


def rejected_one(value: bytes | dict[str, Any]) -> RejectedEvent:
    """The single rejection of a one-event message (and no event)."""
    decoded = decode_message(value if isinstance(value, bytes) else orjson.dumps(value), CONTEXT)
    assert decoded.events == []
    assert len(decoded.rejected) == 1, decoded.rejected
    return decoded.rejected[0]


def error_on(data: dict[str, Any], field: str) -> FieldError:
    """The one error a message gets, which must be about `field`."""
    rejected = rejected_one(data)
    assert [e.field for e in rejected.errors] == [field], rejected.reason
    return rejected.errors[0]


def rejection_texts(decoded: Decoded) -> list[str]:
    """Every text a rejection can be shown or stored as."""
    texts = [repr(decoded)]
    for rejected in decoded.rejected:
        texts += [rejected.reason, repr(rejected), rejected.raw.decode("utf-8", "replace"), repr(rejected.raw)]
        texts += [str(e) for e in rejected.errors] + [e.value for e in rejected.errors]
    return texts


def assert_hidden(number: str, texts: list[str]) -> None:
    """Neither the number nor its first 9 digits (what a line cut short inside it would leave) appear."""
    for text in texts:
        assert number not in text, text
        assert number[:9] not in text, text


# --- for the property tests -----------------------------------------------------------------------------------

_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False) | _TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4),
    max_leaves=12,
)
CITIZEN_IDS = st.from_regex(r"\A([0-9]{12}|[0-9]{9})\Z")


def every_reject_explained(decoded: Decoded) -> None:
    for rejected in decoded.rejected:
        assert rejected.errors
        assert all(e.reason and e.field for e in rejected.errors)
        assert rejected.reason
