"""FilingEvent (schema v1) through models.decode: every field, envelopes, privacy, and the exported JSON Schema."""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import typer
from dvcpulse.models.decode import Decoded, FieldError, RejectedEvent, decode_event, decode_message, field_errors
from dvcpulse.models.filing_event import SCHEMA_VERSION, Channel, FilingEvent
from dvcpulse.models.privacy import KEY_ENV, citizen_id_hash
from dvcpulse.seeds.reference import legacy_provinces, provinces
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from typer.testing import CliRunner

from dvcpulse.commands.schema import CITIZEN_ID_PATTERN, OFFSET_PATTERN, SCHEMA_ID, event_json_schema, register
from dvcpulse.settings import DEV_PII_KEY

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


# --- the valid event ------------------------------------------------------------------------------------------


def test_valid_event_decodes_every_field() -> None:
    model = decode(VALID)
    assert model.schema_version == 1
    assert (model.event_id, model.record_id, model.procedure_code) == (
        "EV-2025-0001",
        "000.00.01.H29-250801-0001",
        "1.001612",
    )
    assert (model.service_code, model.province_code, model.province_code_original) == ("DV03", "79", None)
    assert model.agency_code == "H29.01"
    assert model.channel == Channel.online
    assert (model.online_level, model.event_type, model.status) == ("full", "submitted", 1)
    assert model.event_time == datetime(2025, 8, 1, 2, 30, tzinfo=UTC)
    assert model.due_date == datetime(2025, 8, 8, 10, 0, tzinfo=UTC)
    assert model.paid_online is True
    assert model.applicant_hash == citizen_id_hash(CCCD, KEY.encode())


def test_optional_fields_may_be_left_out() -> None:
    model = decode(event(schema_version=DROP, agency_code=DROP, due_date=DROP, paid_online=DROP, applicant_id=DROP))
    assert model.schema_version == SCHEMA_VERSION
    assert (model.agency_code, model.due_date, model.paid_online, model.applicant_hash) == (None, None, None, None)


def test_unknown_fields_are_ignored_and_the_model_is_frozen() -> None:
    model = decode(event(portal_note="extra"))
    assert not hasattr(model, "portal_note")
    with pytest.raises(ValidationError):
        model.status = 2  # type: ignore[misc]


def test_decode_event_accepts_a_parsed_object_and_str() -> None:
    assert decode_event(VALID, CONTEXT) == decode(VALID)
    assert decode_event(orjson.dumps(VALID).decode(), CONTEXT) == decode(VALID)


@pytest.mark.parametrize(
    "field",
    [
        *("event_id", "record_id", "procedure_code", "service_code", "province_code", "channel", "online_level"),
        *("event_type", "status", "event_time"),
    ],
)
def test_required_field_missing_is_reported_by_name(field: str) -> None:
    error = error_on(event(**{field: DROP}), field)
    assert (error.value, error.reason) == ("(missing)", "Field required")


# --- codes: event_id, record_id, procedure_code, agency_code ----------------------------------------------------


@pytest.mark.parametrize("field", ["event_id", "record_id", "procedure_code", "agency_code"])
@pytest.mark.parametrize("value", ["a", "EV-1", "000.00.01.H29-250801-0001", "urn:x/y_z", "x" * 64])
def test_codes_valid(field: str, value: str) -> None:
    assert getattr(decode(event(**{field: value})), field) == value


@pytest.mark.parametrize("field", ["event_id", "record_id", "procedure_code", "agency_code"])
def test_codes_surrounding_whitespace_is_stripped(field: str) -> None:
    assert getattr(decode(event(**{field: "  EV-1 "})), field) == "EV-1"


@pytest.mark.parametrize("field", ["event_id", "record_id", "procedure_code", "agency_code"])
@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("", "at least 1 character"),
        ("x" * 65, "at most 64 characters"),
        ("two words", "should match pattern"),
        ("semi;colon", "should match pattern"),
        (123, "valid string"),
        (["EV-1"], "valid string"),
    ],
)
def test_codes_invalid(field: str, value: Any, reason: str) -> None:
    error = error_on(event(**{field: value}), field)
    assert reason in error.reason
    shown = value if isinstance(value, str) else orjson.dumps(value).decode()
    assert error.value == (shown if len(shown) <= 80 else shown[:79] + "…")


# --- service_code -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", [f"DV{n:02d}" for n in range(1, 26)] + ["OTHER"])
def test_service_code_valid(code: str) -> None:
    assert decode(event(service_code=code)).service_code == code


