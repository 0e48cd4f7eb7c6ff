"""Decode Kafka message values into FilingEvents, with precise errors (field, value, reason).

A message value is either one event (a JSON object) or an envelope of events (a JSON array), so that
portals can batch. A bad event inside an envelope does not spoil its neighbours.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
from pydantic import TypeAdapter, ValidationError

from models.filing_event import FilingEvent
from models.privacy import redact_raw

_ONE = TypeAdapter(FilingEvent)
_MANY = TypeAdapter(list[FilingEvent])
_PERSONAL_FIELDS = {"applicant_id", "applicant_hash"}
_MAX_VALUE_CHARS = 80


@dataclass(frozen=True, slots=True)
class FieldError:
    field: str
    value: str
    reason: str

    def __str__(self) -> str:
        return f"{self.field}={self.value}: {self.reason}"


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


def _shown(loc: tuple[Any, ...], value: Any) -> str:
    if loc and loc[0] in _PERSONAL_FIELDS:
        return "<withheld>"
    text = value if isinstance(value, str) else orjson.dumps(value, default=str).decode()
    return text if len(text) <= _MAX_VALUE_CHARS else text[: _MAX_VALUE_CHARS - 1] + "…"


def field_errors(error: ValidationError) -> tuple[FieldError, ...]:
    out = []
    for item in error.errors(include_url=False):
        loc = tuple(item["loc"])
        name = ".".join(str(p) for p in loc) or "(event)"
        value = "(missing)" if item["type"] == "missing" else _shown(loc, item.get("input"))
        out.append(FieldError(name, value, item["msg"]))
    return tuple(out)


def _reject(reason: str, raw: bytes, index: int | None = None, field_name: str = "(message)") -> RejectedEvent:
    return RejectedEvent((FieldError(field_name, "", reason),), redact_raw(raw), index)


def decode_event(value: dict[str, Any] | bytes, context: dict[str, Any] | None = None) -> FilingEvent:
    """Validate one event (JSON bytes or a parsed object); raises ValidationError."""
    if isinstance(value, bytes | bytearray | memoryview | str):
        return _ONE.validate_json(value, context=context)
    return _ONE.validate_python(value, context=context)


def decode_message(value: bytes | None, context: dict[str, Any] | None = None) -> Decoded:
    """Decode one Kafka message value: an event object or an array of them."""
    out = Decoded()
    if not value:
        out.rejected.append(_reject("empty message value", value or b""))
        return out
    stripped = value.lstrip()
    if stripped[:1] != b"[":
        try:
            out.events.append(_ONE.validate_json(value, context=context))
        except ValidationError as error:
            out.rejected.append(RejectedEvent(field_errors(error), redact_raw(bytes(value))))
        return out
    try:
        out.events = _MANY.validate_json(value, context=context)
        return out
    except ValidationError:
        pass  # find the bad ones below, keep the good ones
    try:
        items = orjson.loads(value)
    except orjson.JSONDecodeError as error:
        out.rejected.append(_reject(f"invalid JSON: {error}", bytes(value)))
        return out
    for index, item in enumerate(items):
        try:
            out.events.append(_ONE.validate_python(item, context=context))
        except ValidationError as error:
            raw = orjson.dumps(item) if not isinstance(item, bytes) else item
            out.rejected.append(RejectedEvent(field_errors(error), redact_raw(raw), index))
    return out


def encode_envelope(events: list[dict[str, Any]] | list[bytes]) -> bytes:
    """A JSON array of already-serialised events (bytes) or event objects."""
    if events and isinstance(events[0], bytes):
        return b"[" + b",".join(events) + b"]"  # type: ignore[arg-type]
    return orjson.dumps(events)
