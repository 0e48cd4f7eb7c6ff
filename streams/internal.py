"""The internal records-topic format: validated events as compact arrays, routed by record id.

The ingest agent writes it and the aggregate agent reads it; it is trusted (already validated), so the
reader only needs orjson. Times are UTC epoch milliseconds so nothing is parsed twice.
"""

from __future__ import annotations

import hashlib
import zlib
from datetime import datetime
from typing import NamedTuple

import orjson

from models.filing_event import FilingEvent

FORMAT_TAG = "dvcpulse.records.v1"


class InternalEvent(NamedTuple):
    event_id: str
    record_id: str
    procedure_code: str
    service_code: str
    province_code: str
    province_code_original: str
    agency_code: str
    channel: int
    online_level: str
    event_type: str
    status: int
    event_time_ms: int
    due_date_ms: int | None
    paid_online: bool | None
    applicant_hash: str
    late: bool = False  # beyond the lateness horizon when it reached its source partition (see streams.ingest)
    source: int = 0  # hash of (topic, partition, offset, index) it came from: tells a replay from a re-send


_SOURCE_MASK = (1 << 63) - 1  # 63 bits: fits ClickHouse Int64 and JSON integers everywhere


def epoch_ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


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
) -> InternalEvent:
    fields = event.__dict__  # pydantic keeps field values here: reading them directly is cheaper
    due_date = fields["due_date"]
    return InternalEvent(
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
    )


def record_partition(record_id: str, partitions: int) -> int:
    """The records-topic partition owning a record: stable across processes, clients and languages."""
    return zlib.crc32(record_id.encode()) % partitions


def encode(events: list[InternalEvent]) -> bytes:
    return orjson.dumps([FORMAT_TAG, [tuple(event) for event in events]])


def decode(value: bytes) -> list[InternalEvent]:
    tag, rows = orjson.loads(value)
    if tag != FORMAT_TAG:
        raise ValueError(f"unknown records-topic format {tag!r}")
    return [InternalEvent(*row) for row in rows]