@pytest.mark.parametrize("code", ["DV00", "DV26", "dv01", "DV1", "other", ""])
def test_service_code_invalid(code: str) -> None:
    error = error_on(event(service_code=code), "service_code")
    assert error.value == code
    assert f"unknown service_code {code!r}: expected DV01..DV25 or OTHER" in error.reason


# --- province_code ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", sorted(provinces()))
def test_province_code_2025_codes_are_kept(code: str) -> None:
    model = decode(event(province_code=code))
    assert (model.province_code, model.province_code_original) == (code, None)


@pytest.mark.parametrize(
    ("legacy", "new"), [("02", "08"), ("74", "79"), ("77", "79"), ("89", "91"), ("72", "80"), ("64", "52")]
)
def test_province_code_legacy_is_mapped_and_kept(legacy: str, new: str) -> None:
    model = decode(event(province_code=legacy))
    assert (model.province_code, model.province_code_original) == (new, legacy)


def test_province_code_every_legacy_code_is_accepted() -> None:
    for code, unit in legacy_provinces().items():
        model = decode(event(province_code=code))
        assert model.province_code == unit.new_code
        assert model.province_code_original == (None if code in provinces() else code)


def test_province_code_legacy_with_whitespace_is_mapped() -> None:
    model = decode(event(province_code=" 74 "))
    assert (model.province_code, model.province_code_original) == ("79", "74")


@pytest.mark.parametrize("code", ["03", "00", "99", "65"])
def test_province_code_unknown_is_rejected_precisely(code: str) -> None:
    error = error_on(event(province_code=code), "province_code")
    assert error.value == code
    assert f"unknown province_code {code!r}: neither a 2025 nor a legacy (63-unit) code" in error.reason


@pytest.mark.parametrize(("code", "reason"), [("7", "pattern"), ("079", "pattern"), ("HN", "pattern"), (79, "string")])
def test_province_code_malformed(code: Any, reason: str) -> None:
    error = error_on(event(province_code=code), "province_code")
    assert reason in error.reason
    assert error.value == str(code)


# --- channel, online_level, event_type, status -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        *((1, Channel.in_person), (2, Channel.online), (3, Channel.postal)),
        *(("in_person", Channel.in_person), ("online", Channel.online), ("postal", Channel.postal)),
    ],
)
def test_channel_valid(value: int | str, expected: Channel) -> None:
    assert decode(event(channel=value)).channel == expected


@pytest.mark.parametrize("value", [7, 0, -1, "fax", "ONLINE", None])
def test_channel_invalid(value: Any) -> None:
    error = error_on(event(channel=value), "channel")
    assert error.value == orjson.dumps(value).decode().strip('"')
    assert "1, 2 or 3" in error.reason


@pytest.mark.parametrize("level", ["full", "partial", "none"])
def test_online_level_valid(level: str) -> None:
    assert decode(event(online_level=level)).online_level == level


@pytest.mark.parametrize("level", ["FULL", "some", 1])
def test_online_level_invalid(level: Any) -> None:
    assert "'full', 'partial' or 'none'" in error_on(event(online_level=level), "online_level").reason


@pytest.mark.parametrize("kind", ["submitted", "status_changed", "synced"])
def test_event_type_valid(kind: str) -> None:
    assert decode(event(event_type=kind)).event_type == kind


@pytest.mark.parametrize("kind", ["deleted", "Submitted", ""])
def test_event_type_invalid(kind: str) -> None:
    error = error_on(event(event_type=kind), "event_type")
    assert error.value == kind
    assert "'submitted', 'status_changed' or 'synced'" in error.reason


@pytest.mark.parametrize("status", range(1, 11))
def test_status_valid(status: int) -> None:
    assert decode(event(status=status)).status == status


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        *((0, "greater than or equal to 1"), (11, "less than or equal to 10"), (-3, "greater than or equal to 1")),
        *((2.5, "valid integer"), ("ten", "valid integer")),
    ],
)
def test_status_invalid(status: Any, reason: str) -> None:
    error = error_on(event(status=status), "status")
    assert reason in error.reason
    assert error.value == str(status)


# --- event_time, due_date ---------------------------------------------------------------------------------------


