"""The internal records-topic format: validated events as compact arrays, routed by record id.

The ingest agent writes it and the aggregate agent reads it; it is trusted (already validated), so the
reader only needs orjson. Times are UTC epoch milliseconds so nothing is parsed twice.
"""

from __future__ import annotations

import hashlib
import zlib
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


def _ms(value) -> int:
    return int(value.timestamp() * 1000)


def source_hash(topic: str, partition: int, offset: int, index: int) -> int:
    digest = hashlib.blake2b(f"{topic}\0{partition}\0{offset}\0{index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1  # 63 bits: fits ClickHouse Int64 and JSON integers everywhere


def from_model(event: FilingEvent, late: bool = False, source: int = 0) -> InternalEvent:
    return InternalEvent(
        event.event_id,
        event.record_id,
        event.procedure_code,
        event.service_code,
        event.province_code,
        event.province_code_original or "",
        event.agency_code or "",
        int(event.channel),
        event.online_level,
        event.event_type,
        event.status,
        _ms(event.event_time),
        _ms(event.due_date) if event.due_date else None,
        event.paid_online,
        event.applicant_hash or "",
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
