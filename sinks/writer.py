"""The ClickHouse sink: batch writes of partition changes, and the partition history a restore reads back.

Order of a flush, per batch: history (and re-sends), aggregates, then the partition checkpoints. A crash
between steps leaves rows whose values are correct for their version; the replay from the last checkpoint
rewrites the same values (see sinks/SCHEMA.md for the argument). A restore reads the history and re-send
rows up to the checkpoint (`read_partition`); the worker replays them through its counting code. What goes
in and what comes back is defined in dvcpulse.sinks.contract.

ClickHouse refuses an INSERT block whose rows fall in more table partitions than
`max_partitions_per_insert_block` (default 100). A backfill of several years can put more month partitions
than that in one flush, so an insert whose rows span more than `partition_limit` partitions is split into
several inserts, in sequence, each within the limit (`partition_groups`). Each row's partition is computed
here exactly as the table's PARTITION BY does (`PARTITION_KEYS`). The common case (a flush within a month
or two) is checked on the min and max of the partition column and sent as one insert.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import astuple
from datetime import UTC, datetime
from operator import itemgetter
from zoneinfo import ZoneInfo

from clickhouse_connect.driver.client import Client

from dvcpulse.sinks.contract import (
    CELL_TABLES,
    ChangedCells,
    Changes,
    Checkpoint,
    EventRow,
    PartitionHistory,
    RestoredEvent,
    StoredCell,
)

# EventRow's trailing 766 facts (migration 0010), named as their columns
INDEX_766_COLUMNS = EventRow._fields[EventRow._fields.index("source") + 1 :]
EVENT_COLUMNS = [
    "event_id", "record_id", "procedure_code", "service_code", "province_code", "province_code_original",
    "agency_code", "channel", "online_level", "event_type", "status", "event_time", "due_date", "paid_online",
    "applicant_hash", "is_late", "source", *INDEX_766_COLUMNS, "kafka_partition", "kafka_offset", "processed_at",
]  # the EventRow fields in order, then where and when it was applied
AGG_COLUMNS = [
    "service_code", "province_code", "channel", "online_level", "kafka_partition", "version",
    "submitted", "synced", "status_changes", "prev_version", "changed_at", "prev_submitted", "prev_synced",
    "prev_status_changes",
]
RESEND_COLUMNS = ["kafka_partition", "record_id", "source", "kafka_offset"]  # the partition, then a Resend
CHECKPOINT_COLUMNS = [
    "kafka_partition", "version", "watermark", "processed", "duplicates", "late", "clock", "updated_at", "layout",
]  # the Checkpoint fields in order between the partition and updated_at (`version` is the partition offset)
LAYOUT = 2  # checkpoints.layout: offsets are events-topic offsets (migration 0004)
WORKER_STATS_COLUMNS = ["at", "worker", "topic", "partition", "position", "end_offset", "lag"]
DEAD_LETTER_COLUMNS = [
    "source_topic", "source_partition", "source_offset", "item_index", "reason", "errors", "raw", "received_at",
]


# Time columns are written as integers in the column's own unit (DateTime64(3): ms, DateTime: s,
# Date: days), which clickhouse-connect passes through without per-value datetime conversion.
def _now_ms() -> int:
    return int(datetime.now(tz=UTC).timestamp() * 1000)


_LOW_CARDINALITY = re.compile(r"^LowCardinality\((.*)\)$")

# -- table partitions -------------------------------------------------------------------------------
SAFE_PARTITIONS_PER_INSERT = 90  # below ClickHouse's default max_partitions_per_insert_block (100)
_VIETNAM_OFFSET_MS = 7 * 3_600_000
_VIETNAM_FIXED_SINCE_MS = 189_302_400_000  # 1976-01-01T00:00:00Z: UTC+7 since 1975-06-13, before that tzdata


def _month(year: int, month: int) -> int:
    """A month as one ordinal (consecutive months are consecutive integers); year * 100 + month in ClickHouse."""
    return year * 12 + month - 1


def _utc_month_of_seconds(seconds: int) -> int:
    """toYYYYMM(minute) of a DateTime('UTC') sent as epoch seconds."""
    t = time.gmtime(seconds)
    return _month(t.tm_year, t.tm_mon)


def _vietnam_month_of_ms(ms: int) -> int:
    """toYYYYMM(event_time, 'Asia/Ho_Chi_Minh') of a DateTime64(3, 'UTC') sent as epoch milliseconds."""
    if ms >= _VIETNAM_FIXED_SINCE_MS:
        t = time.gmtime((ms + _VIETNAM_OFFSET_MS) // 1000)
        return _month(t.tm_year, t.tm_mon)
    local = datetime.fromtimestamp(ms // 1000, tz=ZoneInfo("Asia/Ho_Chi_Minh"))  # before 1976 only
    return _month(local.year, local.month)


def _utc_year_of_seconds(seconds: int) -> int:
    """toYear(hour) of a DateTime('UTC') sent as epoch seconds."""
    return time.gmtime(seconds).tm_year


_EPOCH_ORDINAL = datetime(1970, 1, 1).toordinal()


def _year_of_days(days: int) -> int:
    """toYear(day) of a Date sent as days since 1970-01-01."""
    return datetime.fromordinal(_EPOCH_ORDINAL + days).year


# table -> (column, the partition of a value as sent): each table's PARTITION BY (sinks/migrations), as an
# ordinal that never decreases as the column's value grows, and whose consecutive partitions are consecutive
# integers, so max - min + 1 bounds the partitions of an insert. Tables absent here (checkpoints,
# dead_letters, worker_stats) have no PARTITION BY; tests/sinks/test_writer_backfill.py checks this
# against system.tables.
PARTITION_KEYS: dict[str, tuple[str, Callable[[object], int]]] = {
    "events": ("event_time", _vietnam_month_of_ms),  # toYYYYMM(event_time, 'Asia/Ho_Chi_Minh')
    "resends": ("kafka_partition", int),  # kafka_partition
    "agg_minute_partial": ("minute", _utc_month_of_seconds),  # toYYYYMM(minute), DateTime('UTC')
    "agg_hour_partial": ("hour", _utc_year_of_seconds),  # toYear(hour), DateTime('UTC')
    "agg_day_partial": ("day", _year_of_days),  # toYear(day)
    "agg_month_partial": ("month", _year_of_days),  # toYear(month)
    "agg_day_channel_partial": ("day", _year_of_days),  # toYear(day)
}


def partition_groups(keys: Sequence[int], limit: int) -> list[list[int]]:
    """Row indices grouped so that no group holds more than `limit` distinct keys.

    Whole partitions go to one group (a row and its replacement never part), groups follow the key order,
    and within a group the rows keep their order. One group when the keys are `limit` or fewer.
    """
    distinct = sorted(set(keys))
    if len(distinct) <= limit:
        return [list(range(len(keys)))]
    group_of = {key: position // limit for position, key in enumerate(distinct)}
    groups: list[list[int]] = [[] for _ in range(-(-len(distinct) // limit))]
    for index, key in enumerate(keys):
        groups[group_of[key]].append(index)
    return groups


def _take(column: Sequence, indices: list[int]) -> list:
    if len(indices) == 1:
        return [column[indices[0]]]
    return list(itemgetter(*indices)(column))


class RetiredLayout(RuntimeError):
    """The partition's checkpoint counts offsets of a topic this version no longer reads."""