def test_event_time_offset_and_z_are_the_same_instant() -> None:
    local = decode(event(event_time="2025-08-01T10:00:00+07:00")).event_time
    utc = decode(event(event_time="2025-08-01T03:00:00Z")).event_time
    assert local == utc
    assert local.utcoffset() == timedelta(hours=7)
    assert utc.utcoffset() == timedelta(0)
    assert decode(event(event_time="2025-08-01T10:00:00.250+07:00")).event_time_utc == utc + timedelta(milliseconds=250)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("1969-12-31T23:59:59.999Z", "greater than or equal to 1970-01-01"),
        ("1970-01-01T06:59:59+07:00", "greater than or equal to 1970-01-01"),
        ("2106-01-01T00:00:00Z", "less than 2106-01-01"),
    ],
)
def test_event_time_outside_what_clickhouse_aggregates_is_rejected(value: str, reason: str) -> None:
    error = error_on(event(event_time=value), "event_time")
    assert error.value == value and reason in error.reason
    assert decode(event(event_time="1970-01-01T00:00:00Z")).event_time.year == 1970


@pytest.mark.parametrize("field", ["event_time", "due_date"])
@pytest.mark.parametrize("value", ["2025-08-01T10:00:00", "2025-08-01 10:00:00", "2025-08-01"])
def test_times_naive_rejected(field: str, value: str) -> None:
    error = error_on(event(**{field: value}), field)
    assert error.value == value
    assert "timezone" in error.reason


@pytest.mark.parametrize("field", ["event_time", "due_date"])
@pytest.mark.parametrize("value", ["yesterday", "2025-13-01T10:00:00+07:00", "2025-08-01T25:00:00Z", ""])
def test_times_invalid(field: str, value: str) -> None:
    error = error_on(event(**{field: value}), field)
    assert error.value == value
    assert "datetime" in error.reason


def test_due_date_valid_and_optional() -> None:
    assert decode(event(due_date="2025-08-08T10:00:00Z")).due_date == datetime(2025, 8, 8, 10, tzinfo=UTC)
    assert decode(event(due_date=None)).due_date is None


# --- paid_online, schema_version ----------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [True, False, None])
def test_paid_online_valid(value: bool | None) -> None:
    assert decode(event(paid_online=value)).paid_online is value


@pytest.mark.parametrize("value", ["maybe", 2, [True]])
def test_paid_online_invalid(value: Any) -> None:
    assert "valid boolean" in error_on(event(paid_online=value), "paid_online").reason


def test_schema_version_1_accepted_others_rejected() -> None:
    assert decode(event(schema_version=1)).schema_version == 1
    for version in (2, 0, "1.1"):
        error = error_on(event(schema_version=version), "schema_version")
        assert "Input should be 1" in error.reason
        assert error.value == str(version)


# --- applicant_id: validated, hashed with the context key, never shown ------------------------------------------


@pytest.mark.parametrize("number", [CCCD, CMND, "000000000", "999999999999"])
def test_applicant_id_is_hashed_to_32_hex(number: str) -> None:
    model = decode(event(applicant_id=number))
    assert re.fullmatch(r"[0-9a-f]{32}", model.applicant_hash or "")
    assert model.applicant_hash == citizen_id_hash(number, KEY.encode())
    assert number not in model.model_dump_json()


def test_applicant_id_null_is_none() -> None:
    assert decode(event(applicant_id=None)).applicant_hash is None


@pytest.mark.parametrize(
    "value",
    [
        *("12345", "0792030123", "07920301234", "0792030123456", "07920301234a", " 079203012345x", "079 203 012 345"),
        *(CCCD + "\n", "٠٧٩٢٠٣٠١٢٣٤٥", "０７９２０３０１２３４５", int(CCCD), [CCCD], True),
    ],
)
def test_applicant_id_invalid_is_rejected_without_its_value(value: Any) -> None:
    rejected = rejected_one(event(applicant_id=value))
    assert [(e.field, e.value) for e in rejected.errors] == [("applicant_id", "<withheld>")]
    assert "12-digit CCCD or 9-digit CMND" in rejected.reason
    assert_hidden(CCCD, rejection_texts(Decoded(rejected=[rejected])))
    assert "0792030" not in rejected.reason + rejected.raw.decode()


@pytest.mark.parametrize("key", [b"k", b"x" * 64, b"a longer key than one SHA-256 block, " * 3, "khóa".encode()])
def test_citizen_id_hash_is_hmac_sha256_truncated_to_128_bits(key: bytes) -> None:
    for number in (CCCD, CMND):
        assert citizen_id_hash(number, key) == hmac.new(key, number.encode(), hashlib.sha256).hexdigest()[:32]


