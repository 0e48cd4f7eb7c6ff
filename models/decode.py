"""Decode Kafka message values into FilingEvents, with precise errors (field, value, reason).

A message value is either one event (a JSON object) or an envelope of events (a JSON array), so that
portals can batch. A bad event inside an envelope does not spoil its neighbours: wherever the array's
structure can be read (`element_spans`), each element is validated from its own bytes, so an element that
no JSON library but pydantic's can represent (`1e400`, `NaN`, `Infinity` in an ignored extra field), or
that is not even JSON, is rejected alone. Only an array whose structure cannot be read (cut short, an
unterminated string, unbalanced brackets, text after it) is rejected whole. An event of more than
MAX_EVENT_BYTES is rejected (so that any valid event can be forwarded in one Kafka message, see
streams.ingest). An empty array decodes to nothing (`Decoded.empty`); streams.ingest dead-letters it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import orjson
from pydantic import TypeAdapter, ValidationError

from dvcpulse.models.filing_event import FilingEvent
from dvcpulse.models.privacy import is_personal_key, redact_raw, redact_text

_ONE = TypeAdapter(FilingEvent)
_MANY = TypeAdapter(list[FilingEvent])
_PERSONAL_FIELDS = {"applicant_id", "applicant_hash"}
_MAX_VALUE_CHARS = 80
_LONG_DIGITS = re.compile(rb"\d{9,}")  # a CCCD (12) or CMND (9) number may hide in any run this long
_MASKED = b"<digits>"
_WITHHELD = "<withheld>"

# A real event is well under 1 kB. A bigger one than this is rejected wherever it is read, so that every
# valid event fits in a forwarded message (streams.ingest.MAX_FORWARD_BYTES).
MAX_EVENT_BYTES = 512 * 1024
# A dead letter keeps at most this many of its (redacted) bytes: a huge message must not make a dead letter
# that the producer or the broker refuses (which would stop the worker on every restart).
MAX_KEPT_RAW_BYTES = 64 * 1024


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
    raw: bytes  # redacted (safe_raw) and cut to MAX_KEPT_RAW_BYTES
    index: int | None = None  # position in an envelope; None for a one-event message (or a whole envelope)

    @property
    def reason(self) -> str:
        return "; ".join(str(e) for e in self.errors)


@dataclass(slots=True)
class Decoded:
    events: list[FilingEvent] = field(default_factory=list)
    rejected: list[RejectedEvent] = field(default_factory=list)
    indexes: list[int] = field(default_factory=list)  # each event's position in its envelope, -1 if alone
    # (start, end) of each element of an envelope in the message value, when the decoder had to find them;
    # None when it did not (one event, or an envelope read whole): element_spans finds them on demand.
    spans: list[tuple[int, int]] | None = None

    @property
    def empty(self) -> bool:
        """An empty envelope (`[]`): no event and no reject. streams.ingest dead-letters the message."""
        return not self.events and not self.rejected


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
        return _truncated(redact_text(value))  # a citizen number sent in an ordinary field
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)  # `1e400`, `NaN`, `Infinity`: orjson would write null
    if names_a_field and isinstance(value, bool | int | float | None):
        return _truncated(redact_text(_as_bytes(value).decode()))
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
    """True if some applicant-like key in parsed JSON still holds something other than null or <withheld>."""
    if isinstance(value, dict):
        return any(
            (is_personal_key(key) and item not in (None, _WITHHELD)) or _id_survived(item)
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


def kept_raw(raw: bytes) -> bytes:
    """What a reject keeps of its bytes: safe_raw, cut to MAX_KEPT_RAW_BYTES (cutting hides, never reveals)."""
    kept = safe_raw(raw)
    if len(kept) <= MAX_KEPT_RAW_BYTES:
        return kept
    return kept[:MAX_KEPT_RAW_BYTES] + f"…(cut: {len(kept)} bytes)".encode()


def message_rejected(reason: str, raw: bytes, index: int | None = None, field_name: str = "(message)") -> RejectedEvent:
    return RejectedEvent((FieldError(field_name, "", reason),), kept_raw(raw), index)


def _invalid(error: ValidationError, raw: bytes, index: int | None) -> RejectedEvent:
    return RejectedEvent(field_errors(error), kept_raw(raw), index)


def _element_errors(error: ValidationError, raw: bytes, context: dict[str, Any] | None) -> tuple[FieldError, ...]:
    """An envelope element's errors. One that is not an object gets pydantic's Python wording ("a valid
    dictionary"), as it always has, wherever orjson can read it."""
    if [item["type"] for item in error.errors(include_url=False)] == ["model_type"]:
        try:
            _ONE.validate_python(orjson.loads(raw), context=context)
        except ValidationError as python_error:
            return field_errors(python_error)
        except orjson.JSONDecodeError:
            pass
    return field_errors(error)


def _unreadable(error: EnvelopeError, value: bytes) -> RejectedEvent:
    return message_rejected(f"envelope is not valid JSON ({error}); none of its events was read", value)


def _too_large(size: int, raw: bytes, index: int | None) -> RejectedEvent:
    reason = f"event is {size} bytes, more than the {MAX_EVENT_BYTES} an event may have"
    return message_rejected(reason, raw, index, "(event)")


# --- the elements of an envelope ------------------------------------------------------------------------------


class EnvelopeError(ValueError):
    """The structure of a JSON array cannot be read: where and why (never the bytes themselves)."""


_JSON_WS = b" \t\n\r"  # JSON's whitespace; Python's bytes.strip() also takes \x0b and \x0c, which JSON does not
_WS_RUN = re.compile(rb"[ \t\n\r]*+")
_STRING = rb'"(?:[^"\\]++|\\.)*+"'  # a string whose escapes are not checked: they cannot end it early
# What an element holds up to its next structural byte: at depth 1 (between the array's elements) a comma is
# one; deeper it is not. Possessive, so the scan is linear in the length whatever the input.
_RUN_TOP = re.compile(rb"(?:[^\"\[\]{},]++|" + _STRING + rb")*+", re.DOTALL)
_RUN_INNER = re.compile(rb"(?:[^\"\[\]{}]++|" + _STRING + rb")*+", re.DOTALL)
_QUOTE, _COMMA, _OPEN, _CLOSE, _OPEN_OBJECT, _CLOSE_OBJECT = b'",[]{}'
_CLOSER = {_OPEN: _CLOSE, _OPEN_OBJECT: _CLOSE_OBJECT}


def element_spans(value: bytes) -> list[tuple[int, int]]:
    """(start, end) of each top-level element of a JSON array in `value`, surrounding whitespace excluded;
    raises EnvelopeError when the array's structure cannot be read.

    The structure is what a JSON parser needs to find the elements: JSON whitespace, then `[`, elements
    separated by top-level commas, `]`, then whitespace only; strings (a backslash escapes the next byte)
    and brackets matched by kind. The elements themselves are not checked: each one is validated from its
    bytes (pydantic's parser is the judge of what JSON is). On any array pydantic's parser accepts, the
    spans are exactly its elements: a string cannot end earlier or later than this scan says, and nothing
    outside strings but brackets, braces and commas delimits elements.
    """
    size = len(value)
    at = _WS_RUN.match(value).end()
    if at >= size or value[at] != _OPEN:
        raise EnvelopeError("not a JSON array")
    spans: list[tuple[int, int]] = []
    start = at = _WS_RUN.match(value, at + 1).end()
    if at < size and value[at] == _CLOSE:  # []
        end = _WS_RUN.match(value, at + 1).end()
        if end != size:
            raise EnvelopeError(f"text after the array at byte {end}")
        return spans
    closers = bytearray()  # the closing byte of each bracket open inside the current element
    while True:
        at = (_RUN_INNER if closers else _RUN_TOP).match(value, at).end()
        if at >= size:
            raise EnvelopeError(f"cut short at byte {size} (an array, object or string is not closed)")
        byte = value[at]
        if byte == _QUOTE:
            raise EnvelopeError(f"unterminated string at byte {at}")
        closer = _CLOSER.get(byte)
        if closer is not None:
            closers.append(closer)
        elif closers:  # a closing bracket inside an element
            if closers.pop() != byte:
                raise EnvelopeError(f"mismatched {chr(byte)!r} at byte {at}")
        elif byte == _CLOSE_OBJECT:
            raise EnvelopeError(f"mismatched '}}' at byte {at}")
        else:  # a comma or the closing bracket of the array: the end of an element
            end = at
            while end > start and value[end - 1] in _JSON_WS:
                end -= 1
            if end == start:
                raise EnvelopeError(f"missing element before byte {at}")
            spans.append((start, end))
            if byte == _CLOSE:
                after = _WS_RUN.match(value, at + 1).end()
                if after != size:
                    raise EnvelopeError(f"text after the array at byte {after}")
                return spans
            start = _WS_RUN.match(value, at + 1).end()
            at = start
            continue
        at += 1


def decode_event(value: dict[str, Any] | bytes, context: dict[str, Any] | None = None) -> FilingEvent:
    """Validate one event (JSON bytes or a parsed object); raises ValidationError."""
    if isinstance(value, bytes | bytearray | memoryview | str):
        return _ONE.validate_json(value, context=context)
    return _ONE.validate_python(value, context=context)


def decode_message(value: bytes | None, context: dict[str, Any] | None = None) -> Decoded:
    """Decode one Kafka message value: an event object or an array of them. Never raises on any bytes."""
    out = Decoded()
    if not value:
        out.rejected.append(message_rejected("empty message value", value or b""))
        return out
    value = bytes(value)
    stripped = value.lstrip()
    if stripped[:1] != b"[":
        if len(value) > MAX_EVENT_BYTES:
            out.rejected.append(_too_large(len(value), value, None))
            return out
        try:
            out.events.append(_ONE.validate_json(value, context=context))
            out.indexes.append(-1)
        except ValidationError as error:
            out.rejected.append(_invalid(error, value, None))
        return out
    spans: list[tuple[int, int]] | None = None
    if len(value) > MAX_EVENT_BYTES:  # an element may be too large: find them first
        try:
            spans = element_spans(value)
        except EnvelopeError as error:
            out.rejected.append(_unreadable(error, value))
            return out
    if spans is None or all(end - start <= MAX_EVENT_BYTES for start, end in spans):
        try:  # read it whole, the fast way
            out.events = _MANY.validate_json(value, context=context)
            out.indexes = list(range(len(out.events)))
            out.spans = spans
        except ValidationError:
            pass  # find the bad ones below, keep the good ones
        else:
            return out
    if spans is None:
        try:
            spans = element_spans(value)
        except EnvelopeError as error:
            out.rejected.append(_unreadable(error, value))
            return out
    out.spans = spans
    for index, (start, end) in enumerate(spans):
        raw = value[start:end]
        if end - start > MAX_EVENT_BYTES:
            out.rejected.append(_too_large(end - start, raw, index))
            continue
        try:
            out.events.append(_ONE.validate_json(raw, context=context))
            out.indexes.append(index)
        except ValidationError as error:
            out.rejected.append(RejectedEvent(_element_errors(error, raw, context), kept_raw(raw), index))
    return out
