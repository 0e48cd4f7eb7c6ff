"""The sink's contract on the real engine: what a flush writes is what a restore reads back, up to the
checkpoint and no further, and a state rebuilt from it equals the state that wrote it."""

from __future__ import annotations

from clickhouse_connect.driver.client import Client

from dvcpulse.sinks.contract import Changes, EventRow, PartitionHistory, RestoredEvent
from dvcpulse.sinks.writer import EVENT_COLUMNS, ClickHouseWriter
from dvcpulse.streams.state import PartitionState
from tests.sinks.conftest import DB

T0 = 1_756_684_800_000  # 2025-09-01T00:00:00Z


def row(event_id: str, record: str, kind: str = "submitted", minutes: int = 0, source: int = 1) -> EventRow:
    return EventRow(
        event_id, record, "1.001", "DV06", "79", "", "", 2, "full", kind, 1 if kind == "submitted" else 9,
        T0 + minutes * 60_000, None, None, "", False, source,
    )  # fmt: skip


def test_event_columns_are_the_event_row_then_where_and_when() -> None:
    renamed = {"event_time_ms": "event_time", "due_date_ms": "due_date", "late": "is_late"}
    assert [
        *(renamed.get(name, name) for name in EventRow._fields), "kafka_partition", "kafka_offset", "processed_at",
    ] == EVENT_COLUMNS  # fmt: skip


def test_a_partition_never_written_reads_back_as_none(client: Client) -> None:
    assert ClickHouseWriter(client, DB).read_partition(3) is None


def test_restore_reads_what_flushes_wrote_up_to_the_checkpoint(client: Client) -> None:
    writer = ClickHouseWriter(client, DB)
    state = PartitionState(partition=3)
    state.apply_message(10, [row("a1", "A", source=101), row("b1", "B", source=102)])
    state.apply_message(11, [row("a2", "A", "synced", minutes=5, source=103)])
    first: Changes = state.take_changes()
    state.apply_message(12, [row("a1", "A", source=104)])  # a re-send of a1
    second = state.take_changes()
    writer.write([first, second])
    # a later flush whose checkpoint never landed (a crash between its history and its checkpoint)
    state.apply_message(13, [row("c1", "C", source=105)])
    orphan = state.take_changes()
    writer._write_history([orphan], now=0)

    history = writer.read_partition(3)
    assert isinstance(history, PartitionHistory)
    assert history.checkpoint == second.checkpoint and history.checkpoint.offset == 12
    assert sorted(history.events) == sorted(
        RestoredEvent(e.event_id, e.record_id, e.service_code, e.province_code, e.channel, e.online_level,
                      e.event_type, e.status, e.event_time_ms, e.late, e.source)
        for e, _ in first.history
    )  # fmt: skip
    assert history.resends == [("A", 104)]
    assert ClickHouseWriter(client, DB).read_partition(2) is None  # other partitions are not mixed in

    restored = PartitionState(partition=3)
    restored.restore(history)
    rebuilt = PartitionState(partition=3)
    for offset, events in ((10, [row("a1", "A", source=101), row("b1", "B", source=102)]),
                           (11, [row("a2", "A", "synced", minutes=5, source=103)]),
                           (12, [row("a1", "A", source=104)])):  # fmt: skip
        rebuilt.apply_message(offset, events)
    assert restored.minute_counters() == rebuilt.minute_counters()
    assert (restored.offset, restored.processed, restored.duplicates) == (12, 4, 1)
    assert restored.records == rebuilt.records
