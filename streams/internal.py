"""Validated events as the sink's rows, the partition that owns a record, and the origin of forwarded events.

An event reaching a partition other than its record's is forwarded to the right partition of the same
topic, as the original JSON with an `dvcpulse-origin` header (see streams.ingest). Times are UTC epoch
milliseconds so nothing is parsed twice.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, tzinfo

import orjson

from dvcpulse.models.filing_event import FilingEvent
from dvcpulse.models.index_766_facts import INDEX_766_FIELDS
from dvcpulse.sinks.contract import EventRow

ORIGIN_HEADER = "dvcpulse-origin"


_SOURCE_MASK = (1 << 63) - 1  # 63 bits: fits ClickHouse Int64 and JSON integers everywhere


_EPOCH_ORDINAL = 719_163  # date(1970, 1, 1).toordinal()
_OFFSETS_MS: dict[tzinfo | None, int] = {}  # a time zone's UTC offset in ms (events carry a handful of them)


def epoch_ms(value: datetime) -> int:
    """Milliseconds since the epoch of an aware datetime, truncated like ClickHouse's DateTime64(3).

    Integer arithmetic: `int(value.timestamp() * 1000)` goes through a float and comes out 1 ms low for
    about 0.6 % of millisecond times, and costs twice as much (the zone's offset is looked up each time)."""
    zone = value.tzinfo
    offset = _OFFSETS_MS.get(zone)
    if offset is None:
        offset = value.utcoffset() // timedelta(milliseconds=1)  # type: ignore[operator]
        if len(_OFFSETS_MS) < 1024:  # fixed-offset zones: a bounded set in practice; never grow without bound
            _OFFSETS_MS[zone] = offset
    seconds = ((value.toordinal() - _EPOCH_ORDINAL) * 24 + value.hour) * 3600 + value.minute * 60 + value.second
    return seconds * 1000 + value.microsecond // 1000 - offset


def message_hash(topic: str, partition: int, offset: int) -> int:
    digest = hashlib.blake2b(f"{topic}\0{partition}\0{offset}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") & _SOURCE_MASK


def source_hash(topic: str, partition: int, offset: int, index: int) -> int:
    """Identifies the event at `index` of a source message (-1: the message is the event)."""
    return source_in(message_hash(topic, partition, offset), index)


def source_in(message: int, index: int) -> int:
    return (message + index + 1) & _SOURCE_MASK


def from_model(
    event: FilingEvent, late: bool = False, source: int = 0, event_time_ms: int | None = None
) -> EventRow:
    fields = event.__dict__  # pydantic keeps field values here: reading them directly is cheaper
    due_date = fields["due_date"]
    return EventRow(
        fields["event_id"],
        fields["record_id"],
        fields["procedure_code"],
        fields["service_code"],
        fields["province_code"],
        fields["province_code_original"] or "",
        fields["agency_code"] or "",
        int(fields["channel"]),
        fields["online_level"],
        fields["event_type"],
        fields["status"],
        epoch_ms(fields["event_time"]) if event_time_ms is None else event_time_ms,
        epoch_ms(due_date) if due_date else None,
        fields["paid_online"],
        fields["applicant_hash"] or "",
        late,
        source,
        *(fields[name] for name in INDEX_766_FIELDS),  # EventRow's trailing 766 facts, in this order
    )


def encode_origins(origins: list[tuple[int, bool]]) -> bytes:
    """The `dvcpulse-origin` header of a forwarded envelope: (source, late) of each of its events."""
    return orjson.dumps(origins)


def decode_origins(value: bytes, events: int) -> list[tuple[int, bool]]:
    """Parse an origin header; ValueError unless it is one [source, late] pair per event."""
    try:
        origins = orjson.loads(value)
    except orjson.JSONDecodeError as error:
        raise ValueError(f"{ORIGIN_HEADER} header is not JSON: {error}") from None
    if not isinstance(origins, list) or len(origins) != events:
        raise ValueError(f"{ORIGIN_HEADER} header must hold one [source, late] pair per event ({events})")
    pairs = []
    for pair in origins:
        if not (
            isinstance(pair, list)
            and len(pair) == 2
            and type(pair[0]) is int
            and 0 <= pair[0] <= _SOURCE_MASK
            and type(pair[1]) is bool
        ):
            raise ValueError(f"{ORIGIN_HEADER} header holds {pair!r}, not a [source, late] pair")
        pairs.append((pair[0], pair[1]))
    return pairs
