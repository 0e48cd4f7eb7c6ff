"""Malformed lines: copies of valid events broken in one of the ways the product's decoder must reject."""

from __future__ import annotations

import random

import orjson

from dvcpulse.seeds.reference import legacy_provinces, provinces

MALFORMED_KINDS = (
    "invalid_json",
    "missing_field",
    "unknown_province",
    "naive_event_time",
    "channel_7",
    "status_11",
    "bad_applicant_id",
)
_REQUIRED_FIELDS = (
    "event_id", "record_id", "procedure_code", "service_code", "province_code",
    "channel", "online_level", "event_type", "status", "event_time",
)  # fmt: skip


def unknown_province_codes() -> tuple[str, ...]:
    """Two-digit codes that are neither 2025 nor legacy codes."""
    known = set(provinces()) | set(legacy_provinces())
    return tuple(code for code in (f"{n:02d}" for n in range(100)) if code not in known)


def malformed_line(valid_line: bytes, kind: str, event_id: str, rng: random.Random) -> bytes:
    """A copy of a valid event, with a fresh event id, broken in one way the decoder must reject."""
    event = orjson.loads(valid_line)
    event["event_id"] = event_id
    if kind == "invalid_json":
        text = orjson.dumps(event)
        return text[: rng.randrange(10, len(text) - 1)]  # a proper prefix of an object is never valid JSON
    if kind == "missing_field":
        del event[rng.choice(_REQUIRED_FIELDS)]
    elif kind == "unknown_province":
        event["province_code"] = rng.choice(unknown_province_codes())
    elif kind == "naive_event_time":
        event["event_time"] = event["event_time"].removesuffix("+07:00")
    elif kind == "channel_7":
        event["channel"] = 7
    elif kind == "status_11":
        event["status"] = 11
    elif kind == "bad_applicant_id":
        event["applicant_id"] = rng.choice(("0791234567", "07920301234X", "0792030123456", "CCCD"))
    else:
        raise ValueError(f"unknown malformed kind {kind!r}")
    return orjson.dumps(event)
