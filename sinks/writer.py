"""Batch writes of partition changes to ClickHouse, and the partition restore that reads them back.

Order of a flush, per batch: history, aggregates, then record states with the partition checkpoint in
ONE insert (one table partition, one part: atomic). A crash between steps leaves rows whose values are
correct for their version; the replay from the last checkpoint rewrites the same values (see
sinks/SCHEMA.md for the argument).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import orjson
from clickhouse_connect.driver.client import Client

from streams.state import Changes, PartitionState

log = logging.getLogger(__name__)


EVENT_COLUMNS = [
    "event_id", "record_id", "procedure_code", "service_code", "province_code", "province_code_original",
    "agency_code", "channel", "online_level", "event_type", "status", "event_time", "due_date", "paid_online",
    "applicant_hash", "is_late", "kafka_partition", "kafka_offset", "processed_at",
]
AGG_COLUMNS = [
    "service_code", "province_code", "channel", "online_level", "kafka_partition", "version",
    "submitted", "synced", "status_changes",
]
STATE_COLUMNS = [
    "kafka_partition", "record_id", "version", "service_code", "province_code", "channel", "online_level",
    "submitted_at", "synced_at", "last_status", "last_event_time", "events_seen", "state", "watermark",
    "processed", "duplicates", "late", "updated_at",
]
WORKER_STATS_COLUMNS = ["at", "worker", "topic", "partition", "position", "end_offset", "lag"]
DEAD_LETTER_COLUMNS = [
    "source_topic", "source_partition", "source_offset", "item_index", "reason", "errors", "raw", "received_at",
]


# Time columns are written as integers in the column's own unit (DateTime64(3): ms, DateTime: s,
# Date: days), which clickhouse-connect passes through without per-value datetime conversion.
def _now_ms() -> int:
    return int(datetime.now(tz=UTC).timestamp() * 1000)


class ClickHouseWriter:
    """Writes partition changes and dead letters; restores partition state. One per worker process."""

    def __init__(self, client: Client, database: str):
        self.client = client
        self.db = database

    # -- writes -------------------------------------------------------------------------------------
    def write(self, batch: list[Changes]) -> None:
        now = _now_ms()
        self._write_history(batch, now)
        self._write_cells("agg_minute_partial", "minute", [(c, c.minutes) for c in batch])
        self._write_cells("agg_day_partial", "day", [(c, c.days) for c in batch])
        states = [row for changes in batch for row in self._state_rows(changes, now)]
        self._insert("record_state", STATE_COLUMNS, states)

    def _insert(self, table: str, column_names: list[str], rows: list) -> None:
        if rows:
            self._insert_columns(table, column_names, list(zip(*rows, strict=True)))

    def _insert_columns(self, table: str, column_names: list[str], columns: list) -> None:
        """Column-oriented insert: clickhouse-connect then skips its per-value row-to-column pass."""
        self.client.insert(f"{self.db}.{table}", columns, column_names=column_names, column_oriented=True)

    def _write_history(self, batch: list[Changes], now: int) -> None:
        events = [event for changes in batch for event, _ in changes.history]
        if not events:
            return
        columns = list(zip(*events, strict=True))[:-1]  # InternalEvent fields minus `source`
        columns.append([changes.partition for changes in batch for _ in changes.history])
        columns.append([offset for changes in batch for _, offset in changes.history])
        columns.append([now] * len(events))
        self._insert_columns("events", EVENT_COLUMNS, columns)

    def _write_cells(self, table: str, time_column: str, parts: list[tuple[Changes, dict]]) -> None:
        """Cumulative partition-local counters of the changed cells, stamped with the partition version."""
        rows = [
            (*cell, changes.partition, changes.version, c[0], c[1], c[2:])
            for changes, cells in parts
            for cell, c in cells.items()
        ]
        self._insert(table, [time_column, *AGG_COLUMNS], rows)

    def _state_rows(self, changes: Changes, now: int) -> list[list]:
        rows = []
        for record_id, record in changes.records.items():
            service, province, channel, level = record["a"]
            rows.append(
                [
                    changes.partition, record_id, changes.version, service, province, channel, level,
                    record["sub"][0] if record["sub"] else None,
                    record["syn"][0] if record["syn"] else None,
                    record["ls"], record["lt"], record["n"],
                    orjson.dumps(record).decode(), 0, 0, 0, 0, now,
                ]
            )
        cp = changes.checkpoint
        rows.append(
            [
                changes.partition, "", changes.version, "", "", 0, "", None, None, 0, 0, 0, "",
                cp.watermark_ms, cp.processed, cp.duplicates, cp.late, now,
            ]
        )
        return rows

    def write_worker_stats(self, rows: list[list]) -> None:
        self._insert("worker_stats", WORKER_STATS_COLUMNS, rows)

    def write_dead_letters(self, rows: list[list]) -> None:
        self._insert("dead_letters", DEAD_LETTER_COLUMNS, rows)

    # -- restore ------------------------------------------------------------------------------------
    def load_partition(self, partition: int) -> PartitionState:
        state = PartitionState(partition=partition)
        result = self.client.query(
            f"SELECT record_id, version, state, toUnixTimestamp64Milli(watermark), processed, duplicates, late "
            f"FROM {self.db}.record_state FINAL WHERE kafka_partition = {{p:UInt16}}",
            parameters={"p": partition},
        )
        for record_id, version, blob, watermark_ms, processed, duplicates, late in result.result_rows:
            if record_id == "":
                state.offset = int(version)
                state.watermark_ms = int(watermark_ms)
                state.processed, state.duplicates, state.late = int(processed), int(duplicates), int(late)
            else:
                state.restore_record(record_id, orjson.loads(blob))
        state.rebuild_aggregates()
        log.info(
            "restored partition %d at offset %d: %d records, %d minute counters",
            partition, state.offset, len(state.records), len(state.minutes),
        )  # fmt: skip
        return state
