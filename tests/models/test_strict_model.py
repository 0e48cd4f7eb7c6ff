"""The model is strict where the exported JSON Schema is, and the two accept exactly the same events.

Every case is an edge value for one field (strings of digits, booleans, whole and fractional floats, integers
for times, channel names, nulls, extra fields, province_code_original); the model's verdict (pydantic, from JSON
bytes as the worker reads them) must equal the JSON Schema's (jsonschema, draft 2020-12, format checking on).
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from dvcpulse.commands.schema import event_json_schema
from dvcpulse.models.filing_event import FilingEvent
from dvcpulse.models.index_766_facts import INDEX_766_FIELDS
from tests.models.event_helpers import CCCD, CMND, CONTEXT, DROP, JSON_VALUES, SETTINGS, VALID, decode, event

_SCHEMA = event_json_schema()
_VALIDATOR = jsonschema.Draft202012Validator(_SCHEMA, format_checker=jsonschema.FormatChecker())
_HASH = "0123456789abcdef0123456789abcdef"


def _model_accepts(data: Any) -> bool:
    try:
        raw = orjson.dumps(data)
    except TypeError:  # an integer beyond 64 bits, which orjson does not write
        raw = json.dumps(data).encode()
    try:
        decode(raw)
    except ValidationError:
        return False
    return True


def test_exported_schema_is_a_valid_draft_2020_12_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(_SCHEMA)


# field -> edge values; each is tried in VALID, one field at a time. DROP leaves the field out.
EDGES: dict[str, list[Any]] = {
    "schema_version": [1, 1.0, True, "1", 2, 0, None, 1.5, DROP],
    "event_id": ["EV-1", "", " EV-1", "EV-1 ", "EV-1\n", "x" * 64, "x" * 65, "mã", "EV-١", 123, True, None, ["EV-1"]],
    "record_id": ["000.00.01.H29-250801-0001", "a/b:c_d", "two words", "", 12345, None],
    "procedure_code": ["1.001612", "1;2", "", 1.001612, False],
    "agency_code": ["H29.01", None, "", " H29", 29, DROP],
    "service_code": ["DV01", "DV25", "OTHER", "DV26", "dv01", " DV01", "other", 1, None],
    "province_code": ["79", "74", "01", "03", "7", "079", " 79", "٧٩", 79, 79.0, True, None],
    "channel": [
        *(1, 2, 3, 1.0, 2.0, 3.0, 2.5, 0, 4, 7, -1, True, False, None),
        *("1", "2", "online", "in_person", "postal", "ONLINE", "Online", " online", "fax", "", [2], {"v": 2}),
    ],
    "online_level": ["full", "partial", "none", "FULL", "", None, 1, True],
    "event_type": ["submitted", "status_changed", "synced", "Submitted", "deleted", None, 0],
    "status": [
        *(1, 10, 5, 5.0, 1.0, 10.0, 5.5, 0, 11, -3, 0.0, 1e3, True, False, None),
        *("5", "05", " 5", "5.0", "ten", [5], {"s": 5}, 123456789012345678901234567890),
    ],
    "event_time": [
        *("2025-08-01T09:30:00+07:00", "2025-08-01T02:30:00Z", "2025-08-01T02:30:00z", "2025-08-01t02:30:00Z"),
        *("2025-08-01T02:30:00.5Z", "2025-08-01T02:30:00.123456Z", "2025-08-01T02:30:00.1234567Z"),
        *("2025-08-01T02:30:00-05:30", "2025-08-01T02:30:00+23:59", "2025-08-01T02:30:00+24:00"),
        *("2025-08-01T10:00:00+0700", "2025-08-01T10:00:00+07", "2025-08-01T10:00:00", "2025-08-01 10:00:00Z"),
        *("2025-08-01_10:00:00Z", "2025-08-01T10:00Z", "2025-08-01", "20250801T100000Z", "2025-08-01T10:00:00,5Z"),
        *("2025-13-01T10:00:00Z", "2025-08-32T10:00:00Z", "2025-08-01T24:00:00Z", "2025-08-01T10:60:00Z"),
        *("2025-08-01T10:00:60Z", "2025-08-01T10:00:00+07:00\n", " 2025-08-01T10:00:00Z", "1722480000", ""),
        *("1970-01-01T00:00:00Z", "1969-12-31T23:59:59Z", "2105-12-31T23:59:59Z", "2106-01-01T00:00:00Z"),
        *("0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "yesterday"),
        *(1722480000, 1722480000.5, 0, True, None, ["2025-08-01T02:30:00Z"]),
    ],
    "due_date": [
        *("2025-08-08T17:00:00+07:00", "2025-08-08T10:00:00Z", "1900-01-01T00:00:00Z", "2025-08-08T17:00:00"),
        *("2025-08-08", "2025-08-08T17:00:00+0700", "1722480000", 1722480000, True, None, DROP),
    ],
    "paid_online": [True, False, None, 1, 0, "true", "false", "yes", "1", 1.0, [True], DROP],
    **{
        name: [True, False, None, 1, 0, "true", "1", 1.0, [True], DROP]
        for name in INDEX_766_FIELDS
        if name != "satisfaction_rating"
    },
    "satisfaction_rating": ["satisfied", "neutral", "dissatisfied", "Satisfied", "", " neutral", 1, True, None, DROP],
    "applicant_id": [
        *(CCCD, CMND, None, DROP, "12345", CCCD + "0", CCCD + "\n", " " + CCCD, "079 203 012 345", "٠٧٩٢٠٣٠١٢٣٤٥"),
        *(int(CCCD), int(CMND), True, [CCCD], {"n": CCCD}, ""),
    ],
    "applicant_hash": [_HASH, _HASH.upper(), _HASH[:-1], CCCD, None, 123, True, DROP],
    "province_code_original": [
        *(None, DROP, "74", "77", "02", "79", "01", "03", "7", " 74", 74, True),
    ],
}
CASES = [(field, value) for field, values in EDGES.items() for value in values]


def _case_id(case: tuple[str, Any]) -> str:
    field, value = case
    return f"{field}={'(none)' if value is DROP else repr(value)[:40]}"


# Calendar validity (2025-02-30) is only in `format: date-time`, which jsonschema checks only with the optional
# rfc3339-validator package; and the exact instant at either end of event_time's range is only the model's.
_CALENDAR_ONLY_IN_FORMAT = {"2025-02-30T10:00:00Z", "2025-02-29T10:00:00Z", "2025-04-31T10:00:00Z"}


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_model_and_schema_agree_on_edge_values(case: tuple[str, Any]) -> None:
    field, value = case
    data = event(**{field: value})
    assert _VALIDATOR.is_valid(data) == _model_accepts(data), (data, list(_VALIDATOR.iter_errors(data)))


@pytest.mark.parametrize("time", sorted(_CALENDAR_ONLY_IN_FORMAT))
def test_impossible_dates_are_rejected_by_the_model(time: str) -> None:
    assert not _model_accepts(event(event_time=time))
    assert not _model_accepts(event(due_date=time))


@pytest.mark.parametrize(
    ("changes", "accepted"),
    [
        ({"province_code": "74", "province_code_original": "74"}, True),  # as sent: the legacy code itself
        ({"province_code": "79", "province_code_original": "74"}, True),  # a stored event re-read (74 -> 79)
        ({"province_code": "79", "province_code_original": "77"}, True),  # 77 -> 79 as well
        ({"province_code": "79", "province_code_original": None}, True),
        ({"province_code": "74", "province_code_original": "77"}, False),  # not the code that was sent
        ({"province_code": "79", "province_code_original": "02"}, False),  # 02 -> 08, not 79
        ({"province_code": "01", "province_code_original": "01"}, False),  # 01 is in force: never "original"
        ({"province_code": "79", "province_code_original": "79"}, False),
        ({"province_code": "08", "province_code_original": "02"}, True),
        ({"province_code": "02", "province_code_original": "02"}, True),
        ({"province_code": "99", "province_code_original": "74"}, False),
        ({"province_code_original": "nonsense"}, False),
    ],
)
def test_province_code_original_is_consistent_with_the_mapping(changes: dict[str, Any], accepted: bool) -> None:
    data = event(**changes)
    assert _model_accepts(data) is accepted
    assert _VALIDATOR.is_valid(data) is accepted
    if accepted:
        model = decode(orjson.dumps(data))
        original = changes.get("province_code_original") or (
            changes["province_code"] if changes["province_code"] in {"74", "02"} else None
        )
        assert model.province_code_original == original
        assert FilingEvent.model_validate(model.model_dump(), context=CONTEXT) == model  # a stored event re-reads


def test_extra_fields_are_ignored_by_both() -> None:
    for extra in ({"portal_note": "x"}, {"Applicant_ID": CCCD}, {"status_text": 5}, {"channel_name": True}):
        data = {**VALID, **extra}
        assert _VALIDATOR.is_valid(data) and _model_accepts(data)


def test_strict_values_keep_their_meaning() -> None:
    """What is accepted loosely spelled is the same value: 5.0 is status 5, "online" and 2.0 are channel 2."""
    assert decode(event(status=5.0)).status == 5 and type(decode(event(status=5.0)).status) is int
    assert decode(event(channel="online")).channel == decode(event(channel=2.0)).channel == 2
    assert type(decode(event(channel=2.0)).channel) is int
    assert decode(event(schema_version=1.0)).schema_version == 1


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("status", "5", "valid integer"),
        ("status", True, "valid integer"),
        ("status", 5.5, "fractional part"),
        ("channel", True, "1, 2 or 3"),
        ("channel", "2", "1, 2 or 3"),
        ("schema_version", True, "Input should be 1"),
        ("paid_online", 1, "valid boolean"),
        ("paid_online", "true", "valid boolean"),
        ("event_time", 1722480000, "RFC 3339"),
        ("event_time", "1722480000", "RFC 3339"),
        ("event_time", "2025-08-01T10:00:00+0700", "RFC 3339"),
        ("due_date", 1722480000, "RFC 3339"),
    ],
)
def test_lenient_inputs_of_before_are_rejected_with_a_reason(field: str, value: Any, reason: str) -> None:
    with pytest.raises(ValidationError) as info:
        decode(event(**{field: value}))
    (error,) = info.value.errors()
    assert error["loc"] == (field,) and reason in error["msg"]


def test_python_input_also_takes_datetimes() -> None:
    """model_validate of a dump (datetimes, not strings) still works; strings go through the same pattern."""
    model = decode(VALID)
    assert FilingEvent.model_validate(model.model_dump(), context=CONTEXT) == model
    assert FilingEvent.model_validate(orjson.loads(orjson.dumps(VALID)), context=CONTEXT) == model
    with pytest.raises(ValidationError):
        FilingEvent.model_validate(event(event_time="1722480000"), context=CONTEXT)


_FIELDS = sorted(set(EDGES) - {"applicant_hash"})


@SETTINGS
@given(st.sampled_from(_FIELDS), JSON_VALUES)
def test_property_model_and_schema_agree_on_any_json_value(field: str, value: Any) -> None:
    data = event(**{field: value})
    assert _VALIDATOR.is_valid(data) == _model_accepts(data), data


@SETTINGS
@given(st.sampled_from(["status", "channel", "schema_version"]), st.integers(-5, 15) | st.floats(-5, 15))
def test_property_numbers_agree(field: str, value: float) -> None:
    data = event(**{field: value})
    assert _VALIDATOR.is_valid(data) == _model_accepts(data), data
