"""FilingEvent (models/filing_event.py, schema v1): every field, what it accepts and how a bad value is reported."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from dvcpulse.models.filing_event import SCHEMA_VERSION, Channel
from dvcpulse.models.privacy import citizen_id_hash
from dvcpulse.seeds.reference import legacy_provinces, provinces
from tests.models.event_helpers import CCCD, DROP, KEY, VALID, decode, error_on, event

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
@pytest.mark.parametrize("value", ["  EV-1 ", "EV-1\n", "mã-hồ-sơ", "EV-١"])
def test_codes_surrounding_whitespace_and_non_ascii_are_rejected(field: str, value: str) -> None:
    # Strict, as the exported JSON Schema's pattern: nothing is stripped, letters and digits are ASCII.
    assert "should match pattern" in error_on(event(**{field: value}), field).reason


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


def test_province_code_with_whitespace_is_rejected() -> None:
    # Strict, as the exported JSON Schema's enum: " 74 " is not a code.
    assert "pattern" in error_on(event(province_code=" 74 "), "province_code").reason


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


def test_times_have_millisecond_precision_finer_digits_are_dropped() -> None:
    parsed = decode(event(event_time="2025-09-01T08:00:00.123999+07:00", due_date="2025-09-03T08:00:00.000999Z"))
    assert parsed.event_time == datetime(2025, 9, 1, 1, 0, 0, 123_000, tzinfo=UTC)
    assert parsed.due_date == datetime(2025, 9, 3, 8, 0, 0, tzinfo=UTC)
    # so two events within one millisecond are ordered by event id alone, in the worker as in ClickHouse
    a = decode(event(event_id="b", event_time="2025-09-01T08:00:00.123001+07:00"))
    b = decode(event(event_id="a", event_time="2025-09-01T08:00:00.123999+07:00"))
    assert a.event_time == b.event_time
