"""A backfill of many years in one flush, on the real engine.

ClickHouse refuses an INSERT block whose rows fall in more table partitions than
`max_partitions_per_insert_block` (default 100): one flush of twelve years of events (144 month partitions
of `events` and `agg_minute_partial`) used to fail on every retry. The writer splits such inserts by the
tables' PARTITION BY, computed in Python (sinks/writer.py); these tests hold it to ClickHouse's own
partitioning, to the write order of sinks/SCHEMA.md and to the counts that were applied.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, date, datetime

import pytest
from clickhouse_connect.driver.client import Client

from dvcpulse.sinks.contract import CELL_TABLES, EventRow
from dvcpulse.sinks.writer import (
    EVENT_COLUMNS,
    PARTITION_KEYS,
    SAFE_PARTITIONS_PER_INSERT,
    ClickHouseWriter,
    partition_groups,
)
from dvcpulse.streams.state import PartitionState
from tests.sinks.conftest import DB

HOUR = 3_600_000
DAY = 24 * HOUR
YEARS = range(2014, 2026)  # 144 months


def ms(*when: int) -> int:
    return int(datetime(*when, tzinfo=UTC).timestamp() * 1000)  # type: ignore[misc]


def event(event_id: str, record: str, kind: str, at_ms: int, source: int, channel: int = 2) -> EventRow:
    status = {"submitted": 1, "status_changed": 4, "synced": 9}[kind]
    return EventRow(
        event_id, record, "1.001", "DV06", "79", "", "", channel, "full", kind, status, at_ms, None, None, "",
        False, source,
    )  # fmt: skip


def backfill() -> list[list[EventRow]]:
    """Three records a month from 2014-01 to 2025-12, in event-time order: submitted, a status change, synced.
    Times sit near the month's edges: records start on the 1st at 00:30 UTC, the 11th, and the last day at
    18:00 UTC, which is already the 1st of the next month in Vietnam, so UTC and Vietnam months differ."""
    messages: list[list[EventRow]] = []
    source = 0
    for year in YEARS:
        for month in range(1, 13):
            first = ms(year, month, 1, 0, 30)
            end = ms(year + (month == 12), month % 12 + 1, 1) - 4 * HOUR  # 20:00 UTC of the last day
            for n, start in enumerate((first, first + 10 * DAY, end - 2 * HOUR)):
                record = f"R{year}{month:02d}-{n}"
                events = []
                for kind, at in (("submitted", start), ("status_changed", start + HOUR), ("synced", start + 2 * HOUR)):
                    source += 1
                    events.append(event(f"{record}-{kind}", record, kind, at, source, channel=1 + n % 3))
                messages.append(events)
    return messages


def test_partition_keys_are_the_tables_partition_by(client: Client) -> None:
    """Every partitioned table the writer inserts into is in PARTITION_KEYS, on the column its PARTITION BY reads."""
    declared = dict(
        client.query(
            "SELECT name, partition_key FROM system.tables WHERE database = {db:String} AND engine LIKE '%MergeTree'",
            parameters={"db": DB},
        ).result_rows
    )
    written = {"events", "resends", "checkpoints", "dead_letters", *(spec.table for spec in CELL_TABLES.values())}
    assert {table for table in written if declared[table]} == set(PARTITION_KEYS)
    assert declared["events"] == "toYYYYMM(event_time, 'Asia/Ho_Chi_Minh')"
    assert declared["agg_minute_partial"] == "toYYYYMM(minute)"
    assert declared["agg_day_partial"] == "toYear(day)"
    assert declared["agg_hour_partial"] == "toYear(hour)"
    assert declared["agg_month_partial"] == "toYear(month)"
    assert declared["agg_day_channel_partial"] == "toYear(day)"
    assert declared["resends"] == "kafka_partition"
    for table, (column, _) in PARTITION_KEYS.items():
        assert column in declared[table]


def test_python_partition_keys_equal_clickhouse_at_month_edges(client: Client) -> None:
    rng = random.Random(3)
    edges = [ms(y, m, 1) + d for y in (1950, 1970, 1975, 1976, 2013, 2024, 2025) for m in range(1, 13)
             for d in (-7 * HOUR - 1, -7 * HOUR, -1, 0, 17 * HOUR)]  # fmt: skip
    times = edges + [rng.randrange(ms(1971, 1, 1), ms(2100, 1, 1)) for _ in range(300)]
    vietnam_month = PARTITION_KEYS["events"][1]
    utc_month = PARTITION_KEYS["agg_minute_partial"][1]
    year = PARTITION_KEYS["agg_day_partial"][1]
    utc_year = PARTITION_KEYS["agg_hour_partial"][1]
    rows = client.query(
        "SELECT t, toYYYYMM(fromUnixTimestamp64Milli(t, 'UTC'), 'Asia/Ho_Chi_Minh'), "
        "toYYYYMM(toDateTime(intDiv(t, 1000), 'UTC')), toYear(toDate(intDiv(t, 86400000))), "
        "toYear(toDateTime(intDiv(t, 1000), 'UTC')) "
        "FROM (SELECT arrayJoin({times:Array(Int64)}) AS t)",
        parameters={"times": times},
    ).result_rows
    assert len(rows) == len(times)
    for t, in_vietnam, in_utc, in_year, in_utc_year in rows:
        assert divmod(vietnam_month(t), 12) == (in_vietnam // 100, in_vietnam % 100 - 1), t
        if t >= 0:  # DateTime and Date start at 1970
            assert divmod(utc_month(t // 1000), 12) == (in_utc // 100, in_utc % 100 - 1), t
            assert year(t // DAY) == in_year, t
            assert utc_year(t // 1000) == in_utc_year, t


def test_groups_keep_partitions_whole_rows_in_order_and_within_the_limit() -> None:
    rng = random.Random(7)
    keys = [rng.randrange(300) for _ in range(5_000)]
    groups = partition_groups(keys, 90)
    assert len(groups) == 4  # 300 partitions / 90
    assert sorted(i for group in groups for i in group) == list(range(len(keys)))  # every row, once
    seen: set[int] = set()
    previous_max = -1
    for group in groups:
        assert group == sorted(group)  # rows keep their order
        group_keys = {keys[i] for i in group}
        assert len(group_keys) <= 90
        assert not group_keys & seen  # a partition is never split across inserts
        assert min(group_keys) > previous_max  # groups follow the partition order
        seen |= group_keys
        previous_max = max(group_keys)
    assert partition_groups(keys[:50], 90) == [list(range(50))]
    assert partition_groups([5] * 10, 1) == [list(range(10))]
    assert partition_groups([], 90) == [[]]


def test_a_single_insert_of_a_backfill_is_refused(client: Client) -> None:
    """The engine enforces the limit, so the backfill test below exercises the split."""
    rows = [(*event(f"e{i}", f"r{i}", "submitted", ms(2010 + i // 12, i % 12 + 1, 15), i), 0, i, 0)
            for i in range(120)]  # fmt: skip
    with pytest.raises(Exception, match=r"max_partitions_per_insert_block|[Tt]oo many partitions"):
        client.insert(f"{DB}.events", rows, column_names=EVENT_COLUMNS)


def test_one_flush_of_twelve_years_is_written_whole(client: Client) -> None:
    messages = backfill()
    state = PartitionState(partition=5)
    for offset, events in enumerate(messages):
        state.apply_message(offset, events)
    applied = [e for events in messages for e in events]
    writer = ClickHouseWriter(client, DB)
    inserts: list[tuple[str, int]] = []
    insert = client.insert

    def spy(table: str, data: list, **kwargs: object) -> object:
        inserts.append((table.split(".")[-1], len(data[0])))
        return insert(table, data, **kwargs)

    client.insert = spy  # type: ignore[method-assign]
    changes = state.take_changes()
    assert len(changes.history) == len(applied) == 144 * 9
    writer.write([changes])  # one write, as the worker's flush

    # split where needed, one table after the other, the checkpoint last
    tables = [table for table, _ in inserts]
    assert tables == ["events"] * 2 + ["agg_minute_partial"] * 2 + [
        "agg_hour_partial", "agg_day_partial", "agg_month_partial", "agg_day_channel_partial", "checkpoints"
    ]  # fmt: skip
    rows = Counter()
    for table, count in inserts:
        rows[table] += count
    assert rows["events"] == len(applied)
    assert rows["agg_minute_partial"] == len(changes.minutes) and rows["agg_day_partial"] == len(changes.days)

    # every table partition ClickHouse made is one the writer computed, and no insert held more than the limit
    for table in ("events", "agg_minute_partial"):
        parts = client.query(
            "SELECT count(DISTINCT partition) FROM system.parts WHERE database = {db:String} AND table = {t:String} "
            "AND active",
            parameters={"db": DB, "t": table},
        ).result_rows[0][0]
        assert parts > SAFE_PARTITIONS_PER_INSERT
    vietnam_months = {
        f"{k // 12}{k % 12 + 1:02d}" for k in map(PARTITION_KEYS["events"][1], (e.event_time_ms for e in applied))
    }
    assert vietnam_months == {
        row[0]
        for row in client.query(
            f"SELECT DISTINCT partition FROM system.parts WHERE database = '{DB}' AND table = 'events' AND active"
        ).result_rows
    }

    # what ClickHouse holds is what was applied
    records = len(applied) // 3
    assert client.command(f"SELECT count() FROM {DB}.events") == len(applied)
    assert client.command(f"SELECT count() FROM {DB}.v_events") == len(applied)
    daily = client.query(
        f"SELECT day, service_code, province_code, channel, online_level, submitted, synced, status_changes "
        f"FROM {DB}.v_daily"
    ).result_rows
    epoch = date(1970, 1, 1)
    held = {((day - epoch).days, *cell): [submitted, synced, *statuses]
            for day, *cell, submitted, synced, statuses in daily}  # fmt: skip
    assert held == state.day_counters()  # the state's day cells: Vietnam days since 1970
    assert len(held) == records  # one day cell per record here
    totals = client.query(
        f"SELECT sum(submitted), sum(synced), sum(status_changes) FROM {DB}.v_counts_by_cell"
    ).result_rows[0]
    assert tuple(totals) == (records, records, records)
    by_channel = dict(
        client.query(f"SELECT channel, sum(submitted) FROM {DB}.v_counts_by_cell GROUP BY channel").result_rows
    )
    assert by_channel == {1: records // 3, 2: records // 3, 3: records // 3}
    first_day, last_day = client.query(f"SELECT min(day), max(day) FROM {DB}.v_daily").result_rows[0]
    assert (str(first_day), str(last_day)) == ("2014-01-01", "2026-01-01")  # 2025-12-31 20:00 UTC is Jan 1 in Vietnam
    assert client.command(f"SELECT sum(submitted) FROM {DB}.v_minute") == records
    assert client.command(f"SELECT version FROM {DB}.checkpoints FINAL WHERE kafka_partition = 5") == len(messages) - 1

    # a restore reads the whole backfill back
    restored = PartitionState(partition=5)
    history = writer.read_partition(5)
    assert history is not None and len(history.events) == len(applied)
    restored.restore(history)
    assert restored.day_counters() == state.day_counters()
    assert restored.minute_counters() == state.minute_counters()


def test_a_flush_within_a_month_or_two_is_one_insert_per_table(client: Client) -> None:
    state = PartitionState(partition=1)
    t0 = ms(2025, 10, 31, 16, 30)  # 23:30 in Vietnam, crosses into November
    state.apply_message(0, [event("a-s", "A", "submitted", t0, 1), event("b-s", "B", "submitted", t0 + HOUR, 2)])
    state.apply_message(1, [event("a-s", "A", "submitted", t0, 3)])  # a re-send
    writer = ClickHouseWriter(client, DB)
    inserts: list[str] = []
    insert = client.insert

    def spy(table: str, data: list, **kwargs: object) -> object:
        inserts.append(table.split(".")[-1])
        return insert(table, data, **kwargs)

    client.insert = spy  # type: ignore[method-assign]
    writer.write([state.take_changes()])
    cells = [spec.table for spec in CELL_TABLES.values()]
    assert inserts == ["resends", "events", *cells, "checkpoints"]
    assert client.command(f"SELECT sum(submitted) FROM {DB}.v_daily") == 2
