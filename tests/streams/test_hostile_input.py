"""No message stops the stream: decode → route → apply → forward, in process, on hostile input.

Kafka is simulated: a log per events-topic partition; forwards are appended to their target partition with
their origin header and read there, as the worker would. Nothing may raise; every valid event is applied
exactly once, on its record's partition, and every bad element is dead-lettered with a reason.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dvcpulse.models.decode import MAX_EVENT_BYTES
from dvcpulse.models.lateness import Lateness, Verdict
from dvcpulse.models.partitioning import record_partition
from dvcpulse.sinks.contract import Changes, PartitionHistory
from dvcpulse.streams.aggregate import Aggregator
from dvcpulse.streams.ingest import MAX_EVENTS_PER_MESSAGE, MAX_FORWARD_BYTES, Forward, SourceMessage, route
from dvcpulse.streams.internal import ORIGIN_HEADER, decode_origins
from tests.models.event_helpers import CCCD, CONTEXT, JSON_VALUES, SETTINGS, assert_hidden, event

PARTITIONS = 4
LATENESS = Lateness(horizon_ms=7 * 24 * 3600 * 1000)
TOPIC = "events"
NOW = datetime(2025, 9, 1, tzinfo=UTC)
UNREPRESENTABLE = [b"1e400", b"-1e400", b"NaN", b"Infinity", b"-Infinity"]


class MemorySink:
    """dvcpulse.sinks.contract.PartitionSink in memory."""

    def __init__(self) -> None:
        self.changes: list[Changes] = []
        self.dead_letters: list[list] = []

    def write(self, batch: list[Changes]) -> None:
        self.changes.extend(batch)

    def write_dead_letters(self, rows: list[list]) -> None:
        self.dead_letters.extend(rows)

    def write_worker_stats(self, rows: list[list]) -> None:
        pass

    def read_partition(self, partition: int, upto: int | None = None) -> PartitionHistory | None:
        return None

    def read_checkpoint(self, partition: int) -> None:
        return None


@dataclass
class Cluster:
    """One worker owning every partition of a simulated events topic."""

    logs: dict[int, list[tuple[bytes | None, list[tuple[str, bytes]], int | None]]] = field(
        default_factory=lambda: {p: [] for p in range(PARTITIONS)}
    )
    sink: MemorySink = field(default_factory=MemorySink)
    dead: list[tuple[int, int, int | None, str]] = field(default_factory=list)  # (partition, offset, index, reason)
    forwarded: list[bytes] = field(default_factory=list)

    def send(
        self,
        partition: int,
        value: bytes | None,
        headers: list[tuple[str, bytes]] | None = None,
        timestamp_ms: int | None = None,
    ) -> int:
        self.logs[partition].append((value, headers or [], timestamp_ms))
        return len(self.logs[partition]) - 1

    def drain(self, batch: int = 7) -> None:
        aggregator = Aggregator(self.sink, max_records=10**9, max_cells=10**9)  # (the fake sink reads nothing back)
        aggregator.load(range(PARTITIONS))
        read = dict.fromkeys(range(PARTITIONS), 0)
        while any(read[p] < len(self.logs[p]) for p in range(PARTITIONS)):
            for partition in range(PARTITIONS):  # a batch may mix partitions, in offset order per partition
                log, start = self.logs[partition], read[partition]
                messages = [
                    SourceMessage(TOPIC, partition, offset, value, headers, timestamp_ms)
                    for offset, (value, headers, timestamp_ms) in enumerate(log[start : start + batch], start)
                ]
                read[partition] += len(messages)
                routed = route(messages, aggregator.states, PARTITIONS, LATENESS, CONTEXT)
                changes = aggregator.apply(routed.to_apply)
                for target, forward in sorted(routed.forwards.items()):
                    for value, origins in forward.messages():
                        assert len(value) <= MAX_FORWARD_BYTES
                        assert len(decode_origins(origins, len(orjson.loads(origins)))) <= MAX_EVENTS_PER_MESSAGE
                        self.forwarded.append(value)
                        self.send(target, value, [(ORIGIN_HEADER, origins)])
                for letter in routed.dead_letters:
                    letter.to_json(NOW)  # what the dead-letter topic gets: must serialise
                    self.dead.append((letter.source.partition, letter.source.offset, letter.rejected.index,
                                      letter.rejected.reason))  # fmt: skip
                aggregator.flush(changes, [letter.to_row(NOW) for letter in routed.dead_letters])

    def applied(self) -> list[tuple[int, str, str]]:
        """(partition, event id, record id) of every event applied."""
        return [(c.partition, row.event_id, row.record_id) for c in self.changes_list() for row, _ in c.history]

    def late(self) -> set[str]:
        return {row.event_id for c in self.changes_list() for row, _ in c.history if row.late}

    def changes_list(self) -> list[Changes]:
        return self.sink.changes


# --- building hostile messages ----------------------------------------------------------------------------------


def valid(n: int, record: int, extra: bytes = b"") -> bytes:
    """A valid event (ids V{n}, record R{record}), with an extra (ignored) field's raw JSON appended."""
    raw = orjson.dumps(event(event_id=f"V{n}", record_id=f"R{record}"))
    return raw[:-1] + (b',"fee":' + extra if extra else b"") + b"}"


