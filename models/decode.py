"""Decode Kafka message values into FilingEvents, with precise errors (field, value, reason).

A message value is either one event (a JSON object) or an envelope of events (a JSON array), so that
portals can batch. A bad event inside an envelope does not spoil its neighbours.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import orjson
from pydantic import TypeAdapter, ValidationError

from dvcpulse.models.filing_event import FilingEvent
from dvcpulse.models.privacy import redact_raw

_ONE = TypeAdapter(FilingEvent)
_MANY = TypeAdapter(list[FilingEvent])
_PERSONAL_FIELDS = {"applicant_id", "applicant_hash"}
_MAX_VALUE_CHARS = 80
_LONG_DIGITS = re.compile(rb"\d{9,}")  # a CCCD (12) or CMND (9) number may hide in any run this long
_MASKED = b"<digits>"
_WITHHELD = "<withheld>"


@dataclass(frozen=True, slots=True)
class FieldError:
    field: str
    value: str
    reason: str

    def __str__(self) -> str:
        return f"{self.field}={self.value}: {self.reason}"

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "value": self.value, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class RejectedEvent:
    """An event that failed validation: why, where in its message, and its (redacted) bytes."""

    errors: tuple[FieldError, ...]
    raw: bytes
    index: int | None = None  # position in an envelope; None for a one-event message

    @property
    def reason(self) -> str:
        return "; ".join(str(e) for e in self.errors)


@dataclass(slots=True)
class Decoded:
    events: list[FilingEvent] = field(default_factory=list)
    rejected: list[RejectedEvent] = field(default_factory=list)
    indexes: list[int] = field(default_factory=list)  # each event's position in its envelope, -1 if alone


def _truncated(text: str) -> str:
    return text if len(text) <= _MAX_VALUE_CHARS else text[: _MAX_VALUE_CHARS - 1] + "…"


def _as_bytes(value: Any) -> bytes:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8", "replace")
    try:
        return orjson.dumps(value, default=str)
    except TypeError:  # e.g. an integer beyond 64 bits, which pydantic's JSON parser accepts
        return repr(value).encode("utf-8", "replace")


def _masked(payload: bytes) -> bytes:
    """applicant_id values blanked, and any run of 9+ digits masked: for text whose structure is unknown."""
    return _LONG_DIGITS.sub(_MASKED, redact_raw(payload))


def _shown(loc: tuple[Any, ...], value: Any) -> str:
    """The offending value as shown in an error: never a citizen id, at most _MAX_VALUE_CHARS characters.

    A personal field shows nothing. An error about the whole value (a line that is not JSON, is cut
    short, or is not an object; loc names no field) and a structured value (object or array) may hold
    a citizen id anywhere, so those are shown redacted with long digit runs masked.
    """
    if any(part in _PERSONAL_FIELDS for part in loc):
        return _WITHHELD
    names_a_field = any(isinstance(part, str) for part in loc)  # an envelope index alone names none
    if names_a_field and isinstance(value, str):
        return _truncated(value)
    if names_a_field and isinstance(value, bool | int | float | None):
        return _truncated(_as_bytes(value).decode())
    return _truncated(_masked(_as_bytes(value)).decode("utf-8", "replace"))


def field_errors(error: ValidationError) -> tuple[FieldError, ...]:
    """One FieldError (field, shown value, reason) per pydantic error; see _shown for what is shown."""
    out = []
    for item in error.errors(include_url=False):
        loc = tuple(item["loc"])
        name = ".".join(str(p) for p in loc) or "(event)"
        value = "(missing)" if item["type"] == "missing" else _shown(loc, item.get("input"))
        out.append(FieldError(name, value, item["msg"]))
    return tuple(out)


def _id_survived(value: Any) -> bool:
    """True if some applicant_id in parsed JSON still holds something other than null or <withheld>."""
    if isinstance(value, dict):
        return any(
            (key == "applicant_id" and item not in (None, _WITHHELD)) or _id_survived(item)
            for key, item in value.items()
        )
    if isinstance(value, list):
        return any(_id_survived(item) for item in value)
    return False


def safe_raw(raw: bytes) -> bytes:
    """The bytes kept with a reject: applicant_id values blanked (redact_raw). When that cannot be
    trusted, because the bytes are not a JSON object or an applicant_id survived redaction (cut short,
    an array, an escaped key), every run of 9+ digits is masked as well."""
    redacted = redact_raw(raw)
    try:
        parsed = orjson.loads(redacted)
    except orjson.JSONDecodeError:
        return _LONG_DIGITS.sub(_MASKED, redacted)
    if isinstance(parsed, dict) and not _id_survived(parsed):
        return redacted
    return _LONG_DIGITS.sub(_MASKED, redacted)


def message_rejected(reason: str, raw: bytes, index: int | None = None, field_name: str = "(message)") -> RejectedEvent:
    return RejectedEvent((FieldError(field_name, "", reason),), safe_raw(raw), index)


def decode_event(value: dict[str, Any] | bytes, context: dict[str, Any] | None = None) -> FilingEvent:
    """Validate one event (JSON bytes or a parsed object); raises ValidationError."""
    if isinstance(value, bytes | bytearray | memoryview | str):
        return _ONE.validate_json(value, context=context)
    return _ONE.validate_python(value, context=context)


def decode_message(value: bytes | None, context: dict[str, Any] | None = None) -> Decoded:
    """Decode one Kafka message value: an event object or an array of them."""
    out = Decoded()
    if not value:
        out.rejected.append(message_rejected("empty message value", value or b""))
        return out
    stripped = value.lstrip()
    if stripped[:1] != b"[":
        try:
            out.events.append(_ONE.validate_json(value, context=context))
            out.indexes.append(-1)
        except ValidationError as error:
            out.rejected.append(RejectedEvent(field_errors(error), safe_raw(bytes(value))))
        return out
    try:
        out.events = _MANY.validate_json(value, context=context)
        out.indexes = list(range(len(out.events)))
        return out
    except ValidationError:
        pass  # find the bad ones below, keep the good ones
    try:
        items = orjson.loads(value)
    except orjson.JSONDecodeError as error:
        reason = f"envelope is not valid JSON ({error}); none of its events was read"
        out.rejected.append(message_rejected(reason, bytes(value)))
        return out
    for index, item in enumerate(items):
        try:
            out.events.append(_ONE.validate_python(item, context=context))
            out.indexes.append(index)
        except ValidationError as error:
            out.rejected.append(RejectedEvent(field_errors(error), safe_raw(_as_bytes(item)), index))
    return out
