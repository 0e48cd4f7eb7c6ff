"""Ingest: decode and validate what portals send, route valid events by record, keep the bad ones.

Input messages may hold one event or an envelope (JSON array) and may come from any Kafka client with any
partitioner. Valid events are re-partitioned by record id into the internal records topic, so that the
aggregate agent owning a partition sees every event of its records; rejected ones become dead letters.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from models.decode import RejectedEvent, decode_message
from streams.internal import InternalEvent, epoch_ms, from_model, message_hash, record_partition, source_in

MAX_EVENTS_PER_MESSAGE = 1000


@dataclass(frozen=True, slots=True)
class SourceMessage:
    topic: str
    partition: int
    offset: int
    value: bytes | None


@dataclass(slots=True)
class DeadLetter:
    source: SourceMessage
    rejected: RejectedEvent

    @property
    def key(self) -> bytes:
        index = -1 if self.rejected.index is None else self.rejected.index
        return f"{self.source.topic}:{self.source.partition}:{self.source.offset}:{index}".encode()

    def to_json(self, received_at: datetime) -> bytes:
        """The dead-letter topic value: why, where from, and the (redacted) original bytes."""
        return orjson.dumps(
            {
                "reason": self.rejected.reason,
                "errors": [e.as_dict() for e in self.rejected.errors],
                "source": {
                    "topic": self.source.topic,
                    "partition": self.source.partition,
                    "offset": self.source.offset,
                    "index": self.rejected.index,
                },
                "raw": self.rejected.raw.decode("utf-8", errors="replace"),
                "received_at": received_at.isoformat(),
            }
        )

    def to_row(self, received_at: datetime) -> list[Any]:
        errors = [e.as_dict() for e in self.rejected.errors]
        return [
            self.source.topic,
            self.source.partition,
            self.source.offset,
            -1 if self.rejected.index is None else self.rejected.index,
            self.rejected.reason,
            orjson.dumps(errors).decode(),
            self.rejected.raw.decode("utf-8", errors="replace"),
            received_at,
        ]


@dataclass(slots=True)
class Routed:
    by_partition: dict[int, list[InternalEvent]] = field(default_factory=lambda: defaultdict(list))
    dead_letters: list[DeadLetter] = field(default_factory=list)

    def chunks(self) -> list[tuple[int, list[InternalEvent]]]:
        """(partition, events) pairs of at most MAX_EVENTS_PER_MESSAGE events, in arrival order."""
        out = []
        for partition, events in sorted(self.by_partition.items()):
            for start in range(0, len(events), MAX_EVENTS_PER_MESSAGE):
                out.append((partition, events[start : start + MAX_EVENTS_PER_MESSAGE]))
        return out


class LatenessClock:
    """Judges lateness per source partition: an event is late when its time is more than the horizon
    behind the newest event time seen before it in the same source partition.

    The source partition's order is the producer's own order (a portal syncing its backlog), so a bulk
    backfill is judged the same however the worker interleaves partitions. The clock lives in memory: after
    a restart it warms up again, so an event right after a restart may be judged on time (it is then
    counted, and kept in history either way).
    """

    def __init__(self, horizon_ms: int):
        self.horizon_ms = horizon_ms
        self.newest: dict[tuple[str, int], int] = {}

    def observe(self, source: tuple[str, int], event_time_ms: int) -> bool:
        newest = self.newest.get(source, event_time_ms)
        if event_time_ms > newest:
            newest = event_time_ms
        self.newest[source] = newest
        return event_time_ms < newest - self.horizon_ms


def route(
    messages: list[SourceMessage],
    partitions: int,
    clock: LatenessClock,
    context: dict[str, Any] | None = None,
) -> Routed:
    routed = Routed()
    for message in messages:
        decoded = decode_message(message.value, context)
        partition_key = (message.topic, message.partition)
        origin = message_hash(message.topic, message.partition, message.offset)
        for index, event in zip(decoded.indexes, decoded.events, strict=True):
            time_ms = epoch_ms(event.event_time)
            late = clock.observe(partition_key, time_ms)
            internal = from_model(event, late, source_in(origin, index), time_ms)
            routed.by_partition[record_partition(event.record_id, partitions)].append(internal)
        for rejected in decoded.rejected:
            routed.dead_letters.append(DeadLetter(message, rejected))
    return routed


def now_utc() -> datetime:
    return datetime.now(tz=UTC)