EXTRAS = st.sampled_from(
    [b"", *UNREPRESENTABLE, b'"' + b"x" * 20_000 + b'"', b'"\\u00e9\\ud83d\\ude00 \\" ] } , ["', b"[" * 90 + b"]" * 90,
     b'{"a":[1,{"b":"]"}]}', b"123456789012345678901234567890"]
)  # fmt: skip
JUNK = st.sampled_from(
    [b"1e400", b"NaN", b"tru", b"01", b'{"a":1,}', b'"\\ud800"', b"[]", b"{}", b"[" * 300 + b"]" * 300, b"null",
     b"\x0c1", b"\xff", orjson.dumps(event(event_id="BAD", status=11))[:-1] + b',"fee":NaN}']
) | JSON_VALUES.map(orjson.dumps)  # fmt: skip
SPACE = st.sampled_from([b"", b" ", b"\n", b"\t \r\n"])


@st.composite
def inputs(draw: st.DrawFn) -> list[tuple[int, bytes, list[int], list[int]]]:
    """Messages: (partition, value, valid event numbers in it, indexes of junk elements, or [-1] for a message
    that must be dead-lettered whole or as a whole)."""
    out = []
    n = 0
    for _ in range(draw(st.integers(1, 8))):
        partition = draw(st.integers(0, PARTITIONS - 1))
        kind = draw(st.sampled_from(["envelope", "envelope", "envelope", "one", "bytes", "empty"]))
        if kind == "bytes":
            out.append((partition, draw(st.binary(max_size=120)), [], [-1]))
        elif kind == "empty":
            out.append((partition, draw(st.sampled_from([b"[]", b" [ ] ", b""])), [], [-1]))
        elif kind == "one":
            n += 1
            out.append((partition, valid(n, draw(st.integers(0, 30)), draw(EXTRAS)), [n], []))
        else:
            parts, numbers, junk = [], [], []
            for index in range(draw(st.integers(1, 6))):
                if draw(st.booleans()):
                    n += 1
                    parts.append(valid(n, draw(st.integers(0, 30)), draw(EXTRAS)))
                    numbers.append(n)
                else:
                    parts.append(draw(JUNK))
                    junk.append(index)
            value = b"[" + b",".join(draw(SPACE) + p + draw(SPACE) for p in parts) + b"]"
            out.append((partition, value, numbers, junk))
    return out


def run(messages: list[tuple[int, bytes, list[int], list[int]]]) -> tuple[Cluster, dict[tuple[int, int], Any]]:
    cluster = Cluster()
    where = {}
    for partition, value, numbers, junk in messages:
        offset = cluster.send(partition, value)
        where[partition, offset] = (numbers, junk)
    cluster.drain()
    return cluster, where


