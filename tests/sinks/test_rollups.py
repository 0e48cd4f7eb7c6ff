"""The coarse cells the worker writes (hours, Vietnam months, days by channel: migration 0012) and the views on
them, against what they summarise, on the real engine, through the product's write path.

After every write, each coarse grain must equal the same sums computed from the minute and day cells with FINAL
(what the views read before 0006) and from the worker's own counters: when a flush is written twice, when a
later version of a cell replaces an earlier one (a count that moves to an earlier cell), when a crashed flush's
rows are followed by a replay that writes older versions first, when an old day is rewritten days later, when
partitions interleave or are flushed at the same moment by two writers, and for data written before the
migration (with 0006's rollups). Where a test states figures, they are counted by hand from its filings (one
submitted, one status change and one synced event each).
"""

from __future__ import annotations

import itertools
from collections import defaultdict

import pytest
from clickhouse_connect.driver.client import Client

from dvcpulse.sinks.contract import EventRow
from dvcpulse.sinks.migrate import available, migrate
from dvcpulse.sinks.writer import ClickHouseWriter
from dvcpulse.streams.state import PartitionState
from tests.sinks.conftest import DB

MINUTE = 60_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR
T0 = 1_756_659_000_000  # 2025-08-31T16:50:00Z = 23:50 in Vietnam, ten minutes before an hour, a day and a month
SOURCES = itertools.count(1)

# -- the same sums, from the cell tables (the views' definitions before migration 0006) ---------------------

REFERENCE = {
    "hourly": f"""
        SELECT toStartOfHour(minute) AS h, service_code, province_code, channel, online_level,
               sum(submitted), sum(synced), sumForEach(status_changes)
        FROM {DB}.agg_minute_partial FINAL
        GROUP BY h, service_code, province_code, channel, online_level""",
    "day_channel": f"""
        SELECT day, channel, online_level, sum(submitted), sum(synced), sumForEach(status_changes)
        FROM {DB}.agg_day_partial FINAL
        GROUP BY day, channel, online_level""",
    "monthly": f"""
        SELECT toStartOfMonth(day) AS m, service_code, province_code, channel, online_level,
               sum(submitted), sum(synced), sumForEach(status_changes)
        FROM {DB}.agg_day_partial FINAL
        GROUP BY m, service_code, province_code, channel, online_level""",
    "by_cell": f"""
        SELECT service_code, province_code, channel, online_level,
               sum(submitted), sum(synced), arraySum(sumForEach(status_changes))
        FROM {DB}.agg_day_partial FINAL
        GROUP BY service_code, province_code, channel, online_level""",
    "cumulative": f"""
        SELECT day, sum(synced), sumIf(synced, channel = 2), sum(submitted), sumIf(submitted, channel = 2)
        FROM {DB}.agg_day_partial FINAL
        GROUP BY day""",
}
ROLLUPS = {
    "hourly": f"""
        SELECT hour, service_code, province_code, channel, online_level, submitted, synced, status_changes
        FROM {DB}.v_hourly""",
    "day_channel": f"""
        SELECT day, channel, online_level, sum(submitted), sum(synced), sumForEach(status_changes)
        FROM {DB}.agg_day_channel_partial FINAL
        GROUP BY day, channel, online_level""",
    "monthly": f"""
        SELECT month, service_code, province_code, channel, online_level,
               sum(submitted), sum(synced), sumForEach(status_changes)
        FROM {DB}.agg_month_partial FINAL
        GROUP BY month, service_code, province_code, channel, online_level""",
    "by_cell": f"""
        SELECT service_code, province_code, channel, online_level, submitted, synced, status_changes
        FROM {DB}.v_counts_by_cell""",
    "cumulative": f"SELECT day, synced, synced_online, submitted, submitted_online FROM {DB}.v_cumulative_daily",
}


def rows(client: Client, query: str) -> list[tuple]:
    return sorted(tuple(tuple(v) if isinstance(v, list) else v for v in row) for row in client.query(query).result_rows)


