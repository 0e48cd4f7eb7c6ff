"""What the worker hands the sink and what the sink hands back: the sink's contract, in named columns.

A flush writes, per partition, one `Changes`: the events applied for the first time (`EventRow`, the events
table's columns in order, with the events-topic offset of the message that carried each), the re-sent ones,
the cells whose counters changed (cumulative partition-local values) and the partition's `Checkpoint`;
everything stamped with the partition's offset. A restore reads back a `PartitionHistory`: the checkpoint,
the events applied up to it (`RestoredEvent`, the columns counting needs) and the re-sends up to it.
The worker's state (dvcpulse.streams.state) produces the first and replays the second; this module knows
nothing of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple, Protocol


class EventRow(NamedTuple):
    """A validated event as the events table stores it (times as UTC epoch milliseconds)."""

    event_id: str
    record_id: str
    procedure_code: str
    service_code: str
    province_code: str
    province_code_original: str
    agency_code: str
    channel: int
    online_level: str
    event_type: str
    status: int
    event_time_ms: int
    due_date_ms: int | None
    paid_online: bool | None
    applicant_hash: str
    late: bool = False  # more than the lateness horizon before its message's timestamp (models.lateness)
    source: int = 0  # hash of (topic, partition, offset, index) it came from: tells a replay from a re-send
    # The optional Decision 766 facts (models.index_766_facts.INDEX_766_FIELDS, in that order); None: not stated.
    # Trailing and defaulted, so rows built without them (v1 events, tests, benches) stay valid.
    fee_required: bool | None = None
    requires_written_result: bool | None = None
    result_electronic: bool | None = None
    digitized_components: bool | None = None
    reused_data: bool | None = None
    personal_store: bool | None = None
    population_data: bool | None = None
    satisfaction_rating: str | None = None
    complaint: bool | None = None


class RestoredEvent(NamedTuple):
    """The columns of an applied event that counting needs, as a restore reads them back."""

    event_id: str
    record_id: str
    service_code: str
    province_code: str
    channel: int
    online_level: str
    event_type: str
    status: int
    event_time_ms: int
    late: bool
    source: int


Attributes = tuple[str, str, int, str]  # service, province, channel, online level


class CellTable(NamedTuple):
    """One grain of cells the worker keeps and writes: counters per (time unit, attributes, partition)."""

    table: str
    time_column: str
    seconds_per_unit: int  # a DateTime column: the unit's seconds (times sent as epoch seconds); 0: a Date column


# Every grain, finest first (migrations 0001 and 0012). The worker keeps each as a sum of the events in it, so
# what dashboards read at a coarse grain is written, not recomputed from finer rows. `day_channel` cells carry
# only channel and online level (service and province empty): the national running totals.
CELL_TABLES: dict[str, CellTable] = {
    "minute": CellTable("agg_minute_partial", "minute", 60),  # UTC minute
    "hour": CellTable("agg_hour_partial", "hour", 3600),  # UTC hour
    "day": CellTable("agg_day_partial", "day", 0),  # Vietnam calendar day
    "month": CellTable("agg_month_partial", "month", 0),  # first day of the Vietnam calendar month
    "day_channel": CellTable("agg_day_channel_partial", "day", 0),  # Vietnam day, channel and online level only
}


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A partition's progress: what was applied up to `offset`, and its clocks."""

    offset: int  # last applied events-topic offset
    newest_event_ms: int  # newest event time applied in the partition
    processed: int
    duplicates: int
    late: int
    newest_arrival_ms: int  # newest message timestamp (arrival) read from the partition; informational


@dataclass(slots=True)
class ChangedCells:
    """Changed cells of one table as columns, ready to insert (built without a Python object per value)."""

    times: list[int]  # DateTime grains: epoch seconds (UTC); Date grains: days since 1970 (CellTable)
    attributes: list[Attributes]
    counters: list[tuple[int, ...]]  # submitted, synced, then status changes for codes 1..10
    # the counters before this flush (true from Changes.prev_version) and the first offset of this flush that
    # changed each cell: a reader whose checkpoint lies between them reads `previous` (sinks/SCHEMA.md)
    previous: list[tuple[int, ...]] = field(default_factory=list)
    changed_at: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.times)

    def as_dict(self) -> dict[tuple[object, ...], tuple[int, ...]]:
        """{(time, *attributes): counters}: readable, for tests and tools."""
        return {(t, *a): c for t, a, c in zip(self.times, self.attributes, self.counters, strict=True)}


class Resend(NamedTuple):
    """An event id its record had already seen, arriving again from another source message."""

    record_id: str
    source: int
    offset: int  # events-topic offset of the message that carried it


@dataclass(slots=True)
class Changes:
    """What one flush writes for one partition, all stamped with `offset` (the partition's last offset)."""

    partition: int
    offset: int
    cells: dict[str, ChangedCells]  # grain (a CELL_TABLES key) -> its changed cells
    history: list[tuple[EventRow, int]]  # (event, events-topic offset)
    resends: list[Resend]
    checkpoint: Checkpoint
    prev_version: int = 0  # the offset of the partition's previous flush: the cells' `previous` held from it

    @property
    def minutes(self) -> ChangedCells:
        return self.cells["minute"]

    @property
    def days(self) -> ChangedCells:
        return self.cells["day"]


@dataclass(slots=True)
class PartitionHistory:
    """What a restore reads: the checkpoint and everything applied up to it, in no particular order."""

    checkpoint: Checkpoint
    events: list[RestoredEvent]
    resends: list[tuple[str, int]]  # (record id, source)


class StoredCell(NamedTuple):
    """A cell row as stored: its counters at `version`, and before that flush (see ChangedCells)."""

    version: int
    counters: tuple[int, ...]
    prev_version: int
    changed_at: int
    previous: tuple[int, ...]

    def as_of(self, offset: int) -> tuple[int, ...] | None:
        """The counters at `offset` (a checkpoint every flush up to which completed), or None when this row
        cannot tell (two flushes beyond it wrote the cell: read the history instead)."""
        if self.version <= offset:
            return self.counters
        if self.prev_version <= offset < self.changed_at:
            return self.previous
        return None


class PartitionSink(Protocol):
    """Where partition changes go and where a partition's history comes back from."""

    def write(self, batch: list[Changes]) -> None: ...

    def write_dead_letters(self, rows: list[list]) -> None: ...

    def write_worker_stats(self, rows: list[list]) -> None: ...

    def read_partition(self, partition: int, upto: int | None = None) -> PartitionHistory | None:
        """None for a partition never written; `upto`: the events and re-sends up to that offset instead of
        the checkpoint's."""
        ...

    def read_checkpoint(self, partition: int) -> Checkpoint | None: ...

    def read_records(
        self, partition: int, record_ids: list[str], upto: int
    ) -> tuple[list[RestoredEvent], list[tuple[str, int]]]:
        """The history rows and re-sends of these records with an offset up to `upto`."""
        ...

    def read_cells(
        self, partition: int, grain: str, keys: list[tuple[object, ...]]
    ) -> dict[tuple[object, ...], StoredCell]:
        """The stored rows (after replacement) of these cells of a grain (CELL_TABLES), keyed (time, *attributes)
        as ChangedCells."""
        ...
