"""dashboards.sql._spanning: whole Vietnam days from the day cells, other whole hours from rollup_hour and edge
minutes from the minute cells (all with FINAL) give the same sums as v_minute over the range, for ranges that
start and end on and off the hour and the Vietnam midnight (17:00 UTC), with the end in or out."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import clickhouse_connect
import pytest
from clickhouse_connect.driver.client import Client

from dvcpulse.dashboards.sql import _spanning
from dvcpulse.sinks.contract import EventRow
from dvcpulse.sinks.migrate import migrate
from dvcpulse.sinks.writer import ClickHouseWriter
from dvcpulse.streams.state import PartitionState

DB = "ranges"
T0 = datetime(2025, 9, 1, tzinfo=UTC)


def _at(moment: datetime) -> str:
    return f"toDateTime({int(moment.timestamp())})"


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    engine = clickhouse_connect.get_client(dsn=f"chdb://{Path(tmp_path_factory.mktemp('ranges')) / 'chdb'}")
    migrate(engine, DB)
    rng = random.Random(7)
    sources = itertools.count(1)
    states = [PartitionState(partition=p) for p in range(2)]
    for n in range(900):  # filings over three days, at random seconds, in two partitions
        at = int((T0 + timedelta(seconds=rng.randrange(3 * 86_400))).timestamp() * 1000)
        row = EventRow(
            f"e{n}", f"r{n}", "1.001", "DV06", ("01", "79")[n % 2], "", "", 1 + n % 3, "full", "submitted", 1, at,
            None, None, "", False, next(sources),
        )  # fmt: skip
        states[n % 2].apply_message(n, [row])
    ClickHouseWriter(engine, DB).write([state.take_changes() for state in states])
    try:
        yield engine
    finally:
        engine.close()


RANGES = [
    (timedelta(hours=3), timedelta(hours=9)),  # on the hour at both ends
    (timedelta(hours=3, minutes=17, seconds=20), timedelta(hours=30, minutes=42, seconds=5)),
    (timedelta(hours=5, minutes=59, seconds=59), timedelta(hours=7, minutes=0, seconds=1)),
    (timedelta(hours=2, minutes=10), timedelta(hours=2, minutes=50)),  # inside one hour
    (timedelta(minutes=1), timedelta(hours=47, minutes=59)),
    (timedelta(hours=12, minutes=30), timedelta(hours=13, minutes=29)),
    # T0 + 17 h is a Vietnam midnight: whole days from v_daily
    (timedelta(hours=16, minutes=30), timedelta(hours=47, minutes=59)),  # one whole day, hours either side
    (timedelta(hours=17), timedelta(hours=41)),  # exactly one day: its last minute starts 1 minute before the end
    (timedelta(hours=17), timedelta(hours=40, minutes=59)),  # the day is whole only with the end included
    (timedelta(hours=2, minutes=3, seconds=4), timedelta(hours=70, minutes=1)),  # two whole days
    (timedelta(hours=17, seconds=1), timedelta(hours=65)),  # starts one second after midnight: one day
]


@pytest.mark.parametrize(("start", "end"), RANGES)
@pytest.mark.parametrize("end_included", [True, False])
def test_spanning_sums_equal_the_minute_sums(
    client: Client, start: timedelta, end: timedelta, end_included: bool
) -> None:
    lower, upper = _at(T0 + start), _at(T0 + end)
    comparison = "<=" if end_included else "<"
    columns = "province_code, channel, submitted"
    spanning = _spanning(DB, columns, "1", lower, upper, end_included=end_included)
    got = client.query(f"SELECT province_code, channel, sum(submitted) FROM {spanning} GROUP BY ALL ORDER BY ALL")
    expected = client.query(
        f"SELECT province_code, channel, sum(submitted) FROM {DB}.v_minute "
        f"WHERE minute >= {lower} AND minute {comparison} {upper} GROUP BY ALL ORDER BY ALL"
    )
    assert got.result_rows == expected.result_rows and expected.result_rows
    # and the ranges holding a whole Vietnam day do read it from the day cells, not from its minutes
    last_minute = timedelta(minutes=1439) if end_included else timedelta(minutes=1439, seconds=1)
    whole_days = sum(start <= midnight and midnight + last_minute <= end
                     for midnight in (timedelta(hours=17 + 24 * k) for k in range(3)))  # fmt: skip
    day_part = spanning[spanning.index(f"FROM {DB}.agg_day_partial FINAL") :].rstrip(")").strip()
    days = client.query(f"SELECT uniqExact(day) {day_part}").result_rows[0][0]
    assert days == whole_days, (days, whole_days)
