"""streams.ingest.route and the origin header, pure: what is applied here, forwarded, dead-lettered, skipped."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import NamedTuple

import orjson
import pytest

from dvcpulse.models.lateness import Lateness
from dvcpulse.models.partitioning import record_partition
from dvcpulse.streams.ingest import SourceMessage, route
from dvcpulse.streams.internal import ORIGIN_HEADER, decode_origins, encode_origins, message_hash, source_in
from dvcpulse.streams.pipeline import Processed
from dvcpulse.streams.state import PartitionState

PARTITIONS = 4
LATENESS = Lateness(horizon_ms=7 * 24 * 3600 * 1000)
TOPIC = "events"


def event(record: str, event_id: str, when: str = "2025-09-01T08:00:00+07:00") -> dict:
    return {
        "event_id": event_id, "record_id": record, "procedure_code": "1.001", "service_code": "DV09",
        "province_code": "01", "channel": 2, "online_level": "full", "event_type": "submitted", "status": 1,
        "event_time": when,
    }  # fmt: skip


def records_on(partition: int, count: int) -> list[str]:
    """Record ids whose owner is `partition`."""
    found, n = [], 0
    while len(found) < count:
        if record_partition(f"R{n}", PARTITIONS) == partition:
            found.append(f"R{n}")
        n += 1
    return found


def states(*partitions: int) -> dict[int, PartitionState]:
    return {p: PartitionState(partition=p) for p in partitions}


def test_own_events_are_applied_others_forwarded_to_their_owner_bad_ones_dead_lettered() -> None:
    (mine,), (theirs,) = records_on(0, 1), records_on(3, 1)
    bad = {**event(mine, "e3"), "channel": 9}
    value = orjson.dumps([event(mine, "e1"), event(theirs, "e2"), bad])
    routed = route([SourceMessage(TOPIC, 0, 5, value)], states(0), PARTITIONS, LATENESS)

    ((partition, offset, applied),) = routed.to_apply
    assert (partition, offset, [e.event_id for e in applied]) == (0, 5, ["e1"])
    assert applied[0].source == source_in(message_hash(TOPIC, 0, 5), 0)
    assert list(routed.forwards) == [3]
    ((forwarded, header),) = routed.forwards[3].messages()
    assert [e["event_id"] for e in orjson.loads(forwarded)] == ["e2"]  # its original JSON, in an envelope
    assert decode_origins(header, 1) == [(source_in(message_hash(TOPIC, 0, 5), 1), False)]
    ((dead,),) = [routed.dead_letters]
    assert dead.rejected.index == 2 and "channel" in dead.rejected.reason


def test_a_forwarded_event_keeps_its_source_and_lateness_judgement() -> None:
    (mine,) = records_on(1, 1)
    value = orjson.dumps([event(mine, "e1")])
    header = encode_origins([(12345, True)])
    message = SourceMessage(TOPIC, 1, 0, value, [(ORIGIN_HEADER, header)])
    routed = route([message], states(1), PARTITIONS, LATENESS)
    ((_, _, (applied,)),) = routed.to_apply
    assert (applied.source, applied.late) == (12345, True)
    assert routed.forwards == {} and routed.dead_letters == []


def test_a_forward_with_a_broken_origin_header_is_dead_lettered_whole() -> None:
    (mine,) = records_on(1, 1)
    message = SourceMessage(TOPIC, 1, 0, orjson.dumps([event(mine, "e1")]), [(ORIGIN_HEADER, b"[[1, true], [2")])
    routed = route([message], states(1), PARTITIONS, LATENESS)
    assert routed.to_apply == [(1, 0, [])]
    ((dead,),) = [routed.dead_letters]
    assert "forwarded envelope" in dead.rejected.reason


def test_replays_and_partitions_not_owned_are_skipped() -> None:
    (mine,) = records_on(2, 1)
    owned = states(2)
    owned[2].offset = 7  # the checkpoint says offsets up to 7 were applied
    messages = [
        SourceMessage(TOPIC, 2, 7, orjson.dumps(event(mine, "old"))),
        SourceMessage(TOPIC, 2, 8, orjson.dumps(event(mine, "new"))),
        SourceMessage(TOPIC, 0, 9, orjson.dumps(event(mine, "elsewhere"))),  # partition 0 is not ours
    ]
    routed = route(messages, owned, PARTITIONS, LATENESS)
    assert [(p, o, [e.event_id for e in events]) for p, o, events in routed.to_apply] == [(2, 8, ["new"])]
    assert routed.not_owned == {(0, 9)}  # never acknowledged: its owner reads it; a replay (7) is acknowledged


def ms(iso: str) -> int:
    return round(datetime.fromisoformat(iso).timestamp() * 1000)


def test_lateness_is_judged_against_each_messages_own_timestamp() -> None:
    (a, b, c) = records_on(0, 3)
    arrival = ms("2025-09-11T08:00:00+07:00")
    messages = [
        SourceMessage(TOPIC, 0, 0, orjson.dumps(event(a, "new", "2025-09-11T08:00:00+07:00")), None, arrival),
        SourceMessage(TOPIC, 0, 1, orjson.dumps(event(b, "late", "2025-09-04T07:59:59.999+07:00")), None, arrival),
        SourceMessage(TOPIC, 0, 2, orjson.dumps(event(b, "edge", "2025-09-04T08:00:00+07:00")), None, arrival),
        # an older arrival: judged by its own timestamp, whatever came before it on the partition
        SourceMessage(
            TOPIC,
            0,
            3,
            orjson.dumps(event(c, "ok", "2025-09-01T08:00:00+07:00")),
            None,
            ms("2025-09-02T00:00:00+07:00"),
        ),
        SourceMessage(TOPIC, 0, 4, orjson.dumps(event(c, "no-timestamp", "2020-01-01T00:00:00+07:00")), None, None),
    ]
    routed = route(messages, states(0), PARTITIONS, LATENESS)
    assert [(events[0].event_id, events[0].late) for _, _, events in routed.to_apply] == [
        ("new", False), ("late", True), ("edge", False), ("ok", False), ("no-timestamp", False),
    ]  # fmt: skip
    assert routed.dead_letters == []


def test_an_event_from_the_future_of_its_arrival_is_dead_lettered_alone() -> None:
    (a,) = records_on(0, 1)
    (theirs,) = records_on(1, 1)
    arrival = ms("2025-09-11T08:00:00+07:00")
    value = orjson.dumps(
        [
            event(a, "within", "2025-09-11T09:00:00+07:00"),  # exactly the 1 h tolerance: accepted
            event(a, "2099", "2099-01-01T00:00:00+07:00"),
            event(theirs, "ahead", "2025-09-11T09:00:00.001+07:00"),
            event(theirs, "fine", "2025-09-11T07:00:00+07:00"),
        ]
    )
    state = states(0)
    routed = route([SourceMessage(TOPIC, 0, 0, value, None, arrival)], state, PARTITIONS, LATENESS)
    ((_, _, applied),) = routed.to_apply
    assert [e.event_id for e in applied] == ["within"]
    ((forwarded, _),) = routed.forwards[1].messages()
    assert [e["event_id"] for e in orjson.loads(forwarded)] == ["fine"]
    assert [(d.rejected.index, d.rejected.errors[0].field) for d in routed.dead_letters] == [
        (1, "event_time"), (2, "event_time"),
    ]  # fmt: skip
    assert "more than 1 h after its message's arrival" in routed.dead_letters[0].rejected.reason
    assert b'"2099"' in routed.dead_letters[0].rejected.raw and b"within" not in routed.dead_letters[0].rejected.raw
    # and nothing else moved: the next ordinary event is judged by its own message alone
    later = SourceMessage(
        TOPIC, 0, 1, orjson.dumps(event(a, "next", "2025-09-11T08:00:05+07:00")), None, arrival + 5000
    )
    ((_, _, (next_event,)),) = route([later], state, PARTITIONS, LATENESS).to_apply
    assert not next_event.late


@pytest.mark.parametrize(
    ("header", "events", "problem"),
    [
        (b"not json", 1, "not JSON"),
        (b"[[1, true]]", 2, "one [source, late] pair per event"),
        (b'{"source": 1}', 1, "one [source, late] pair per event"),
        (b"[[1, 1]]", 1, "not a [source, late] pair"),
        (b"[[-1, false]]", 1, "not a [source, late] pair"),
        (b"[[9223372036854775808, false]]", 1, "not a [source, late] pair"),  # beyond 63 bits
        (b'[["1", false]]', 1, "not a [source, late] pair"),
        (b"[[1.0, false]]", 1, "not a [source, late] pair"),
    ],
)
def test_decode_origins_refuses_anything_but_one_pair_per_event(header: bytes, events: int, problem: str) -> None:
    with pytest.raises(ValueError, match=problem.replace("[", r"\[").replace("]", r"\]")):
        decode_origins(header, events)


def test_origins_round_trip() -> None:
    pairs = [(0, False), (2**63 - 1, True), (42, False)]
    assert decode_origins(encode_origins(pairs), 3) == pairs


def test_a_backfill_states_its_arrival_in_a_header_and_a_bad_header_is_dead_lettered() -> None:
    (a,) = records_on(0, 1)
    now = ms("2026-11-30T08:00:00+07:00")
    old = orjson.dumps(event(a, "2015", "2015-09-01T08:00:00+07:00"))
    stated = [("dvcpulse-arrival", str(ms("2015-09-01T08:00:00+07:00")).encode())]
    messages = [
        SourceMessage(TOPIC, 0, 0, old, None, now),  # sent now without a header: late
        SourceMessage(TOPIC, 0, 1, old.replace(b'"2015"', b'"2015b"'), stated, now),  # a backfill: on time
        SourceMessage(TOPIC, 0, 2, old.replace(b'"2015"', b'"bad"'), [("dvcpulse-arrival", b"yesterday")], now),
    ]
    routed = route(messages, states(0), PARTITIONS, LATENESS)
    assert [(e.event_id, e.late) for _, _, events in routed.to_apply for e in events] == [
        ("2015", True), ("2015b", False),
    ]  # fmt: skip
    ((dead,),) = [routed.dead_letters]
    assert dead.source.offset == 2 and "dvcpulse-arrival header must be epoch milliseconds" in dead.rejected.reason


def test_messages_not_owned_are_not_acknowledged() -> None:
    class Message(NamedTuple):
        partition: int
        offset: int

    class Event(NamedTuple):
        message: Message

    batch = [Event(Message(0, 5)), Event(Message(1, 7)), Event(Message(0, 6))]
    written: asyncio.Future[None] = asyncio.Future(loop=asyncio.new_event_loop())
    assert Processed(written, {(1, 7)}).to_ack(batch) == [batch[0], batch[2]]  # type: ignore[arg-type]
    assert Processed(written, set()).to_ack(batch) == batch  # type: ignore[arg-type]
