"""Partition-local processing state: the one place where counting rules live.

Rules (see README "Counting rules"):
- an event id seen before in its record changes nothing (duplicates);
- a record counts as submitted once, in the cell of its first submitted event by (event_time, event_id),
  and as synced once, in the cell of its first synced event; an earlier event arriving later moves the
  count (retraction), whatever the arrival order;
- every distinct status_changed event counts once, in its own cell, by its status;
- an event is late when its time is more than the horizon before its arrival, the timestamp of the Kafka
  message that brought it (models.lateness; judged in streams.ingest where the event is first read, and
  carried with it when forwarded). A late event is kept in history, counted as late, and changes no
  aggregate.

All of this is a deterministic function of the partition's messages in offset order, which is what makes
replays after a crash rewrite exactly the same rows. It is also a function of the SET of applied events and
re-sent sources (no rule depends on arrival order; the first applied copy of an event carries its lateness
judgement, see sinks/SCHEMA.md), so a
partition is restored by replaying its history rows and re-send rows from ClickHouse, in any order
(`restore`).

Representation: a partition holds hundreds of thousands of records, so per-record state is one flat tuple
of atoms (bytes, ints, strings) and cells are integers. Such tuples cost a fraction of the memory of
objects with lists, and Python's cyclic garbage collector stops tracking them. The per-record summary for
analysts (attributes, last status, ...) is not kept here: ClickHouse derives it from the history
(sinks/migrations/0003_state_from_history.sql).
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field
from datetime import date

from dvcpulse.seeds.reference import VIETNAM_UTC_OFFSET_SECONDS
from dvcpulse.sinks.contract import (
    CELL_TABLES,
    Attributes,
    ChangedCells,
    Changes,
    Checkpoint,
    EventRow,
    PartitionHistory,
    Resend,
    RestoredEvent,
)

# A cell, readable: (time, service, province, channel, online level); the time as its table is sent
# (sinks.contract.CELL_TABLES): a minute or hour as epoch seconds UTC, a Vietnam day or month (its first day)
# as days since 1970-01-01.
Cell = tuple[int, str, str, int, str]

SUBMITTED, SYNCED = 0, 1
COUNTERS = 12  # submitted, synced, status changes for codes 1..10

# Cell keys: the grain's time (epoch minute or hour; Vietnam day, or first day of the month, as days since
# 1970) << ATTR_BITS | attributes id.
ATTR_BITS = 20
ATTR_MASK = (1 << ATTR_BITS) - 1
# A cell's counters packed in one integer, COUNTER_BITS each (index 0 lowest): a bump is one addition, and
# a cell with one non-zero counter costs a small int instead of a 12-tuple. Counts never go negative.
COUNTER_BITS = 32
COUNTER_MASK = (1 << COUNTER_BITS) - 1

# A record: one tuple, replaced on every change: 8-byte digests of its event ids and of the source messages
# applied, its first submitted and first synced events (`First`), and its status events as 8-byte big-endian
# cell key << 4 | status.
SEEN, SOURCES, FIRST_SUBMITTED, FIRST_SYNCED, STATUSES = range(5)
# A first event as one bytes object (a third of the memory of a tuple of int, str and int): its event time in
# ms as 8 big-endian bytes (never negative: FilingEvent starts at 1970), its event id in UTF-8, then its cell
# key (8 bytes). All but the last 8 bytes order exactly as (event_time, event_id): UTF-8 keeps code point order.
First = bytes | None
Record = tuple[bytes, bytes, First, First, bytes]
EMPTY_RECORD: Record = (b"", b"", None, None, b"")


def first_event(first: bytes) -> tuple[int, str, int]:
    """(event_time_ms, event_id, cell key) of a `First`."""
    return int.from_bytes(first[:8], "big"), first[8:-8].decode(), int.from_bytes(first[-8:], "big")


def event_digest(event_id: str) -> bytes:
    return hashlib.blake2b(event_id.encode(), digest_size=8).digest()


def _holds(digests: bytes, digest: bytes) -> bool:
    """Whether an 8-byte digest is one of the concatenated digests (matches at 8-byte boundaries only)."""
    at = digests.find(digest)
    while at >= 0:
        if at % 8 == 0:
            return True
        at = digests.find(digest, at + 1)
    return False


_COUNTERS_LAYOUT = struct.Struct(f"<{COUNTERS}I")  # COUNTER_BITS = 32: one little-endian uint32 each


_NO_COUNTS = (0,) * COUNTERS


def unpack_counts(packed: int) -> tuple[int, ...]:
    if not packed:
        return _NO_COUNTS  # (most cells a backfill's flush writes held nothing before it)
    return _COUNTERS_LAYOUT.unpack(packed.to_bytes(_COUNTERS_LAYOUT.size, "little"))


def pack_counts(counters: tuple[int, ...]) -> int:
    return int.from_bytes(_COUNTERS_LAYOUT.pack(*counters), "little")


def _day_number(minute: int) -> int:
    """The Vietnam calendar day (days since 1970) of an epoch minute."""
    return (minute * 60 + VIETNAM_UTC_OFFSET_SECONDS) // 86400


_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_MONTH_STARTS: dict[int, int] = {}  # Vietnam day -> the first day of its month (days since 1970)


def _month_start(day: int) -> int:
    found = _MONTH_STARTS.get(day)
    if found is None:
        if len(_MONTH_STARTS) > 100_000:  # decades of days: never grow without bound
            _MONTH_STARTS.clear()
        found = _MONTH_STARTS[day] = day - date.fromordinal(_EPOCH_ORDINAL + day).day + 1
    return found


# The time of each grain (CELL_TABLES order) of an epoch minute.
GRAIN_TIMES = {
    "minute": lambda minute: minute,
    "hour": lambda minute: minute // 60,
    "day": _day_number,
    "month": lambda minute: _month_start(_day_number(minute)),
    "day_channel": _day_number,
}
MINUTE, HOUR, DAY, MONTH, DAY_CHANNEL = range(5)  # positions in CELL_TABLES and PartitionState.levels
assert tuple(GRAIN_TIMES) == tuple(CELL_TABLES) == ("minute", "hour", "day", "month", "day_channel")


NOTHING_STORED = -(1 << 62)  # Cells.known_from of a partition started from nothing: no cell is ever read


class Cells:
    """One grain's cells (cell key -> packed counters), with what changed since the last flush and, for state on
    demand, when each was last touched and from which time on a cell not in memory holds nothing."""

    __slots__ = ("before", "grain", "known_from", "touch", "values")

    def __init__(self, grain: str) -> None:
        self.grain = grain
        self.values: dict[int, int] = {}
        # the cells changed since the last flush, with what they held before it: cell key -> (packed counters at
        # `taken_at`, the first offset after it that changed the cell); written beside them (sinks/SCHEMA.md)
        self.before: dict[int, tuple[int, int]] = {}
        self.touch: dict[int, int] = {}  # offset of the last flush that changed each cell (or its read), oldest first
        # Cells at or after this time that are not in memory hold nothing as of the durable offset (see
        # PartitionState.resume); such cells are taken as zero without a read.
        self.known_from = NOTHING_STORED


def _grains() -> tuple[Cells, ...]:
    return tuple(Cells(grain) for grain in CELL_TABLES)


@dataclass
class PartitionState:
    partition: int
    offset: int = -1  # last applied events-topic offset
    newest_event_ms: int = 0  # newest event time applied
    newest_arrival_ms: int = 0  # newest message timestamp read from this partition; 0: none yet
    processed: int = 0
    duplicates: int = 0
    late: int = 0
    records: dict[str, Record] = field(default_factory=dict)
    levels: tuple[Cells, ...] = field(default_factory=_grains)  # one per grain, CELL_TABLES order
    attributes: list[Attributes] = field(default_factory=list)  # attributes id -> attributes
    attribute_ids: dict[Attributes, int] = field(default_factory=dict)
    channel_ids: list[int] = field(default_factory=list)  # attributes id -> id of ("", "", channel, level)
    grain_key_cache: dict[int, tuple[int, int, int, int, int]] = field(default_factory=dict)  # see grain_keys
    # changes since the last flush (the cells' own are in `levels`)
    history: list[tuple[EventRow, int]] = field(default_factory=list)  # (event, events-topic offset)
    resends: list[Resend] = field(default_factory=list)
    taken_at: int = -1  # the offset at the last take_changes (or restore)
    applying: int = -1  # offset of the message being applied
    # State on demand (`lazy`): records and cells not in memory are loaded, as of the durable checkpoint, before
    # a batch that needs them (streams.aggregate), and evicted when cold. Last offset that touched each record,
    # oldest first (a touch moves it to the end); the cells keep theirs (`Cells.touch`).
    lazy: bool = False
    # Every record stored as of the durable offset is in memory: true from a partition's very start (nothing
    # stored but what this state wrote, or what a previous owner wrote for messages it replays) until the first
    # eviction of a record; a record not in memory is then new, without a read.
    records_complete: bool = True
    record_touch: dict[str, int] = field(default_factory=dict)

    # -- counting ------------------------------------------------------------------------------------
    def apply_message(self, offset: int, events: list[EventRow]) -> bool:
        """Apply the events of one message of this partition (those its records own); False when the message
        was already applied (a replay)."""
        if offset <= self.offset:
            return False
        self.applying = offset
        for event in events:
            self._apply(event, offset)
        self.offset = offset
        return True

    def _attribute_id(self, attributes: Attributes) -> int:
        found = self.attribute_ids.get(attributes)
        if found is None:
            found = self.attribute_ids[attributes] = len(self.attributes)
            self.attributes.append(attributes)
        return found

    def _channel_id(self, attributes_id: int) -> int:
        """The attributes id of ("", "", channel, online level) of an attributes id: a `day_channel` cell's."""
        ids = self.channel_ids
        while len(ids) <= attributes_id:
            _, _, channel, level = self.attributes[len(ids)]
            ids.append(self._attribute_id(("", "", channel, level)))
        return ids[attributes_id]

    def grain_keys(self, cell: int) -> tuple[int, int, int, int, int]:
        """The keys of a minute cell's cells at every grain (CELL_TABLES order)."""
        found = self.grain_key_cache.get(cell)
        if found is None:
            if len(self.grain_key_cache) > 50_000:  # a live stream's recent minutes: never grow without bound
                self.grain_key_cache.clear()
            found = self.grain_key_cache[cell] = self._grain_keys(cell)
        return found

    def _grain_keys(self, cell: int) -> tuple[int, int, int, int, int]:
        attributes = cell & ATTR_MASK
        minute = cell >> ATTR_BITS
        day = _day_number(minute)
        return (
            cell,
            (minute // 60) << ATTR_BITS | attributes,
            day << ATTR_BITS | attributes,
            _month_start(day) << ATTR_BITS | attributes,
            day << ATTR_BITS | self._channel_id(attributes),
        )

    def _bump(self, cell: int, index: int, delta: int) -> None:
        step = delta << (COUNTER_BITS * index)
        applying = self.applying
        for cells, key in zip(self.levels, self.grain_keys(cell), strict=True):  # (inlined: the hot path)
            values = cells.values
            old = values.get(key, 0)
            values[key] = old + step
            before = cells.before
            if key not in before:
                before[key] = (old, applying)

    def _apply(self, event: EventRow | RestoredEvent, offset: int) -> None:
        record_id = event.record_id
        seen, sources, submitted, synced, statuses = self.records.get(record_id, EMPTY_RECORD)
        if self.lazy:
            self.record_touch.pop(record_id, None)
            self.record_touch[record_id] = offset
        source = event.source.to_bytes(8, "big")
        if _holds(sources, source):
            return  # the same source message again: our own replay after a crash, not a new arrival
        sources += source
        self.processed += 1
        digest = event_digest(event.event_id)
        if _holds(seen, digest):
            self.duplicates += 1  # re-sent by the portal
            self.resends.append(Resend(record_id, event.source, offset))
            self.records[record_id] = (seen, sources, submitted, synced, statuses)
            return
        seen += digest
        time_ms = event.event_time_ms
        self.history.append((event, offset))
        if time_ms > self.newest_event_ms:
            self.newest_event_ms = time_ms
        if event.late:
            self.late += 1
        else:
            attributes = (event.service_code, event.province_code, event.channel, event.online_level)
            cell = time_ms // 60000 << ATTR_BITS | self._attribute_id(attributes)
            if event.event_type == "status_changed":
                statuses += (cell << 4 | event.status).to_bytes(8, "big")
                self._bump(cell, 2 + event.status - 1, 1)
            else:
                order = time_ms.to_bytes(8, "big") + event.event_id.encode()
                if event.event_type == "submitted":
                    submitted = self._first(submitted, order, cell, SUBMITTED)
                else:
                    synced = self._first(synced, order, cell, SYNCED)
        self.records[record_id] = (seen, sources, submitted, synced, statuses)

    def _first(self, current: First, order: bytes, cell: int, index: int) -> First:
        """The earlier of the current first event and a candidate (its order bytes and cell) by (event_time,
        event_id); moves the count when the candidate wins."""
        if current is not None and current[:-8] <= order:
            return current
        if current is not None:
            self._bump(int.from_bytes(current[-8:], "big"), index, -1)  # an earlier event arrived late: move it
        self._bump(cell, index, 1)
        return order + cell.to_bytes(8, "big")

    def restore(self, history: PartitionHistory) -> None:
        """Rebuild the state at the history's checkpoint from the events applied up to it and the re-sends seen
        up to it (in any order: no rule depends on it), then take the checkpoint's counters."""
        checkpoint = history.checkpoint
        for event in history.events:
            self._apply(event, checkpoint.offset)
        for record_id, source in history.resends:
            seen, sources, submitted, synced, statuses = self.records[record_id]
            self.records[record_id] = (seen, sources + source.to_bytes(8, "big"), submitted, synced, statuses)
        self.offset, self.newest_event_ms = checkpoint.offset, checkpoint.newest_event_ms
        self.newest_arrival_ms = checkpoint.newest_arrival_ms
        self.processed, self.duplicates, self.late = checkpoint.processed, checkpoint.duplicates, checkpoint.late
        for cells in self.levels:
            cells.before.clear()
        self.taken_at = checkpoint.offset
        self.history, self.resends = [], []

    # -- state on demand -----------------------------------------------------------------------------
    def resume(self, checkpoint: Checkpoint | None) -> None:
        """Start from a checkpoint alone: records and cells are loaded when a batch needs them."""
        self.lazy = True
        if checkpoint is not None:
            self.offset, self.newest_event_ms = checkpoint.offset, checkpoint.newest_event_ms
            self.newest_arrival_ms = checkpoint.newest_arrival_ms
            self.processed, self.duplicates = checkpoint.processed, checkpoint.duplicates
            self.late = checkpoint.late
            self.records_complete = False
            newest_minute = checkpoint.newest_event_ms // 60000
            for cells in self.levels:  # every stored cell is at or before the newest event's, at every grain
                cells.known_from = GRAIN_TIMES[cells.grain](newest_minute) + 1
        self.taken_at = self.offset

    def missing_records(self, messages: list[tuple[int, list[EventRow]]]) -> list[str]:
        """Records the messages (offset, events) touch that are not in memory."""
        if self.records_complete:
            return []
        records = self.records
        wanted = {e.record_id for offset, events in messages if offset > self.offset for e in events}
        return sorted(r for r in wanted if r not in records)

    def install_records(self, events: list[RestoredEvent], resends: list[tuple[str, int]], durable: int) -> None:
        """Take the state of records not in memory from their history rows and re-sends up to `durable` (the
        checkpoint): what the restore does for a whole partition, for these records only, without their
        cells (which are loaded as stored)."""
        scratch = PartitionState(
            self.partition, attributes=self.attributes, attribute_ids=self.attribute_ids, channel_ids=self.channel_ids
        )
        history = PartitionHistory(Checkpoint(durable, 0, 0, 0, 0, 0), events, resends)
        scratch.restore(history)
        touch = self.record_touch
        for record_id, record in scratch.records.items():
            if record_id not in self.records:
                self.records[record_id] = record
                touch[record_id] = durable

    def missing_cells(self, messages: list[tuple[int, list[EventRow]]]) -> list[list[int]]:
        """Cells of each grain (CELL_TABLES order) the messages may change that are not in memory and must be
        read: at every grain, those above each on-time event's own minute cell, and above the minute cell of
        its record's first submitted (synced) event when it is a submitted (synced) event earlier than that
        one (the count moves from there). The records must be in memory. Cells known to hold nothing (see
        `Cells.known_from`) are taken as zero here instead."""
        if self._all_cells_known(messages):
            return [[] for _ in self.levels]
        minutes: set[int] = set()
        for offset, events in messages:
            if offset <= self.offset:
                continue
            for event in events:
                if event.late:
                    continue  # changes no cell
                kind = event.event_type
                record = self.records.get(event.record_id)
                if record is not None and kind != "status_changed":
                    first = record[FIRST_SUBMITTED if kind == "submitted" else FIRST_SYNCED]
                    order = event.event_time_ms.to_bytes(8, "big") + event.event_id.encode()
                    if first is not None and order < first[:-8]:
                        minutes.add(int.from_bytes(first[-8:], "big"))  # an earlier first: its count moves here
                attributes = (event.service_code, event.province_code, event.channel, event.online_level)
                minutes.add(event.event_time_ms // 60000 << ATTR_BITS | self._attribute_id(attributes))
        keys: list[set[int]] = [set() for _ in self.levels]
        for cell in minutes:
            for grain, key in zip(keys, self.grain_keys(cell), strict=True):
                grain.add(key)
        return [self._known_or_read(wanted, cells) for wanted, cells in zip(keys, self.levels, strict=True)]

    def _all_cells_known(self, messages: list[tuple[int, list[EventRow]]]) -> bool:
        """Whether every cell the messages may change is known without a read, at every grain: none is before
        its event's time (a count moves only from a later first event to an earlier one), grain times never
        decrease with it, and cells from `known_from` on that are not in memory hold nothing."""
        levels = self.levels
        if all(cells.known_from == NOTHING_STORED for cells in levels):
            return True
        oldest = min(
            (e.event_time_ms for offset, events in messages if offset > self.offset for e in events if not e.late),
            default=None,
        )
        if oldest is None:
            return True
        minute = oldest // 60000
        return all(GRAIN_TIMES[cells.grain](minute) >= cells.known_from for cells in levels)

    def _known_or_read(self, keys: set[int], cells: Cells) -> list[int]:
        to_read = []
        values, touch, known_from = cells.values, cells.touch, cells.known_from
        for key in keys:
            if key in values:
                continue
            if key >> ATTR_BITS >= known_from:
                values[key] = 0
                touch[key] = self.taken_at  # (not dirty: evictable once durable, like a cell read back)
            else:
                to_read.append(key)
        return sorted(to_read)

    def install_cells(self, found: list[dict[int, int]], durable: int) -> None:
        """Take cells not in memory, of each grain (CELL_TABLES order), at their values (packed) as of `durable`."""
        for values, cells in zip(found, self.levels, strict=True):
            for key, packed in values.items():
                if key not in cells.values:
                    cells.values[key] = packed
                    cells.touch[key] = durable

    def evict(self, durable: int, max_records: int, max_cells: int) -> int:
        """Forget the least recently touched records and cells (of each grain) beyond the budgets, among those
        whose last change is at or before `durable` (so ClickHouse holds them as of that offset: what a lookup
        gives back). Returns how many were forgotten."""
        dropped = len(self._evict(self.records, self.record_touch, durable, max_records))
        if dropped:
            self.records_complete = False
        for cells in self.levels:
            victims = self._evict(cells.values, cells.touch, durable, max_cells)
            if victims:
                cells.known_from = max(cells.known_from, max(key >> ATTR_BITS for key in victims) + 1)
                dropped += len(victims)
        return dropped

    @staticmethod
    def _evict(values: dict, touch: dict, durable: int, budget: int) -> list:
        over = len(values) - budget
        if over <= 0:
            return []
        victims = []
        for key, at in touch.items():  # oldest first
            if len(victims) >= over or at > durable:
                break
            victims.append(key)
        for key in victims:
            del values[key], touch[key]
        return victims

    # -- readable forms ------------------------------------------------------------------------------
    def readable(self, grain: int, key: int) -> Cell:
        """A cell of a grain (CELL_TABLES position) as (time as its table is sent, *attributes)."""
        unit = CELL_TABLES[self.levels[grain].grain].seconds_per_unit or 1
        return ((key >> ATTR_BITS) * unit, *self.attributes[key & ATTR_MASK])  # type: ignore[return-value]

    def counters(self, grain: int) -> dict[Cell, list[int]]:
        """Every cell of a grain touched so far with its counters (readable; for tests and tools)."""
        return {self.readable(grain, key): list(unpack_counts(p)) for key, p in self.levels[grain].values.items()}

    def minute_counters(self) -> dict[Cell, list[int]]:
        return self.counters(MINUTE)

    def day_counters(self) -> dict[Cell, list[int]]:
        return self.counters(DAY)

    def take_changes(self) -> Changes:
        changes = Changes(
            partition=self.partition,
            offset=self.offset,
            resends=self.resends,
            cells={cells.grain: self._changed(grain, cells) for grain, cells in enumerate(self.levels)},
            history=self.history,
            checkpoint=Checkpoint(
                self.offset, self.newest_event_ms, self.processed, self.duplicates, self.late, self.newest_arrival_ms
            ),
            prev_version=max(self.taken_at, 0),
        )
        for cells in self.levels:
            if self.lazy:  # the cells changed are touched at this offset, when they become durable (not before)
                touch, offset = cells.touch, self.offset
                for key in cells.before:
                    touch.pop(key, None)
                    touch[key] = offset
            cells.before = {}
        self.history, self.resends = [], []
        self.taken_at = self.offset
        return changes

    def _changed(self, grain: int, cells: Cells) -> ChangedCells:
        keys = list(cells.before)
        attributes, values, before = self.attributes, cells.values, cells.before
        unit = CELL_TABLES[cells.grain].seconds_per_unit or 1
        return ChangedCells(
            [(key >> ATTR_BITS) * unit for key in keys],
            [attributes[key & ATTR_MASK] for key in keys],
            [unpack_counts(values[key]) for key in keys],
            [unpack_counts(before[key][0]) for key in keys],
            [before[key][1] for key in keys],
        )
