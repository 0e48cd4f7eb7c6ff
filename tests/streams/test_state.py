"""Counting rules of streams.state, pure: duplicates, first-by-event-time with retraction, lateness, replay."""

from __future__ import annotations

import itertools
import random
from datetime import datetime, timedelta, timezone

from hypothesis import assume, example, given
from hypothesis import strategies as st
from pydantic import AwareDatetime, TypeAdapter

from dvcpulse.sinks.contract import EventRow, PartitionHistory, RestoredEvent
from dvcpulse.streams.internal import epoch_ms
from dvcpulse.streams.state import (
    COUNTERS,
    FIRST_SYNCED,
    MINUTE,
    SUBMITTED,
    SYNCED,
    Changes,
    PartitionState,
    first_event,
)

SOURCES = itertools.count(1)
HOUR = 3_600_000
DAY = 24 * HOUR
T0 = 1_756_684_800_000  # 2025-09-01T00:00:00Z


def event(
    event_id: str,
    record: str = "R1",
    kind: str = "submitted",
    t: int = T0,
    status: int = 1,
    channel: int = 2,
    late: bool = False,
    source: int | None = None,
) -> EventRow:
    """An internal event; each call is a new source message (a re-send) unless `source` is given."""
    return EventRow(
        event_id, record, "1.001", "DV06", "79", "", "", channel, "full", kind, status, t, None, None, "", late,
        next(SOURCES) if source is None else source,
    )  # fmt: skip


def totals(state: PartitionState) -> list[int]:
    out = [0] * COUNTERS
    for counters in state.minute_counters().values():
        out = [a + b for a, b in zip(out, counters, strict=True)]
    return out


def fresh() -> PartitionState:
    return PartitionState(partition=0)


def restored_from(flushes: list[Changes], seed: int = 0) -> PartitionState:
    """What a restore does: the history and re-send rows of every flush, in any order (as ClickHouse may
    return them), replayed up to the last checkpoint."""
    history = [as_restored(event) for changes in flushes for event, _ in changes.history]
    resends = [(record_id, source) for changes in flushes for record_id, source, _ in changes.resends]
    random.Random(seed).shuffle(history)
    random.Random(seed).shuffle(resends)
    state = fresh()
    state.restore(PartitionHistory(flushes[-1].checkpoint, history, resends))
    return state


def as_restored(e: EventRow) -> RestoredEvent:
    """The columns of a written event that the sink reads back for a restore."""
    return RestoredEvent(
        e.event_id, e.record_id, e.service_code, e.province_code, e.channel, e.online_level, e.event_type,
        e.status, e.event_time_ms, e.late, e.source,
    )  # fmt: skip


def nonzero(counters: dict) -> dict:
    """Cells with a count: a replay in another order may touch (and leave at zero) other cells."""
    return {cell: counts for cell, counts in counters.items() if any(counts)}


def digests(packed: bytes) -> set[bytes]:
    return {packed[i : i + 8] for i in range(0, len(packed), 8)}


def same_records(one: PartitionState, two: PartitionState) -> bool:
    """Records equal up to the order of their digests and status events (sets, for counting)."""

    def first(packed: bytes | None) -> tuple | None:
        return packed and first_event(packed)[:2]  # (time, event id): cell keys number attributes in arrival order

    def canonical(state: PartitionState) -> dict:
        return {
            rid: (digests(r[0]), digests(r[1]), first(r[2]), first(r[3]), len(r[4])) for rid, r in state.records.items()
        }

    return canonical(one) == canonical(two)


def test_duplicate_event_changes_nothing() -> None:
    state = fresh()
    state.apply_message(0, [event("e1"), event("e1"), event("e2", kind="status_changed", status=4)])
    state.apply_message(1, [event("e2", kind="status_changed", status=4)])
    assert totals(state)[SUBMITTED] == 1
    assert totals(state)[2 + 4 - 1] == 1
    assert state.duplicates == 2
    assert state.processed == 4