class ClickHouseWriter:
    """The worker's sink (dvcpulse.sinks.contract.PartitionSink) on ClickHouse. One per worker process."""

    def __init__(self, client: Client, database: str):
        self.client = client
        self.db = database
        self._types: dict[tuple[str, tuple[str, ...]], list[str]] = {}
        self._partition_limit: int | None = None

    # -- writes -------------------------------------------------------------------------------------
    def write(self, batch: list[Changes]) -> None:
        now = _now_ms()
        self._write_history(batch, now)
        for grain, spec in CELL_TABLES.items():
            self._write_cells(spec.table, spec.time_column, [(c, c.cells[grain]) for c in batch if grain in c.cells])
        checkpoints = [(changes.partition, *astuple(changes.checkpoint), now, LAYOUT) for changes in batch]
        self._insert("checkpoints", CHECKPOINT_COLUMNS, checkpoints)

    def _insert(self, table: str, column_names: list[str], rows: list) -> None:
        if rows:
            self._insert_columns(table, column_names, list(zip(*rows, strict=True)))

    def _insert_columns(self, table: str, column_names: list[str], columns: list) -> None:
        """Column-oriented insert: clickhouse-connect then skips its per-value row-to-column pass.

        Split into several inserts, in sequence, when the rows span more table partitions than one INSERT
        block may touch (see the module docstring).
        """
        types = self._insert_types(table, column_names)
        for part in self._split_by_partition(table, column_names, columns):
            self.client.insert(
                f"{self.db}.{table}", part, column_names=column_names, column_type_names=types, column_oriented=True
            )

    def _split_by_partition(self, table: str, column_names: list[str], columns: list) -> list[list]:
        """The columns as one or more column sets, each within `partition_limit` table partitions."""
        spec = PARTITION_KEYS.get(table)
        if spec is None or not columns or not columns[0]:
            return [columns]
        name, partition_of = spec
        values = columns[column_names.index(name)]
        limit = self.partition_limit()
        if partition_of(max(values)) - partition_of(min(values)) < limit:  # the common case: no pass per row
            return [columns]
        groups = partition_groups([partition_of(value) for value in values], limit)
        if len(groups) == 1:
            return [columns]
        return [[_take(column, group) for column in columns] for group in groups]

    def partition_limit(self) -> int:
        """Table partitions one insert may touch: 90, or less if the server's max_partitions_per_insert_block is."""
        if self._partition_limit is None:
            found = self.client.query(
                "SELECT value FROM system.settings WHERE name = 'max_partitions_per_insert_block'"
            ).result_rows
            server = int(found[0][0]) if found else 0  # 0: no limit
            limit = SAFE_PARTITIONS_PER_INSERT
            self._partition_limit = min(limit, server) if server > 0 else limit
        return self._partition_limit

    def _insert_types(self, table: str, column_names: list[str]) -> list[str]:
        """The columns' types as sent, read from the table once (clickhouse-connect would ask on every insert).

        LowCardinality(T) is sent as T: ClickHouse converts it on insert, while clickhouse-connect's own
        LowCardinality encoding is a Python loop over every value.
        """
        key = (table, tuple(column_names))
        types = self._types.get(key)
        if types is None:
            declared = dict(
                self.client.query(
                    "SELECT name, type FROM system.columns WHERE database = {db:String} AND table = {t:String}",
                    parameters={"db": self.db, "t": table},
                ).result_rows
            )
            types = self._types[key] = [_LOW_CARDINALITY.sub(r"\1", declared[name]) for name in column_names]
        return types

    def _write_history(self, batch: list[Changes], now: int) -> None:
        resends = [(changes.partition, *resend) for changes in batch for resend in changes.resends]
        self._insert("resends", RESEND_COLUMNS, resends)
        events = [event for changes in batch for event, _ in changes.history]
        if not events:
            return
        columns = list(zip(*events, strict=True))
        columns.append([changes.partition for changes in batch for _ in changes.history])
        columns.append([offset for changes in batch for _, offset in changes.history])
        columns.append([now] * len(events))
        self._insert_columns("events", EVENT_COLUMNS, columns)

    def _write_cells(self, table: str, time_column: str, parts: list[tuple[Changes, ChangedCells]]) -> None:
        """Cumulative partition-local counters of the changed cells, stamped with the partition version, and
        what they were before this flush (sinks/SCHEMA.md, "State on demand")."""
        times: list[int] = []
        attributes: list[tuple] = []
        counters: list[tuple[int, ...]] = []
        partitions: list[int] = []
        versions: list[int] = []
        prev_versions: list[int] = []
        changed_at: list[int] = []
        previous: list[tuple[int, ...]] = []
        for changes, cells in parts:
            n = len(cells)
            times += cells.times
            attributes += cells.attributes
            counters += cells.counters
            partitions += [changes.partition] * n
            versions += [changes.offset] * n
            if len(cells.previous) == n:
                prev_versions += [changes.prev_version] * n
                changed_at += cells.changed_at
                previous += cells.previous
            else:  # nothing known of the values before: a row no reader takes a previous value from
                prev_versions += [0] * n
                changed_at += [0] * n
                previous += [(0,) * 12] * n
        if not times:
            return
        submitted, synced = [c[0] for c in counters], [c[1] for c in counters]
        status_changes = [c[2:] for c in counters]
        columns = [
            times, *zip(*attributes, strict=True), partitions, versions, submitted, synced, status_changes,
            prev_versions, changed_at, [c[0] for c in previous], [c[1] for c in previous], [c[2:] for c in previous],
        ]  # fmt: skip
        self._insert_columns(table, [time_column, *AGG_COLUMNS], columns)

    def write_worker_stats(self, rows: list[list]) -> None:
        self._insert("worker_stats", WORKER_STATS_COLUMNS, rows)

    def write_dead_letters(self, rows: list[list]) -> None:
        self._insert("dead_letters", DEAD_LETTER_COLUMNS, rows)

    # -- restore ------------------------------------------------------------------------------------
    def read_checkpoint(self, partition: int) -> Checkpoint | None:
        """The partition's checkpoint; None if never written."""
        found = self.client.query(
            f"SELECT version, toUnixTimestamp64Milli(watermark), processed, duplicates, late, "
            f"toUnixTimestamp64Milli(clock), layout FROM {self.db}.checkpoints FINAL "
            f"WHERE kafka_partition = {{p:UInt16}}",
            parameters={"p": partition},
        ).result_rows
        if not found:
            return None
        *values, layout = (int(value) for value in found[0])
        if layout != LAYOUT:
            raise RetiredLayout(
                f"partition {partition} of {self.db} was written by the records-topic pipeline (before migration "
                "0004); its state cannot be continued. Process the events again into a new database."
            )
        return Checkpoint(*values)

    def read_partition(self, partition: int, upto: int | None = None) -> PartitionHistory | None:
        """The partition's checkpoint, and the events and re-sends applied up to it (or up to `upto`); None if
        never written."""
        checkpoint = self.read_checkpoint(partition)
        if checkpoint is None:
            return None
        where = {"p": partition, "v": checkpoint.offset if upto is None else upto}
        events = self.client.query(
            f"SELECT event_id, record_id, service_code, province_code, channel, online_level, event_type, status, "
            f"toUnixTimestamp64Milli(event_time), is_late, source FROM {self.db}.events "
            f"WHERE kafka_partition = {{p:UInt16}} AND kafka_offset <= {{v:UInt64}}",
            parameters=where,
        ).result_rows
        resends = self.client.query(
            f"SELECT record_id, source FROM {self.db}.resends "
            f"WHERE kafka_partition = {{p:UInt16}} AND kafka_offset <= {{v:UInt64}}",
            parameters=where,
        ).result_rows
        return PartitionHistory(checkpoint, [RestoredEvent._make(row) for row in events], resends)

    def read_records(
        self, partition: int, record_ids: list[str], upto: int
    ) -> tuple[list[RestoredEvent], list[tuple[str, int]]]:
        """The history rows and re-sends of these records applied up to offset `upto` (rows beyond it are a
        crashed flush's tail or another worker's flush in flight), by the record_history index (0009)."""
        if not record_ids:
            return [], []
        where = {"p": partition, "v": upto, "ids": record_ids}
        events = self.client.query(
            f"SELECT event_id, record_id, service_code, province_code, channel, online_level, event_type, status, "
            f"toUnixTimestamp64Milli(event_time), is_late, source FROM {self.db}.record_history "
            f"WHERE kafka_partition = {{p:UInt16}} AND record_id IN {{ids:Array(String)}} "
            f"AND kafka_offset <= {{v:UInt64}}",
            parameters=where,
        ).result_rows
        found = sorted({row[1] for row in events})  # a record with a re-send has history rows: new ids need no more
        resends = []
        if found:
            resends = self.client.query(
                f"SELECT record_id, source FROM {self.db}.resends WHERE kafka_partition = {{p:UInt16}} "
                f"AND record_id IN {{ids:Array(String)}} AND kafka_offset <= {{v:UInt64}}",
                parameters={**where, "ids": found},
            ).result_rows
        return [RestoredEvent._make(row) for row in events], resends

    def read_cells(
        self, partition: int, grain: str, keys: list[tuple[object, ...]]
    ) -> dict[tuple[object, ...], StoredCell]:
        """The newest stored row of each cell (time, service, province, channel, online level) of a grain
        (CELL_TABLES: DateTime grains' time in epoch seconds, Date grains' in days since 1970)."""
        if not keys:
            return {}
        table, time_column, seconds_per_unit = CELL_TABLES[grain]
        if seconds_per_unit:
            as_int, of_int = f"toUnixTimestamp({time_column})", "toDateTime(t, 'UTC')"
        else:
            as_int, of_int = f"toUInt32(toUInt16({time_column}))", "addDays(toDate('1970-01-01'), t)"
        times, services, provinces, channels, levels = (list(column) for column in zip(*keys, strict=True))
        rows = self.client.query(
            f"SELECT {as_int}, service_code, province_code, channel, online_level, version, submitted, synced, "
            f"status_changes, prev_version, changed_at, prev_submitted, prev_synced, prev_status_changes "
            f"FROM {self.db}.{table} FINAL WHERE kafka_partition = {{p:UInt16}} "
            f"AND {time_column} IN (SELECT {of_int} FROM (SELECT arrayJoin({{times:Array(UInt32)}}) AS t)) "
            f"AND (toUInt32({as_int}), toString(service_code), toString(province_code), channel, "
            f"toString(online_level)) IN (SELECT arrayJoin(arrayZip({{times:Array(UInt32)}}, "
            f"{{s:Array(String)}}, {{pr:Array(String)}}, {{c:Array(UInt8)}}, {{l:Array(String)}})))",
            parameters={"p": partition, "times": times, "s": services, "pr": provinces, "c": channels, "l": levels},
        ).result_rows
        found = {}
        for at, service, province, channel, level, version, sub, syn, statuses, pv, ch, psub, psyn, pst in rows:
            counters = (int(sub), int(syn), *(int(x) for x in statuses))
            previous = (int(psub), int(psyn), *(int(x) for x in pst)) if pst else (0,) * len(counters)
            found[(int(at), service, province, int(channel), level)] = StoredCell(
                int(version), counters, int(pv), int(ch), previous
            )
        return found
