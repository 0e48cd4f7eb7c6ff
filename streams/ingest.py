"""Ingest: decode and validate what portals send, route valid events by record, keep the bad ones.

Input messages may hold one event or an envelope (JSON array) and may come from any Kafka client with any
partitioner. The partition of the events topic that owns a record (`record_partition`) applies its events
directly; an event found on another partition is forwarded there, in the same topic, as its original JSON
with a `dvcpulse-origin` header (its source and lateness judgement), so each partition's state is fed by
one ordered stream. Rejected events become dead letters.

Forwarding sends what was received: the bytes of each event as they stood in its message (an envelope's
element, found by models.decode.element_spans), never a re-serialisation, which could fail (`1e400`, `NaN`
in an ignored extra field) or change what the owner validates. Forwarded messages hold at most
MAX_EVENTS_PER_MESSAGE events and MAX_FORWARD_BYTES bytes; no event exceeds models.decode.MAX_EVENT_BYTES
(the decoder rejects bigger ones), so every event fits.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from dvcpulse.models.decode import (
    MAX_EVENT_BYTES,
    EnvelopeError,
    FieldError,
    RejectedEvent,
    decode_message,
    element_spans,
    kept_raw,
    message_rejected,
)
from dvcpulse.models.lateness import ARRIVAL_HEADER, Lateness, Verdict, arrival_ms
from dvcpulse.models.partitioning import record_partition
from dvcpulse.sinks.contract import EventRow
from dvcpulse.streams.internal import (
    ORIGIN_HEADER,
    decode_origins,
    encode_origins,
    epoch_ms,
    from_model,
    message_hash,
    source_in,
)
from dvcpulse.streams.state import PartitionState

MAX_EVENTS_PER_MESSAGE = 1000
# The value of a forwarded message: the publisher's envelope bound (dvcpulse.publisher.MAX_ENVELOPE_BYTES), so a
# forward fits a topic at Kafka's default max.message.bytes (about 1 MB) even uncompressed, origin header
# included (about 30 bytes an event), and far below the producer's max request size (streams.app, 8 MiB).
MAX_FORWARD_BYTES = 900_000
assert MAX_EVENT_BYTES + 2 <= MAX_FORWARD_BYTES  # one event always fits, in its brackets


@dataclass(frozen=True, slots=True)
class SourceMessage:
    topic: str
    partition: int
    offset: int
    value: bytes | None
    headers: Sequence[tuple[str, bytes]] | Mapping[str, bytes] | None = None
    timestamp_ms: int | None = None  # the message's Kafka timestamp (models.lateness: its events' arrival)

    def header(self, name: str) -> bytes | None:
        headers = self.headers or ()
        pairs = headers.items() if isinstance(headers, Mapping) else headers
        return next((value for key, value in pairs if key == name), None)


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
class Forward:
    """Events bound for another partition: their original JSON and their origins."""

    items: list[bytes] = field(default_factory=list)
    origins: list[tuple[int, bool]] = field(default_factory=list)

    def messages(self) -> list[tuple[bytes, bytes]]:
        """(value, origin header) pairs in order: envelopes of at most MAX_EVENTS_PER_MESSAGE events and
        MAX_FORWARD_BYTES bytes each (an event bigger than that alone would go alone; the decoder's
        MAX_EVENT_BYTES makes sure there is none)."""
        out = []
        start, size = 0, 2  # the brackets
        for end, item in enumerate(self.items):
            if end > start and (end - start == MAX_EVENTS_PER_MESSAGE or size + 1 + len(item) > MAX_FORWARD_BYTES):
                out.append(self._message(start, end))
                start, size = end, 2
            size += len(item) + (end > start)  # a comma before all but the first
        if start < len(self.items):
            out.append(self._message(start, len(self.items)))
        return out

    def _message(self, start: int, end: int) -> tuple[bytes, bytes]:
        return b"[" + b",".join(self.items[start:end]) + b"]", encode_origins(self.origins[start:end])


@dataclass(slots=True)
class Routed:
    to_apply: list[tuple[int, int, list[EventRow]]] = field(default_factory=list)  # (partition, offset, own)
    forwards: dict[int, Forward] = field(default_factory=lambda: defaultdict(Forward))
    dead_letters: list[DeadLetter] = field(default_factory=list)
    # (partition, offset) of messages of partitions this worker does not own (any more): neither applied
    # nor to be acknowledged, so the committed offset never passes them and their owner reads them
    not_owned: set[tuple[int, int]] = field(default_factory=set)


class _Elements:
    """The bytes of each element of a message's envelope, found once and only when needed."""

    def __init__(self, value: bytes, spans: list[tuple[int, int]] | None):
        self.value, self.spans = value, spans

    def raw(self, index: int) -> bytes:
        """The element at `index` as received (-1: the message is one event); EnvelopeError if unreadable."""
        if index < 0:
            return self.value
        if self.spans is None:
            self.spans = element_spans(self.value)
        start, end = self.spans[index]
        return self.value[start:end]


