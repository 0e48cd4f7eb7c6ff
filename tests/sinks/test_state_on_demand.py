"""State on demand (issue 14) against the real engine: records and cells evicted and loaded back as of the
durable checkpoint give exactly the figures of a worker that keeps everything in memory, through evictions,
a crash between the cells and the checkpoint, and a rebalance with the previous owner's writes in flight."""

from __future__ import annotations

from clickhouse_connect.driver.client import Client

from dvcpulse.sinks.contract import CELL_TABLES, EventRow
from dvcpulse.sinks.writer import ClickHouseWriter, _now_ms
from dvcpulse.streams.aggregate import Aggregator
from dvcpulse.streams.state import PartitionState
from tests.sinks.conftest import DB
from tests.streams.test_state import DAY, HOUR, T0, event

P = 3


def messages() -> list[tuple[int, int, list[EventRow]]]:
    """(partition, offset, events): a record R1 whose later events arrive after it was evicted."""
    first = event("r1-sub", "R1", "submitted", T0 + 5 * HOUR, source=1001)
    fillers = [event(f"f{i}", f"F{i}", "submitted", T0 + i * 60_000 + DAY) for i in range(6)]
    later = [
        event("r1-st", "R1", "status_changed", T0 + 6 * HOUR, status=3),  # a status change
        event("r1-sub", "R1", "submitted", T0 + 5 * HOUR),  # a portal's re-send of the first event
        first,  # the same source message again (a replayed forward): skipped
        event("r1-early", "R1", "submitted", T0 + 1 * HOUR),  # an earlier submitted: the count moves
        event("r1-sync", "R1", "synced", T0 + 7 * HOUR),
        event("f0-st", "F0", "status_changed", T0 + 2 * DAY, status=5),
        event("r1-sync0", "R1", "synced", T0 + 6 * HOUR + 1),  # an earlier synced: moves too
    ]
    fillers2 = [event(f"g{i}", f"G{i}", "synced", T0 + i * 60_000 + 3 * DAY) for i in range(4)]
    stream = [first, *fillers, *later[:3], *fillers2, *later[3:]]
    return [(P, offset, [e]) for offset, e in enumerate(stream)]


def reference(stream: list[tuple[int, int, list[EventRow]]]) -> PartitionState:
    state = PartitionState(P)
    for _, offset, events in stream:
        state.apply_message(offset, events)
    return state


def run(aggregator: Aggregator, batches: list[list[tuple[int, int, list[EventRow]]]]) -> None:
    for batch in batches:
        aggregator.load({p for p, _, _ in batch})
        if aggregator.lookups_needed(batch):  # evicts beyond the budgets, then says whether to read
            aggregator.prefetch(batch)
        aggregator.flush(aggregator.apply(batch))


def stored(client: Client, table: str, time: str) -> dict[tuple, list[int]]:
    rows = client.query(
        f"SELECT {time}, service_code, province_code, channel, online_level, submitted, synced, status_changes "
        f"FROM {DB}.{table} FINAL WHERE kafka_partition = {P}"
    ).result_rows
    out = {}
    for t, s, p, c, level, sub, syn, statuses in rows:
        counters = [sub, syn, *statuses]
        if any(counters):
            out[(int(t), s, p, c, level)] = counters
    return out


def assert_exact(client: Client, truth: PartitionState) -> None:
    """Every grain's stored cells (minute, hour, day, month, day by channel) equal the in-memory truth's."""
    for grain, spec in enumerate(CELL_TABLES.values()):
        time = f"toUnixTimestamp({spec.time_column})" if spec.seconds_per_unit else f"toUInt16({spec.time_column})"
        expected = {k: v for k, v in truth.counters(grain).items() if any(v)}
        assert stored(client, spec.table, time) == expected, spec.table
    checkpoint = ClickHouseWriter(client, DB).read_checkpoint(P)
    assert checkpoint is not None
    assert (checkpoint.offset, checkpoint.processed, checkpoint.duplicates) == (
        truth.offset, truth.processed, truth.duplicates,
    )  # fmt: skip


def test_evicted_records_and_cells_come_back_exact(client: Client) -> None:
    stream = messages()
    aggregator = Aggregator(ClickHouseWriter(client, DB), max_records=1, max_cells=1)
    run(aggregator, [[m] for m in stream])
    assert len(aggregator.states[P].records) <= 2  # evicted down to the budget, plus the batch's own record
    assert_exact(client, reference(stream))


def test_restart_after_a_crash_between_the_cells_and_the_checkpoint(client: Client) -> None:
    stream = messages()
    writer = ClickHouseWriter(client, DB)
    run(Aggregator(writer, max_records=1, max_cells=1), [stream[:9]])
    crashed = Aggregator(writer, max_records=1, max_cells=1)
    crashed.load([P])
    batch = stream[9:15]
    crashed.prefetch(batch)
    changes = crashed.apply(batch)
    now = _now_ms()
    writer._write_history(changes, now)  # history and cells written, the checkpoint not: a crash
    writer._write_cells("agg_minute_partial", "minute", [(c, c.minutes) for c in changes])
    writer._write_cells("agg_day_partial", "day", [(c, c.days) for c in changes])
    assert writer.read_checkpoint(P).offset == 8
    restarted = Aggregator(writer, max_records=1, max_cells=1)
    run(restarted, [stream[9:11], stream[11:13], stream[13:]])  # the replay, batched otherwise
    assert restarted.fallbacks == 0  # the crashed rows' previous values were enough
    assert_exact(client, reference(stream))


def test_rebalance_with_the_previous_owners_writes_in_flight(client: Client) -> None:
    stream = messages()
    writer = ClickHouseWriter(client, DB)
    old = Aggregator(writer, max_records=2, max_cells=2)
    run(old, [stream[:8]])
    new = Aggregator(writer, max_records=1, max_cells=1)
    new.load([P])  # checkpoint 7
    run(old, [stream[8:12], stream[12:]])  # the old owner's two flushes in flight finish after that
    run(new, [[m] for m in stream[8:]])  # the new owner replays them as of its checkpoint
    assert new.fallbacks > 0  # cells two flushes beyond its checkpoint: read from the history up to it
    assert_exact(client, reference(stream))
