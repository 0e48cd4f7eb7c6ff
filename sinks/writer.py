"""The ClickHouse sink: batch writes of partition changes, and the partition history a restore reads back.

Order of a flush, per batch: history (and re-sends), aggregates, then the partition checkpoints. A crash
between steps leaves rows whose values are correct for their version; the replay from the last checkpoint
rewrites the same values (see sinks/SCHEMA.md for the argument). A restore reads the history and re-send
rows up to the checkpoint (`read_partition`); the worker replays them through its counting code. What goes
in and what comes back is defined in dvcpulse.sinks.contract.
"""

from __future__ import annotations

import re
from dataclasses import astuple
from datetime import UTC, datetime

from clickhouse_connect.driver.client import Client

from dvcpulse.sinks.contract import ChangedCells, Changes, Checkpoint, PartitionHistory, RestoredEvent

EVENT_COLUMNS = [
    "event_id", "record_id", "procedure_code", "service_code", "province_code", "province_code_original",
    "agency_code", "channel", "online_level", "event_type", "status", "event_time", "due_date", "paid_online",
    "applicant_hash", "is_late", "source", "kafka_partition", "kafka_offset", "processed_at",
]  # the EventRow fields in order, then where and when it was applied
AGG_COLUMNS = [
    "service_code", "province_code", "channel", "online_level", "kafka_partition", "version",
    "submitted", "synced", "status_changes",
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


class RetiredLayout(RuntimeError):
    """The partition's checkpoint counts offsets of a topic this version no longer reads."""


class ClickHouseWriter:
    """The worker's sink (dvcpulse.sinks.contract.PartitionSink) on ClickHouse. One per worker process."""

    def __init__(self, client: Client, database: str):
        self.client = client
        self.db = database
        self._types: dict[tuple[str, tuple[str, ...]], list[str]] = {}

    # -- writes -------------------------------------------------------------------------------------
    def write(self, batch: list[Changes]) -> None:
        now = _now_ms()
        self._write_history(batch, now)
        self._write_cells("agg_minute_partial", "minute", [(c, c.minutes) for c in batch])
        self._write_cells("agg_day_partial", "day", [(c, c.days) for c in batch])
        checkpoints = [(changes.partition, *astuple(changes.checkpoint), now, LAYOUT) for changes in batch]
        self._insert("checkpoints", CHECKPOINT_COLUMNS, checkpoints)

    def _insert(self, table: str, column_names: list[str], rows: list) -> None:
        if rows:
            self._insert_columns(table, column_names, list(zip(*rows, strict=True)))

    def _insert_columns(self, table: str, column_names: list[str], columns: list) -> None:
        """Column-oriented insert: clickhouse-connect then skips its per-value row-to-column pass."""
        types = self._insert_types(table, column_names)
        self.client.insert(
            f"{self.db}.{table}", columns, column_names=column_names, column_type_names=types, column_oriented=True
        )

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
        """Cumulative partition-local counters of the changed cells, stamped with the partition version."""
        times: list[int] = []
        attributes: list[tuple] = []
        counters: list[tuple[int, ...]] = []
        partitions: list[int] = []
        versions: list[int] = []
        for changes, cells in parts:
            times += cells.times
            attributes += cells.attributes
            counters += cells.counters
            partitions += [changes.partition] * len(cells)
            versions += [changes.offset] * len(cells)
        if not times:
            return
        submitted, synced = [c[0] for c in counters], [c[1] for c in counters]
        status_changes = [c[2:] for c in counters]
        columns = [times, *zip(*attributes, strict=True), partitions, versions, submitted, synced, status_changes]
        self._insert_columns(table, [time_column, *AGG_COLUMNS], columns)

    def write_worker_stats(self, rows: list[list]) -> None:
        self._insert("worker_stats", WORKER_STATS_COLUMNS, rows)

    def write_dead_letters(self, rows: list[list]) -> None:
        self._insert("dead_letters", DEAD_LETTER_COLUMNS, rows)

    # -- restore ------------------------------------------------------------------------------------
    def read_partition(self, partition: int) -> PartitionHistory | None:
        """The partition's checkpoint, and the events and re-sends applied up to it; None if never written."""
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
        checkpoint = Checkpoint(*values)
        where = {"p": partition, "v": checkpoint.offset}
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