def test_applicant_hash_depends_on_the_context_key(monkeypatch: pytest.MonkeyPatch) -> None:
    first = decode(VALID, {"pii_key": "key-one"}).applicant_hash
    again = decode(VALID, {"pii_key": "key-one"}).applicant_hash
    second = decode(VALID, {"pii_key": "key-two"}).applicant_hash
    assert first == again == citizen_id_hash(CCCD, b"key-one")
    assert second == citizen_id_hash(CCCD, b"key-two")
    assert first != second
    # Without a key in the context: the environment's key, else the development key.
    monkeypatch.delenv(KEY_ENV, raising=False)
    assert decode(VALID, None).applicant_hash == citizen_id_hash(CCCD, DEV_PII_KEY.encode())
    monkeypatch.setenv(KEY_ENV, "from-env")
    assert decode(VALID, None).applicant_hash == citizen_id_hash(CCCD, b"from-env")
    assert decode(VALID, {"pii_key": "key-one"}).applicant_hash == first


def test_stored_hash_round_trips_but_a_raw_number_under_its_name_is_refused() -> None:
    model = decode(VALID)
    again = FilingEvent.model_validate(model.model_dump())
    assert again == model
    with pytest.raises(ValidationError) as info:
        FilingEvent.model_validate({**model.model_dump(), "applicant_hash": CCCD})
    assert CCCD not in str(info.value)
    assert [(e.field, e.value) for e in field_errors(info.value)] == [("applicant_hash", "<withheld>")]


@pytest.mark.parametrize("number", [CCCD, CMND])
def test_citizen_id_never_in_model_output_or_logs(number: str, caplog: pytest.LogCaptureFixture) -> None:
    model = decode(event(applicant_id=number))
    texts = [
        repr(model),
        str(model),
        repr(model.model_dump()),
        model.model_dump_json(),
        repr(model.model_dump(mode="json")),
    ]
    assert "applicant_id" not in model.model_dump()
    bad = [
        event(applicant_id=number, status=11),  # a field error next to a valid id
        event(applicant_id=number + "0"),  # an invalid id
        orjson.dumps(event(applicant_id=number))[: len(orjson.dumps(event(applicant_id=None))) - 2],  # cut in the id
        b"[" + orjson.dumps(event(applicant_id=number, channel=7)) + b", " + number.encode() + b"]",
        number.encode(),  # a bare number
        b'"' + number.encode() + b'"',  # a JSON string, not an object
    ]
    log = logging.getLogger("tests.test_model")
    with caplog.at_level(logging.DEBUG):
        log.info("event %r / %s / %s / %s", model, model, model.model_dump(), model.model_dump_json())
        for value in bad:
            raw = value if isinstance(value, bytes) else orjson.dumps(value)
            decoded = decode_message(raw, CONTEXT)
            assert decoded.rejected
            texts += rejection_texts(decoded)
            for rejected in decoded.rejected:
                log.warning(
                    "rejected %s: %r raw=%r index=%s", rejected.reason, rejected.errors, rejected.raw, rejected.index
                )
                log.error("%s", rejected)
            if not raw.lstrip().startswith(b"["):
                with pytest.raises(ValidationError) as info:
                    decode_event(raw, CONTEXT)
                log.error("invalid event: %s", info.value)
                log.error("invalid event: %r", info.value)
                texts += [str(info.value), repr(info.value)]
    assert "rejected" in caplog.text
    assert_hidden(number, [*texts, caplog.text])


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
    assert error.value == "123456789012345678901234567890"
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

_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False) | _TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4),
    max_leaves=12,
)
_CITIZEN_ID = st.from_regex(r"\A([0-9]{12}|[0-9]{9})\Z")


def _every_reject_explained(decoded: Decoded) -> None:
    for rejected in decoded.rejected:
        assert rejected.errors
        assert all(e.reason and e.field for e in rejected.errors)
        assert rejected.reason


@SETTINGS
@given(st.binary(max_size=300))
def test_property_arbitrary_bytes_never_raise(value: bytes) -> None:
    decoded = decode_message(value, CONTEXT)
    _every_reject_explained(decoded)
    if not value.lstrip().startswith(b"["):
        assert len(decoded.events) + len(decoded.rejected) == 1


@SETTINGS
@given(_JSON)
def test_property_arbitrary_json_never_raises(value: Any) -> None:
    decoded = decode_message(orjson.dumps(value), CONTEXT)
    _every_reject_explained(decoded)
    if isinstance(value, list):
        assert len(decoded.events) + len(decoded.rejected) == len(value)
        assert all(r.index is not None and 0 <= r.index < len(value) for r in decoded.rejected)
    else:
        assert len(decoded.rejected) == 1


