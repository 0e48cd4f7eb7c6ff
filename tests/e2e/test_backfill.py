"""End to end: a backfill of eleven years (2015-2025) through Kafka and a worker into ClickHouse, totals exact.

One flush of such a backfill spans more than 100 month partitions of `events` and `agg_minute_partial`,
which ClickHouse refuses in one INSERT block (max_partitions_per_insert_block); the writer splits it
(sinks/writer.py). Before that, the worker retried, exited and crash-looped, processing nothing.

The history goes in as a user loads one, with `dvcpulse publish --backfill` (publish_lines(backfill=True))
and the default 7-day horizon: each message states the file's own clock as its arrival, so the years count
on time, while one event the file brings 30 days after newer ones is judged late, as it would have been live.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from dvcpulse.publisher import publish_lines
from dvcpulse.stack import LocalStack, wait_until_processed

pytestmark = pytest.mark.integration

VIETNAM = timedelta(hours=7)
RECORDS_PER_MONTH = 4


@pytest.fixture
def stack(start_stack: Callable[..., LocalStack]) -> LocalStack:
    return start_stack(
        "backfill",
        batch_size=5_000,  # the whole backfill in a few flushes, each spanning the years
        batch_seconds=2.0,
    )


def backfill() -> tuple[list[bytes], Counter, Counter]:
    """Submitted then synced events for RECORDS_PER_MONTH records a month, 2015-01 to 2025-12, in event-time
    order; with the expected per-Vietnam-day submitted and synced counts."""
    lines: list[tuple[datetime, bytes]] = []
    submitted: Counter = Counter()
    synced: Counter = Counter()
    for year in range(2015, 2026):
        for month in range(1, 13):
            for n in range(RECORDS_PER_MONTH):
                record = f"B{year}{month:02d}-{n}"
                start = datetime(year, month, 1 + 7 * n, 3 + 5 * n, tzinfo=UTC)
                done = start + timedelta(days=2)
                for kind, status, when in (("submitted", 1, start), ("synced", 9, done)):
                    event = {
                        "event_id": f"{record}-{kind}", "record_id": record, "procedure_code": "1.001",
                        "service_code": "DV06", "province_code": "79", "channel": 1 + n % 3, "online_level": "full",
                        "event_type": kind, "status": status, "event_time": when.isoformat(),
                    }  # fmt: skip
                    lines.append((when, orjson.dumps(event)))
                submitted[str((start + VIETNAM).date())] += 1
                synced[str((done + VIETNAM).date())] += 1
    lines.sort(key=lambda pair: pair[0])
    ordered = [line for _, line in lines]
    ordered.insert(len(ordered) // 2, LATE)
    return ordered, submitted, synced


LATE = orjson.dumps({
    "event_id": "late-1", "record_id": "late", "procedure_code": "1.001", "service_code": "DV06",
    "province_code": "79", "channel": 1, "online_level": "full", "event_type": "submitted", "status": 1,
    "event_time": "2015-01-01T00:00:00+00:00",
})  # fmt: skip


def test_ten_year_backfill_is_loaded_exactly(stack: LocalStack) -> None:
    lines, submitted, synced = backfill()
    records = len(lines) // 2  # the late event's record counts in no aggregate
    settings = stack.settings
    summary = asyncio.run(
        publish_lines(lines, settings=settings, bootstrap=stack.bootstrap, topic=settings.events_topic,
                      rejects_path=None, backfill=True)
    )  # fmt: skip
    assert (summary.events, summary.late_on_arrival) == (len(lines), 0)
    stack.start_worker("w1")
    client = stack.client()
    db = stack.settings.clickhouse_database
    seen = wait_until_processed(client, db, len(lines), timeout=300)
    assert seen == len(lines), f"processed {seen} of {len(lines)} events"

    assert client.command(f"SELECT sum(late) FROM {db}.v_pipeline") == 1
    assert client.query(f"SELECT event_id FROM {db}.v_events WHERE is_late").result_rows == [("late-1",)]
    assert client.command(f"SELECT sum(duplicates) FROM {db}.v_pipeline") == 0
    assert client.command(f"SELECT count() FROM {db}.v_events") == len(lines)
    totals = client.query(f"SELECT sum(submitted), sum(synced) FROM {db}.v_counts_by_cell").result_rows[0]
    assert tuple(totals) == (records, records)
    by_channel = dict(client.query(f"SELECT channel, sum(submitted) FROM {db}.v_counts_by_cell GROUP BY channel")
                      .result_rows)  # fmt: skip
    assert by_channel == dict(Counter(1 + n % 3 for n in range(RECORDS_PER_MONTH) for _ in range(11 * 12)))
    rows = client.query(
        f"SELECT toString(day), sum(submitted), sum(synced) FROM {db}.v_daily GROUP BY day ORDER BY day"
    ).result_rows
    assert {day: n for day, n, _ in rows if n} == dict(submitted)
    assert {day: n for day, _, n in rows if n} == dict(synced)
    assert client.command(f"SELECT sum(submitted) FROM {db}.v_minute") == records
    # the history really spans more month partitions than one INSERT block may touch
    months = client.command(
        f"SELECT count(DISTINCT partition) FROM system.parts WHERE database = '{db}' AND table = 'events' AND active"
    )
    assert months == 11 * 12