def route(
    messages: list[SourceMessage],
    states: Mapping[int, PartitionState],
    partitions: int,
    lateness: Lateness,
    context: dict[str, Any] | None = None,
) -> Routed:
    """Decode, validate and judge the messages (in offset order per partition) of partitions in `states`;
    messages of other partitions (no longer owned) are left alone and listed in `not_owned`.

    A message at or below its partition's applied offset is a replay and yields nothing: its forwards and
    dead letters were produced before that offset was checkpointed.
    """
    routed = Routed()
    for message in messages:
        state = states.get(message.partition)
        if state is None:
            routed.not_owned.add((message.partition, message.offset))
            continue
        if message.offset <= state.offset:
            continue
        own: list[EventRow] = []
        routed.to_apply.append((message.partition, message.offset, own))
        if message.timestamp_ms is not None and message.timestamp_ms > state.newest_arrival_ms:
            state.newest_arrival_ms = message.timestamp_ms
        try:
            arrival = arrival_ms(message.timestamp_ms, message.header(ARRIVAL_HEADER))
        except ValueError as error:
            routed.dead_letters.append(DeadLetter(message, message_rejected(str(error), bytes(message.value or b""))))
            continue
        decoded = decode_message(message.value, context)
        if decoded.empty:
            routed.dead_letters.append(DeadLetter(message, message_rejected("empty envelope", message.value or b"")))
            continue
        origins = None
        header = message.header(ORIGIN_HEADER)
        if header is not None and decoded.events:
            try:
                positions = [*decoded.indexes, *(r.index or 0 for r in decoded.rejected)]
                origins = decode_origins(header, max(1, max(positions) + 1))
            except ValueError as error:
                rejected = message_rejected(f"forwarded envelope: {error}", bytes(message.value or b""))
                routed.dead_letters.append(DeadLetter(message, rejected))
                continue
        origin = message_hash(message.topic, message.partition, message.offset)
        elements = _Elements(bytes(message.value or b""), decoded.spans)
        for index, event in zip(decoded.indexes, decoded.events, strict=True):
            time_ms = epoch_ms(event.event_time)
            if origins is None:
                verdict = lateness.judge(time_ms, arrival)
                if verdict is Verdict.FUTURE:
                    future = FieldError("event_time", event.event_time.isoformat(), lateness.future_reason())
                    _reject(routed, message, elements, index, future)
                    continue
                source, late = source_in(origin, index), verdict is Verdict.LATE
            else:
                source, late = origins[max(index, 0)]  # judged where it was first read
            owner = record_partition(event.record_id, partitions)
            if owner == message.partition:
                own.append(from_model(event, late, source, time_ms))
                continue
            try:
                raw = elements.raw(index)
            except EnvelopeError as error:  # never seen: the decoder read this array whole
                reason = f"cannot find the event in its envelope to forward it ({error})"
                _reject(routed, message, elements, index, FieldError("(message)", "", reason))
                continue
            forward = routed.forwards[owner]
            forward.items.append(raw)
            forward.origins.append((source, late))
        for rejected in decoded.rejected:
            routed.dead_letters.append(DeadLetter(message, rejected))
    return routed


def _reject(routed: Routed, message: SourceMessage, elements: _Elements, index: int, error: FieldError) -> None:
    """Dead-letter one event of a message, with its own bytes where they can be found (else the message's)."""
    try:
        raw = elements.raw(index)
    except EnvelopeError:
        raw = elements.value
    rejected = RejectedEvent((error,), kept_raw(raw), None if index < 0 else index)
    routed.dead_letters.append(DeadLetter(message, rejected))


def now_utc() -> datetime:
    return datetime.now(tz=UTC)