def assert_rollups_exact(client: Client, states: list[PartitionState] | None = None) -> None:
    for name, reference in REFERENCE.items():
        assert rows(client, ROLLUPS[name]) == rows(client, reference), name
    totals = client.query(f"SELECT submitted, synced, status_changes FROM {DB}.v_totals").first_row
    assert (
        totals
        == client.query(
            f"SELECT sum(submitted), sum(synced), arraySum(sumForEach(status_changes)) FROM {DB}.agg_day_partial FINAL"
        ).first_row
    )
    if states is not None:  # and the worker's own counters, hour by hour
        expected: dict[tuple, list[int]] = defaultdict(lambda: [0] * 12)
        for state in states:
            for (minute_s, *attributes), counters in state.minute_counters().items():
                key = (minute_s // 3600 * 3600, *attributes)
                expected[key] = [a + b for a, b in zip(expected[key], counters, strict=True)]
        got = {
            (int(hour.timestamp()), service, province, channel, level): [submitted, synced, *status]
            for hour, service, province, channel, level, submitted, synced, status in rows(client, ROLLUPS["hourly"])
        }
        assert {k: v for k, v in got.items() if any(v)} == {k: v for k, v in expected.items() if any(v)}


# -- events ---------------------------------------------------------------------------------------------


def event(record: str, kind: str, at_ms: int, *, status: int = 1, channel: int = 2, province: str = "79",
          service: str = "DV06", event_id: str | None = None) -> EventRow:  # fmt: skip
    return EventRow(
        event_id or f"{record}-{kind}-{status}", record, "1.001", service, province, "", "", channel, "full", kind,
        status, at_ms, None, None, "", False, next(SOURCES),
    )  # fmt: skip


def filing(record: str, at_ms: int, **attrs: object) -> list[EventRow]:
    return [
        event(record, "submitted", at_ms, **attrs),
        event(record, "status_changed", at_ms + 3 * MINUTE, status=2, **attrs),
        event(record, "synced", at_ms + 40 * MINUTE, status=9, **attrs),
    ]


# -- the write path's hard cases -------------------------------------------------------------------------


def test_a_flush_written_twice_changes_nothing(client: Client) -> None:
    writer = ClickHouseWriter(client, DB)
    state = PartitionState(partition=0)
    state.apply_message(0, filing("A", T0) + filing("B", T0 + 5 * MINUTE, channel=1))
    changes = state.take_changes()
    writer.write([changes])
    assert_rollups_exact(client, [state])
    writer.write([changes])  # the same flush again (a retried write, a replay that ends where the first did)
    assert_rollups_exact(client, [state])
    assert client.query(f"SELECT submitted, synced FROM {DB}.v_totals").first_row == (2, 2)


def test_a_newer_version_replaces_a_cell_in_every_rollup(client: Client) -> None:
    """A count moves to an earlier cell (another hour, day and month): the later cell is rewritten with zeros."""
    writer = ClickHouseWriter(client, DB)
    state = PartitionState(partition=0)
    state.apply_message(0, [event("A", "submitted", T0 + 20 * MINUTE, event_id="A-late-submission")])
    writer.write([state.take_changes()])
    assert_rollups_exact(client, [state])
    # an earlier submitted event of the same record, before the hour, day and month boundary
    state.apply_message(1, [event("A", "submitted", T0 - 5 * MINUTE, event_id="A-first-submission")])
    writer.write([state.take_changes()])
    assert_rollups_exact(client, [state])
    by_month = rows(client, f"SELECT month, sum(submitted) FROM {DB}.agg_month_partial FINAL GROUP BY month")
    assert [(str(month), n) for month, n in by_month] == [("2025-08-01", 1), ("2025-09-01", 0)]


def test_a_crashed_flush_then_its_replay(client: Client) -> None:
    """Rows of a flush whose checkpoint never landed (V1), then a replay that flushes at V2 < V1 and V3 > V1."""
    messages = [filing(f"R{n}", T0 + n * 7 * MINUTE, channel=1 + n % 3) for n in range(12)]
    messages.append([event("R3", "submitted", T0 - 30 * MINUTE, event_id="R3-earlier")])  # moves R3's count
    writer = ClickHouseWriter(client, DB)
    crashed = PartitionState(partition=2)
    for offset, events in enumerate(messages[:6]):
        crashed.apply_message(offset, events)
    writer.write([crashed.take_changes()])  # checkpoint 5: durable
    for offset, events in enumerate(messages[6:10], start=6):
        crashed.apply_message(offset, events)
    writer.write([crashed.take_changes()])  # V1 = 9: "crashes" after this write
    assert_rollups_exact(client, [crashed])
    # R0, R1 before 17:00 UTC (Vietnam's 1 September), R2..R9 after: 10 filings, all synced
    assert submitted_by_month(client) == [("2025-08-01", 2), ("2025-09-01", 8)]
    assert client.query(f"SELECT submitted, synced, status_changes FROM {DB}.v_totals").first_row == (10, 10, 10)

    replay = PartitionState(partition=2)
    for offset, events in enumerate(messages[:6]):
        replay.apply_message(offset, events)
    replay.take_changes()  # the restored state at the checkpoint (5): nothing dirty
    replay.apply_message(6, messages[6])
    replay.apply_message(7, messages[7])
    writer.write([replay.take_changes()])  # V2 = 7 < V1: older versions than rows already there
    assert_rollups_exact(client)
    assert submitted_by_month(client) == [("2025-08-01", 2), ("2025-09-01", 8)]  # still V1's rows: correct
    for offset in range(8, len(messages)):
        replay.apply_message(offset, messages[offset])
    writer.write([replay.take_changes()])  # V3 = 12 > V1
    assert_rollups_exact(client, [replay])
    # 12 filings; R3's count moved to 16:20 UTC, 31 August in Vietnam
    assert submitted_by_month(client) == [("2025-08-01", 3), ("2025-09-01", 9)]
    assert client.query(f"SELECT submitted, synced, status_changes FROM {DB}.v_totals").first_row == (12, 12, 12)
    hour_16 = f"SELECT sum(submitted) FROM {DB}.v_hourly WHERE hour = toDateTime('2025-08-31 16:00:00', 'UTC')"
    assert client.query(hour_16).first_row == (3,)


def submitted_by_month(client: Client) -> list[tuple[str, int]]:
    by_month = rows(client, f"SELECT month, sum(submitted) FROM {DB}.agg_month_partial FINAL GROUP BY month")
    return [(str(month), n) for month, n in by_month]


def test_a_late_rewrite_of_an_old_cell(client: Client) -> None:
    """Five days after a day was written (and four later days on top of it), an earlier submitted event of one
    of its records moves that record's count one more day back: an old day cell is rewritten and a new one
    appears, in every rollup above them."""
    writer = ClickHouseWriter(client, DB)
    state = PartitionState(partition=1)
    old = T0 - 5 * DAY + 2 * HOUR  # 26 August 18:50 UTC: 27 August in Vietnam
    state.apply_message(0, filing("L1", old) + filing("L2", old + MINUTE) + filing("L3", old + 2 * MINUTE))
    writer.write([state.take_changes()])
    for k in range(1, 5):  # one filing a day, 28..31 August in Vietnam, each its own flush
        state.apply_message(k, filing(f"K{k}", old + k * DAY))
        writer.write([state.take_changes()])
    daily = f"SELECT toString(day), submitted, synced, synced_all_time FROM {DB}.v_cumulative_daily"
    assert rows(client, daily) == [
        ("2025-08-27", 3, 3, 3), ("2025-08-28", 1, 1, 4), ("2025-08-29", 1, 1, 5), ("2025-08-30", 1, 1, 6),
        ("2025-08-31", 1, 1, 7),
    ]  # fmt: skip
    state.apply_message(5, [event("L2", "submitted", old - DAY, event_id="L2-earlier")])  # 26 August in Vietnam
    writer.write([state.take_changes()])
    assert_rollups_exact(client, [state])
    assert rows(client, daily) == [
        ("2025-08-26", 1, 0, 0), ("2025-08-27", 2, 3, 3), ("2025-08-28", 1, 1, 4), ("2025-08-29", 1, 1, 5),
        ("2025-08-30", 1, 1, 6), ("2025-08-31", 1, 1, 7),
    ]  # fmt: skip
    assert submitted_by_month(client) == [("2025-08-01", 7)]
    by_cell = f"SELECT submitted, synced FROM {DB}.v_counts_by_cell"
    assert rows(client, by_cell) == [(7, 7)]


def test_partitions_interleaved_in_one_insert_and_across_inserts(client: Client) -> None:
    writer = ClickHouseWriter(client, DB)
    states = [PartitionState(partition=p) for p in range(3)]
    for round_ in range(4):
        for p, state in enumerate(states):  # the same cells in every partition
            at = T0 + round_ * 11 * MINUTE
            state.apply_message(round_, filing(f"P{p}-{round_}", at, province="01" if round_ % 2 else "79"))
        if round_ % 2:
            writer.write([state.take_changes() for state in states])  # one insert for all partitions
        else:
            for state in reversed(states):
                writer.write([state.take_changes()])
        assert_rollups_exact(client, states)


def test_the_migration_fills_the_coarse_cells_from_what_was_stored(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A database written before 0012 (with 0006's rollups): the coarse cells are filled from the minute and day
    cells, and the worker's flushes carry on from them."""
    import clickhouse_connect

    engine = clickhouse_connect.get_client(dsn=f"chdb://{tmp_path / 'chdb'}")
    try:
        engine.command(f"CREATE DATABASE IF NOT EXISTS {DB}")
        before = [m for m in available() if m.version < 12]
        for migration in before:
            for statement in migration.statements(DB):
                engine.command(statement)
        states = [PartitionState(partition=p) for p in range(2)]
        for p, state in enumerate(states):
            state.apply_message(0, filing(f"M{p}", T0 + p * MINUTE) + filing(f"N{p}", T0 - 3 * DAY, channel=3))
        changes = [state.take_changes() for state in states]
        for change in changes:  # what a worker before 0012 wrote: minute and day cells
            change.cells = {grain: cells for grain, cells in change.cells.items() if grain in ("minute", "day")}
        ClickHouseWriter(engine, DB).write(changes)
        engine.command(f"CREATE TABLE IF NOT EXISTS {DB}.schema_migrations (version UInt32, name String, "
                       "checksum String, applied_at DateTime64(3, 'UTC') DEFAULT now64(3)) "
                       "ENGINE = ReplacingMergeTree ORDER BY version")  # fmt: skip
        engine.insert(f"{DB}.schema_migrations", [[m.version, m.name, m.checksum] for m in before],
                      ["version", "name", "checksum"])  # fmt: skip
        applied = migrate(engine, DB)
        assert [m.version for m in applied] == [12]
        assert_rollups_exact(engine, states)
        # and flushes after the migration carry on from the filled rollups
        states[0].apply_message(1, [event("M0", "status_changed", T0 + 9 * MINUTE, status=4)])
        ClickHouseWriter(engine, DB).write([states[0].take_changes()])
        assert_rollups_exact(engine, states)
    finally:
        engine.close()


@pytest.mark.parametrize("minutes_ago", [0, 5, 59, 61, 119, 600, 1439, 1441])
def test_rolling_rates_equal_the_minute_sums(client: Client, minutes_ago: int) -> None:
    """v_online_rate_rolling reads whole hours for its 24-hour window: the same rows as summing v_minute."""
    import time

    now_ms = int(time.time() * 1000)
    state = PartitionState(partition=0)
    events = [event(f"W{n}", "submitted", now_ms - (minutes_ago + n * 37) * MINUTE, channel=1 + n % 3,
                    province=("01", "79", "92")[n % 3]) for n in range(60)]  # fmt: skip
    state.apply_message(0, events)
    ClickHouseWriter(client, DB).write([state.take_changes()])
    old_definition = f"""
        SELECT w.2 AS window, service_code, province_code,
               sumIf(submitted, channel = 2 AND online_level IN ('full', 'partial')) AS online,
               sumIf(submitted, channel = 1 AND online_level IN ('full', 'partial')) AS in_person,
               sumIf(submitted, channel = 3) AS postal
        FROM {DB}.v_minute
        ARRAY JOIN [(15, '15m'), (60, '1h'), (1440, '24h')] AS w
        WHERE minute >= now() - INTERVAL 1440 MINUTE AND minute >= now() - toIntervalMinute(w.1) AND minute <= now()
        GROUP BY GROUPING SETS ((window, service_code, province_code), (window, province_code), (window, service_code),
                                (window))"""  # fmt: skip
    view = f"SELECT window, service_code, province_code, online, in_person, postal FROM {DB}.v_online_rate_rolling"
    for _ in range(3):  # now() moves: compare within one second
        started = int(time.time())
        expected, got = rows(client, old_definition), rows(client, view)
        if int(time.time()) == started:
            break
    assert got == expected


def test_partitions_flushed_at_the_same_time(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Two writers (one per partition, as two workers) flush the same hours, days and cells at the same moment,
    through a gateway that runs both inserts at once: each partition's rows are its own, so neither insert
    depends on the other.

    Expected: 2 partitions x 24 rounds x 2 filings = 96 submitted and 96 synced, every rollup equal to FINAL.
    """
    import threading

    import clickhouse_connect

    from dvcpulse.sinks.chdb_server import ChdbServer

    server = ChdbServer(tmp_path / "chdb", max_concurrency=2)
    server.start()
    try:
        clients = [clickhouse_connect.get_client(dsn=server.url) for _ in range(2)]
        migrate(clients[0], DB)
        states = [PartitionState(partition=p) for p in range(2)]
        writers = [ClickHouseWriter(c, DB) for c in clients]
        for round_ in range(24):
            barrier = threading.Barrier(2)
            failures: list[BaseException] = []

            def flush(
                p: int, round_: int = round_, barrier: threading.Barrier = barrier,
                failures: list[BaseException] = failures,
            ) -> None:  # fmt: skip
                state = states[p]
                at = T0 + (round_ % 6) * 7 * MINUTE  # the same minutes, hours and days in both partitions
                state.apply_message(round_, filing(f"C{p}-{round_}", at) + filing(f"D{p}-{round_}", at, channel=1))
                changes = state.take_changes()
                barrier.wait()
                try:
                    writers[p].write([changes])
                except BaseException as error:  # pragma: no cover - reported below
                    failures.append(error)

            threads = [threading.Thread(target=flush, args=(p,)) for p in range(2)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert not failures, failures
        assert_rollups_exact(clients[0], states)
        totals = clients[0].query(f"SELECT submitted, synced FROM {DB}.v_totals").first_row
        assert totals == (96, 96)
        for c in clients:
            c.close()
    finally:
        server.stop()