def test_internal_replay_is_not_a_duplicate() -> None:
    """The same source message delivered twice (an ingest replay after a crash) is neither processed twice
    nor counted as a portal re-send; a replayed re-send stays one re-send."""
    state = fresh()
    state.apply_message(0, [event("e1", source=7)])
    state.apply_message(1, [event("e1", source=7)])
    assert (state.processed, state.duplicates, totals(state)[SUBMITTED]) == (1, 0, 1)
    state.apply_message(2, [event("e1", source=8)])  # the portal re-sends it
    state.apply_message(3, [event("e1", source=8)])  # and that message is replayed
    assert (state.processed, state.duplicates, totals(state)[SUBMITTED]) == (2, 1, 1)


def test_a_resend_is_persisted_so_its_replay_after_a_restore_stays_silent() -> None:
    state = fresh()
    state.apply_message(0, [event("e1", source=1)])
    first = state.take_changes()
    state.apply_message(1, [event("e1", source=2)])  # a portal re-send: only the record's sources change
    second = state.take_changes()
    assert [(rid, source) for rid, source, _ in second.resends] == [("R1", 2)] and not second.history
    restored = restored_from([first, second])
    assert (restored.offset, restored.processed, restored.duplicates) == (1, 2, 1)
    restored.apply_message(2, [event("e1", source=2)])  # the re-send replayed after a crash
    assert (restored.processed, restored.duplicates) == (2, 1)