@SETTINGS
@given(inputs())
def test_property_every_valid_event_applied_once_on_its_owner_every_bad_one_dead_lettered(messages: list) -> None:
    cluster, where = run(messages)
    applied = cluster.applied()
    expected = {f"V{n}" for numbers, _ in where.values() for n in numbers}
    counts = Counter(event_id for _, event_id, _ in applied)
    assert set(counts) == expected and set(counts.values()) <= {1}  # exactly once, nothing else
    assert all(record_partition(record, PARTITIONS) == p for p, _, record in applied)
    assert all(reason for *_, reason in cluster.dead)
    letters: dict[tuple[int, int], list[int | None]] = {}
    for partition, offset, index, _ in cluster.dead:
        assert (partition, offset) in where  # only input messages are dead-lettered, never a forward
        letters.setdefault((partition, offset), []).append(index)
    for key, (_, junk) in where.items():
        if junk == [-1]:
            assert len(letters.get(key, [])) >= 1
        else:
            assert sorted(letters.get(key, [])) == junk
    assert_hidden(CCCD, [row[6] for row in cluster.sink.dead_letters] + [v.decode("utf-8", "replace") for v in
                                                                        cluster.forwarded if b"BAD" in v])  # fmt: skip


# --- regressions ------------------------------------------------------------------------------------------------


def record_not_on(partition: int) -> int:
    return next(r for r in range(100) if record_partition(f"R{r}", PARTITIONS) != partition)


@pytest.mark.parametrize("number", UNREPRESENTABLE)
def test_an_envelope_with_an_unrepresentable_number_read_off_its_owner_is_forwarded_byte_for_byte(
    number: bytes,
) -> None:
    """Point 1: `route` used to re-parse the array with orjson to forward it, which raised (exit 70, forever)."""
    record = record_not_on(0)
    event_bytes = valid(1, record, number)
    value = b"[ " + event_bytes + b" ,\n" + valid(2, record_not_on(1)) + b"]"
    cluster = Cluster()
    cluster.send(0, value)
    cluster.drain()
    assert event_bytes in cluster.forwarded[0]  # what was received, never re-serialised
    assert sorted(e for _, e, _ in cluster.applied()) == ["V1", "V2"]
    assert cluster.dead == []


def test_a_valid_array_with_one_unrepresentable_bad_element_dead_letters_that_element_only() -> None:
    """Point 2: the decoder used to dead-letter such an array whole."""
    bad = orjson.dumps(event(event_id="BAD", status=11, applicant_id=CCCD))[:-1] + b',"fee":1e400}'
    value = b"[" + valid(1, 3) + b"," + bad + b"," + valid(2, 4) + b"]"
    cluster = Cluster()
    cluster.send(2, value)
    cluster.drain()
    assert sorted(e for _, e, _ in cluster.applied()) == ["V1", "V2"]
    ((partition, offset, index, reason),) = cluster.dead
    assert (partition, offset, index) == (2, 0, 1) and "status" in reason
    assert_hidden(CCCD, [row[6] for row in cluster.sink.dead_letters])


def test_forwards_are_bounded_by_bytes_as_well_as_by_count() -> None:
    """Point 3: events of 200 kB go four to a message, not a thousand."""
    forward = Forward()
    for n in range(10):
        forward.items.append(valid(n, 1, b'"' + b"x" * 200_000 + b'"'))
        forward.origins.append((n, False))
    messages = forward.messages()
    assert [len(orjson.loads(origins)) for _, origins in messages] == [4, 4, 2]
    assert all(len(value) <= MAX_FORWARD_BYTES for value, _ in messages)
    assert b"".join(value[1:-1] + b"," for value, _ in messages) == b"".join(item + b"," for item in forward.items)
    small = Forward([b"{}"] * 2500, [(n, False) for n in range(2500)])
    assert [len(orjson.loads(origins)) for _, origins in small.messages()] == [1000, 1000, 500]