@SETTINGS
@given(st.sampled_from(sorted(VALID)), _JSON)
def test_property_a_bad_field_is_named_in_its_rejection(field: str, value: Any) -> None:
    decoded = decode_message(orjson.dumps(event(**{field: value})), CONTEXT)
    _every_reject_explained(decoded)
    assert len(decoded.events) + len(decoded.rejected) == 1
    for rejected in decoded.rejected:
        assert {e.field.split(".")[0] for e in rejected.errors} == {field}


@SETTINGS
@given(_CITIZEN_ID, st.integers(0, 400), _JSON)
def test_property_citizen_ids_never_appear_in_rejections(number: str, cut: int, noise: Any) -> None:
    line = orjson.dumps(event(applicant_id=number, status=11))
    messages = [
        line,  # valid id, another field wrong
        line[:cut],  # cut short anywhere
        orjson.dumps(event(applicant_id=number + "1")),  # invalid id
        orjson.dumps(event(applicant_id=[number, noise])),  # not a string
        orjson.dumps(event(applicant_id=int(number))),  # a number
        orjson.dumps(event(applicant_id=number, event_id=noise)),
        line.replace(b'"applicant_id"', b'"applicant\\u005fid"'),  # an escaped key
        orjson.dumps(number),
        number.encode() + b" " + orjson.dumps(noise),
        orjson.dumps([event(applicant_id=number), noise, number, {"applicant_id": number}]),
        orjson.dumps([event(applicant_id=number)])[:cut],
    ]
    for message in messages:
        decoded = decode_message(message, CONTEXT)
        _every_reject_explained(decoded)
        assert_hidden(number, rejection_texts(decoded))


# --- the exported JSON Schema --------------------------------------------------------------------------------------

_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
    "object": (dict,),
    "array": (list,),
}


def _conforms(value: Any, schema: dict[str, Any]) -> bool:
    """A small JSON Schema check, enough for the keywords the exported schema uses (no dependency)."""
    if "type" in schema:
        types = _TYPES[schema["type"]]
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            return False
    if "anyOf" in schema and not any(_conforms(value, option) for option in schema["anyOf"]):
        return False
    if "const" in schema and not (type(value) is type(schema["const"]) and value == schema["const"]):
        return False
    if "enum" in schema and not any(type(value) is type(v) and value == v for v in schema["enum"]):
        return False
    if isinstance(value, str):
        if "pattern" in schema and not re.search(schema["pattern"], value, re.ASCII):
            return False
        if not schema.get("minLength", 0) <= len(value) <= schema.get("maxLength", len(value)):
            return False
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    if is_number and not schema.get("minimum", value) <= value <= schema.get("maximum", value):
        return False
    if isinstance(value, dict):
        if any(name not in value for name in schema.get("required", [])):
            return False
        properties = schema.get("properties", {})
        return all(_conforms(item, properties[name]) for name, item in value.items() if name in properties)
    return True


def _model_accepts(data: dict[str, Any]) -> bool:
    try:
        decode(data)
    except ValidationError:
        return False
    return True


# (changes to VALID): the schema and the model must agree on each; DROP leaves a field out.
SCHEMA_CHANGES: list[dict[str, Any]] = [
    {},
    {"schema_version": DROP, "agency_code": DROP, "due_date": DROP, "paid_online": DROP, "applicant_id": DROP},
    {"channel": "postal"},
    {"channel": 7},
    {"channel": "fax"},
    {"service_code": "OTHER"},
    {"service_code": "DV26"},
    {"province_code": "74"},
    {"province_code": "03"},
    {"province_code": "7"},
    {"status": 0},
    {"status": 11},
    {"event_time": "2025-08-01T03:00:00Z"},
    {"event_time": "2025-08-01T10:00:00+0700"},
    {"event_time": "2025-08-01T10:00:00"},
    {"due_date": "2025-08-01T10:00:00"},
    {"applicant_id": CMND},
    {"applicant_id": "12345"},
    {"applicant_id": int(CCCD)},
    {"online_level": "some"},
    {"event_type": "deleted"},
    {"schema_version": 2},
    {"event_id": ""},
    {"record_id": "two words"},
    {"paid_online": "maybe"},
    *({field: DROP} for field in ("event_id", "service_code", "province_code", "event_time", "status")),
]
SCHEMA_CASES = [event(**changes) for changes in SCHEMA_CHANGES]