def test_record_counts_once_at_its_earliest_submitted_event_whatever_the_order() -> None:
    state = fresh()
    late_arrival_earlier_time = event("e-early", t=T0 - 10 * 60_000)
    state.apply_message(0, [event("e-later", t=T0)])
    state.apply_message(1, [late_arrival_earlier_time])
    assert totals(state)[SUBMITTED] == 1
    nonzero = {cell[0]: c[SUBMITTED] for cell, c in state.minute_counters().items() if c[SUBMITTED]}
    assert nonzero == {(T0 - 10 * 60_000) // 1000: 1}  # moved to the earlier minute, retracted from the later
    assert state.minute_counters()[(T0 // 1000, "DV06", "79", 2, "full")][SUBMITTED] == 0


def test_synced_once_and_ties_broken_by_event_id() -> None:
    state = fresh()
    state.apply_message(0, [event("b", kind="synced", t=T0), event("a", kind="synced", t=T0)])
    assert totals(state)[SYNCED] == 1
    assert first_event(state.records["R1"][FIRST_SYNCED])[:2] == (T0, "a")


def test_late_event_is_history_only() -> None:
    state = fresh()
    state.apply_message(0, [event("new", record="R1", t=T0 + 10 * DAY)])
    state.apply_message(1, [event("old", record="R2", t=T0, late=True), event("ok", record="R3", t=T0 + 4 * DAY)])
    assert state.late == 1
    assert totals(state)[SUBMITTED] == 2  # R1 and R3; R2's only event was late
    late_rows = [event for event, _ in state.history if event.late]
    assert [event.event_id for event in late_rows] == ["old"]
    state.apply_message(2, [event("old", record="R2", t=T0, late=True)])
    assert state.late == 1 and state.duplicates == 1  # a re-sent late event is a duplicate, not late twice


def test_the_newest_arrival_read_is_checkpointed() -> None:
    state = fresh()
    state.newest_arrival_ms = T0 + DAY  # streams.ingest keeps it: the newest message timestamp read
    state.apply_message(0, [event("e1")])
    restored = fresh()
    restored.restore(PartitionHistory(state.take_changes().checkpoint, [], []))
    assert restored.newest_arrival_ms == T0 + DAY


def test_replayed_offsets_are_skipped() -> None:
    state = fresh()
    assert state.apply_message(5, [event("e1")])
    assert not state.apply_message(5, [event("e-other")])
    assert not state.apply_message(3, [event("e-older")])
    assert totals(state)[SUBMITTED] == 1


def test_restore_from_history_equals_the_incremental_state() -> None:
    rng = random.Random(3)
    state = fresh()
    flushes: list[Changes] = []
    kinds = ["submitted", "status_changed", "synced"]
    for offset in range(200):
        batch = []
        for _ in range(20):
            record = f"R{rng.randrange(300)}"
            batch.append(
                event(
                    f"e{rng.randrange(3000)}",  # collisions are re-sent events
                    record=record,
                    kind=rng.choice(kinds),
                    t=T0 + rng.randrange(3 * DAY),
                    status=rng.randrange(1, 11),
                    channel=rng.choice([1, 2, 3]),
                )
            )
        state.apply_message(offset, batch)
        if offset % 13 == 0 or offset == 199:
            flushes.append(state.take_changes())
    assert all(v >= 0 for counters in state.minute_counters().values() for v in counters)
    for seed in range(3):
        restored = restored_from(flushes, seed)
        assert nonzero(restored.minute_counters()) == nonzero(state.minute_counters())
        assert nonzero(restored.day_counters()) == nonzero(state.day_counters())
        assert same_records(restored, state)
        assert (restored.processed, restored.duplicates, restored.late) == (state.processed, state.duplicates, 0)
    more = [event("e1", record="R1", source=1), event("x-new", record="R1", kind="synced", t=T0 - DAY)]
    for one in (restored, state):
        one.apply_message(200, more)  # the first is a replay, the second moves R1's synced count
    assert nonzero(restored.minute_counters()) == nonzero(state.minute_counters())
    assert same_records(restored, state) and restored.processed == state.processed


def test_processing_is_deterministic_across_batchings() -> None:
    """Same messages, different flush points: the same final cells (what makes replays exact)."""
    rng = random.Random(9)
    messages = [
        [event(f"e{rng.randrange(500)}", record=f"R{rng.randrange(80)}", kind=rng.choice(["submitted", "synced"]),
               t=T0 + rng.randrange(DAY)) for _ in range(10)]
        for _ in range(60)
    ]  # fmt: skip
    one = fresh()
    for offset, batch in enumerate(messages):
        one.apply_message(offset, batch)
    two = fresh()
    for offset, batch in enumerate(messages):
        two.apply_message(offset, batch)
        if offset % 7 == 0:
            two.take_changes()
    assert one.minute_counters() == two.minute_counters() and one.day_counters() == two.day_counters()


def test_take_changes_reports_dirty_cells_once() -> None:
    state = fresh()
    state.apply_message(0, [event("e1"), event("e2", record="R2")])
    changes = state.take_changes()
    assert changes.offset == 0 and len(changes.history) == 2 and not changes.resends
    assert changes.checkpoint.processed == 2
    assert changes.minutes.as_dict() == {cell: tuple(c) for cell, c in state.minute_counters().items()}
    assert changes.days.as_dict() == {cell: tuple(c) for cell, c in state.day_counters().items()}
    assert len(changes.minutes) == 1 and changes.minutes.counters[0][SUBMITTED] == 2  # same minute and attributes
    empty = state.take_changes()
    assert not empty.minutes and not empty.days and not empty.history


@given(
    st.tuples(st.integers(0, 2**41), st.text(min_size=1, max_size=8)),
    st.tuples(st.integers(0, 2**41), st.text(min_size=1, max_size=8)),
)
def test_first_event_is_the_least_time_and_event_id_whatever_the_arrival_order(
    one: tuple[int, str], two: tuple[int, str]
) -> None:
    """`First` bytes order as (event_time, event_id) tuples do, for any times and any Unicode ids."""
    assume(one[1] != two[1])
    for arrivals in ((one, two), (two, one)):
        state = fresh()
        state.apply_message(0, [event(event_id, kind="synced", t=t) for t, event_id in arrivals])
        assert first_event(state.records["R1"][FIRST_SYNCED])[:2] == min(one, two)
        assert totals(state)[SYNCED] == 1


@given(st.integers(0, 2**42), st.integers(-18 * 60, 18 * 60), st.integers(0, 999))
@example(2_183_226_373_411, 7 * 60, 0)  # through a float these came out 1 ms low
@example(1_079_337_347_472, 0, 0)
def test_epoch_ms_is_exact_for_any_offset(ms: int, offset_minutes: int, extra_us: int) -> None:
    """Integer milliseconds, truncated (the float path was 1 ms low for some); parsed strings agree."""
    zone = timezone(timedelta(minutes=offset_minutes))
    value = datetime.fromtimestamp(ms // 1000, tz=zone).replace(microsecond=ms % 1000 * 1000 + extra_us)
    assert epoch_ms(value) == ms
    assert epoch_ms(TypeAdapter(AwareDatetime).validate_python(value.isoformat())) == ms


def test_a_resumed_partition_reads_only_cells_older_than_its_newest_event() -> None:
    """Every stored cell is at or before the checkpoint's newest event: a cell after it is zero without a read;
    an evicted cell moves that bound past itself."""
    from dvcpulse.sinks.contract import Checkpoint

    state = PartitionState(0)
    state.resume(Checkpoint(10, T0 + HOUR, 11, 0, 0, T0 + HOUR))
    newer, older = event("n", "N", t=T0 + HOUR + 60_000), event("o", "O", t=T0 + HOUR - 60_000)
    state.records["N"] = state.records["O"] = (b"", b"", None, None, b"")  # (records known: cells only)
    minute, hour, day, month, day_channel = state.missing_cells([(11, [newer])])
    assert minute == []  # its minute is new (zero, no read); its hour, day and month may hold counts
    assert len(hour) == len(day) == len(month) == len(day_channel) == 1
    held = [len(cells.values) for cells in state.levels]
    next_month = state.missing_cells([(11, [event("m", "N", t=T0 + 40 * DAY)])])
    assert next_month == [[], [], [], [], []]  # every grain after the checkpoint's: nothing to read ...
    assert [len(cells.values) for cells in state.levels] == held  # ... nor to install (no pass per cell)
    next_day = state.missing_cells([(11, [event("d", "N", t=T0 + HOUR + DAY)])])
    assert [len(keys) for keys in next_day] == [0, 0, 0, 1, 0]  # the next day: new, but in the same month
    wanted = state.missing_cells([(11, [older])])
    assert [len(keys) for keys in wanted] == [1, 1, 1, 1, 1]  # an older minute may hold counts
    state.install_cells([dict.fromkeys(keys, 0) for keys in wanted], 10)  # (as a read would)
    assert state.apply_message(11, [newer]) and state.offset == 11
    state.take_changes()
    known = state.levels[MINUTE].known_from
    assert state.evict(durable=11, max_records=10, max_cells=0) > 0
    assert state.levels[MINUTE].known_from == (T0 + HOUR + DAY) // 60_000 + 1 > known  # past the newest evicted
    assert state.missing_cells([(12, [event("n2", "N", t=T0 + HOUR + 60_000)])])[0] != []  # evicted: read back


def test_a_fresh_partition_reads_no_record_until_it_evicts_one() -> None:
    """From a partition's start every stored record is one this state holds: an unknown id is new. After a
    restart from a checkpoint, or once a record was evicted, an unknown id must be read."""
    from dvcpulse.sinks.contract import Checkpoint

    fresh = PartitionState(0)
    fresh.resume(None)
    assert fresh.missing_records([(0, [event("a", "A")])]) == []
    assert fresh.apply_message(0, [event("a", "A")]) and fresh.apply_message(1, [event("b", "B")])
    fresh.take_changes()
    assert fresh.evict(durable=1, max_records=1, max_cells=100) == 1
    assert fresh.missing_records([(2, [event("a2", "A"), event("c", "C")])]) == ["A", "C"]
    resumed = PartitionState(0)
    resumed.resume(Checkpoint(1, T0, 2, 0, 0, T0))
    assert resumed.missing_records([(2, [event("c", "C")])]) == ["C"]