def test_the_largest_event_allowed_is_forwarded_alone_and_a_larger_one_dead_lettered() -> None:
    record = record_not_on(0)
    filler = b"x" * (MAX_EVENT_BYTES - len(valid(1, record, b'""')))
    largest, larger = valid(1, record, b'"' + filler + b'"'), valid(2, record, b'"' + filler + b'x"')
    assert (len(largest), len(larger)) == (MAX_EVENT_BYTES, MAX_EVENT_BYTES + 1)
    cluster = Cluster()
    also_largest = largest.replace(b'"V1"', b'"V4"')
    cluster.send(0, b"[" + valid(3, record) + b"," + largest + b"," + larger + b"," + also_largest + b"]")
    cluster.drain()
    assert sorted(e for _, e, _ in cluster.applied()) == ["V1", "V3", "V4"]
    assert [(index, "more than the" in reason) for _, _, index, reason in cluster.dead] == [(2, True)]
    assert [len(orjson.loads(value)) for value in cluster.forwarded] == [2, 1]  # two of the largest never share
    assert all(len(value) <= MAX_FORWARD_BYTES for value in cluster.forwarded)


@pytest.mark.parametrize("value", [b"[]", b" [\n] "])
def test_an_empty_envelope_is_dead_lettered(value: bytes) -> None:
    """Point 4."""
    cluster = Cluster()
    cluster.send(1, value)
    cluster.drain()
    assert cluster.applied() == []
    assert cluster.dead == [(1, 0, None, "(message)=: empty envelope")]


def test_a_huge_garbage_message_makes_a_small_dead_letter() -> None:
    cluster = Cluster()
    cluster.send(0, b"[" + b'"' + b"1" * 3_000_000)  # unterminated: dead-lettered whole
    cluster.drain()
    ((row),) = cluster.sink.dead_letters
    assert len(row[6]) < 70_000 and "envelope is not valid JSON" in row[4]


EVENT_MS = 1_754_015_400_000  # event()'s event_time, 2025-08-01T09:30:00+07:00
HOUR = 3600 * 1000
ARRIVALS = st.sampled_from(
    [
        None,
        EVENT_MS,
        EVENT_MS + 2 * HOUR,
        EVENT_MS - HOUR,
        EVENT_MS - HOUR - 1,
        EVENT_MS + 7 * 24 * HOUR,
        EVENT_MS + 7 * 24 * HOUR + 1,
        EVENT_MS - 90 * 24 * HOUR,
    ]
)
HEADERS = st.sampled_from([None, b"garbage", b"-5", str(EVENT_MS).encode(), str(EVENT_MS - 2 * HOUR).encode(),
                           str(EVENT_MS + 30 * 24 * HOUR).encode()])  # fmt: skip


@SETTINGS
@given(inputs(), st.lists(st.tuples(ARRIVALS, HEADERS), min_size=8, max_size=8))
def test_property_lateness_and_the_future_follow_each_messages_own_arrival(messages: list, stamps: list) -> None:
    """Any mix of message timestamps and dvcpulse-arrival headers (valid, earlier, later, garbage): an event is
    applied once, late exactly when the horizon says so, dead-lettered when from the future of its arrival or
    when its message's header is garbage; nothing else moves."""
    cluster = Cluster()
    expected, expected_late, future = set(), set(), set()
    for (partition, value, numbers, _), (timestamp, header) in zip(messages, stamps, strict=False):
        cluster.send(partition, value, [("dvcpulse-arrival", header)] if header is not None else None, timestamp)
        if header is not None and not header.isdigit():
            continue  # dead-lettered whole
        arrival = int(header) if header is not None else timestamp
        if header is not None and timestamp is not None:
            arrival = min(arrival, timestamp)
        verdict = LATENESS.judge(EVENT_MS, arrival)
        ids = {f"V{n}" for n in numbers}
        if verdict is Verdict.FUTURE:
            future |= ids
            continue
        expected |= ids
        if verdict is Verdict.LATE:
            expected_late |= ids
    cluster.drain()
    counts = Counter(event_id for _, event_id, _ in cluster.applied())
    assert set(counts) == expected and set(counts.values()) <= {1}
    assert cluster.late() == expected_late
    future_dead = [reason for *_, reason in cluster.dead if reason.startswith("event_time=")]
    assert len(future_dead) == len(future)