def _case_id(changes: dict[str, Any]) -> str:
    return ",".join(f"{k}={'(none)' if v is DROP else v}" for k, v in changes.items()) or "valid"


def test_schema_identity_and_version() -> None:
    schema = event_json_schema()
    assert schema["$id"] == SCHEMA_ID == "https://github.com/dvcpulse/dvcpulse/schemas/filing-event-v1.json"
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"] == "FilingEvent" and schema["type"] == "object"
    assert schema["properties"]["schema_version"]["const"] == SCHEMA_VERSION == 1
    assert "schema version 1" in schema["description"]


def test_schema_required_fields_and_input_names() -> None:
    schema = event_json_schema()
    assert set(schema["required"]) == {
        "event_id",
        "record_id",
        "procedure_code",
        "service_code",
        "province_code",
        "channel",
        "online_level",
        "event_type",
        "status",
        "event_time",
    }
    assert "applicant_id" in schema["properties"] and "applicant_hash" not in schema["properties"]
    assert set(schema["properties"]) == {*VALID, "province_code_original"}


def test_schema_enums() -> None:
    props = event_json_schema()["properties"]
    assert props["service_code"]["enum"] == [f"DV{n:02d}" for n in range(1, 26)] + ["OTHER"]
    codes = props["province_code"]["enum"]
    assert set(codes) == set(provinces()) | set(legacy_provinces())
    assert len(codes) == len(set(codes)) == 34 + 63 - 34  # every 2025 code is also a legacy code
    assert "legacy" in props["province_code"]["description"] and "mapped" in props["province_code"]["description"]
    assert props["province_code_original"]["readOnly"] is True
    assert props["channel"]["anyOf"] == [
        {"type": "integer", "enum": [1, 2, 3]},
        {"type": "string", "enum": ["in_person", "online", "postal"]},
    ]
    assert props["online_level"]["enum"] == ["full", "partial", "none"]
    assert props["event_type"]["enum"] == ["submitted", "status_changed", "synced"]
    assert (props["status"]["minimum"], props["status"]["maximum"]) == (1, 10)


def test_schema_times_and_applicant_id() -> None:
    props = event_json_schema()["properties"]
    assert props["event_time"]["format"] == "date-time"
    assert props["event_time"]["pattern"] == OFFSET_PATTERN
    assert "offset" in props["event_time"]["description"]
    assert {"type": "string", "format": "date-time", "pattern": OFFSET_PATTERN}.items() <= props["due_date"]["anyOf"][
        0
    ].items()
    applicant = props["applicant_id"]
    assert applicant["anyOf"][0] == {"type": "string", "pattern": CITIZEN_ID_PATTERN}
    assert applicant["writeOnly"] is True
    for words in ("12-digit CCCD", "9-digit CMND", "keyed hash"):
        assert words in applicant["description"]


def test_schema_has_no_dangling_refs() -> None:
    text = orjson.dumps(event_json_schema()).decode()
    for ref in re.findall(r'"\$ref":"#/\$defs/(\w+)"', text):
        assert ref in event_json_schema().get("$defs", {})


@pytest.mark.parametrize("changes", SCHEMA_CHANGES, ids=_case_id)
def test_schema_and_model_agree(changes: dict[str, Any]) -> None:
    case = event(**changes)
    assert _conforms(case, event_json_schema()) == _model_accepts(case)


def test_schema_example_is_a_valid_event() -> None:
    schema = event_json_schema()
    (example,) = schema["examples"]
    assert _conforms(example, schema)
    assert decode(example).event_id == example["event_id"]


def test_schema_with_jsonschema_if_installed() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft202012Validator(event_json_schema(), format_checker=jsonschema.FormatChecker())
    jsonschema.Draft202012Validator.check_schema(event_json_schema())
    for case in SCHEMA_CASES:
        assert validator.is_valid(case) == _model_accepts(case), case


def test_schema_export_command(tmp_path: Path) -> None:
    app = typer.Typer()
    register(app)
    app.command("noop")(lambda: None)  # a second command keeps `schema` a subcommand
    runner = CliRunner()
    result = runner.invoke(app, ["schema", "export"])
    assert result.exit_code == 0, result.output
    assert orjson.loads(result.stdout) == event_json_schema()
    out = tmp_path / "filing-event-v1.json"
    result = runner.invoke(app, ["schema", "export", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert orjson.loads(out.read_bytes()) == event_json_schema()
