"""Partition-local processing state: the one place where counting rules live.

Rules (see README "Counting rules"):
- an event id seen before in its record changes nothing (duplicates);
- a record counts as submitted once, in the cell of its first submitted event by (event_time, event_id),
  and as synced once, in the cell of its first synced event; an earlier event arriving later moves the
  count (retraction), whatever the arrival order;
- every distinct status_changed event counts once, in its own cell, by its status;
- an event judged late at ingest (beyond the lateness horizon, see streams.ingest.LatenessClock) is kept
  in history, counted as late, and changes no aggregate.

All of this is a deterministic function of the partition's messages in offset order, which is what makes
replays after a crash rewrite exactly the same rows.

Representation: a partition holds hundreds of thousands of records, so per-record state is one flat tuple
of atoms (bytes, ints, strings) and cells are integers. Such tuples cost a third of the memory of objects
with lists, and Python's cyclic garbage collector stops tracking them: with objects, the collector's
full passes over a growing state took about 40 % of the worker's CPU (measured with bench/pipeline_bench.py).
The readable forms (`Cell`, the JSON of `record_json`) exist only at the edges: writes, restores, tests.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from streams.internal import InternalEvent

# A cell: (minute as epoch seconds UTC, service, province, channel, online level)
Cell = tuple[int, str, str, int, str]
# A day cell: (Vietnam-time day as days since 1970-01-01, service, province, channel, online level)
DayCell = tuple[int, str, str, int, str]
Attributes = tuple[str, str, int, str]  # service, province, channel, online level

SUBMITTED, SYNCED = 0, 1
COUNTERS = 12  # submitted, synced, status changes for codes 1..10
VN_OFFSET_S = 7 * 3600

# Cell keys: (epoch minute or Vietnam day) << ATTR_BITS | attributes id.
ATTR_BITS = 20
ATTR_MASK = (1 << ATTR_BITS) - 1
NO_ATTRIBUTES: Attributes = ("", "", 0, "")
ZERO_COUNTS = (0,) * COUNTERS

# A record: one tuple, replaced on every change. `first` values are (event_time_ms, event_id, cell key).
SEEN, SOURCES, FIRST_SUBMITTED, FIRST_SYNCED, STATUSES, LAST_STATUS, LAST_TIME, EVENTS, ATTRIBUTES = range(9)
First = tuple[int, str, int] | None
Record = tuple[bytes, bytes, First, First, tuple[int, ...], int, int, int, int]
EMPTY_RECORD: Record = (b"", b"", None, None, (), 0, 0, 0, -1)


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


def _digests(stored: str | list[int]) -> bytes:
    """Digests as stored: hex (current) or a list of integers (states written before 2026-11)."""
    if isinstance(stored, str):
        return bytes.fromhex(stored)
    return b"".join(value.to_bytes(8, "big") for value in stored)


def _day_key(cell: int) -> int:
    return ((cell >> ATTR_BITS) * 60 + VN_OFFSET_S) // 86400 << ATTR_BITS | cell & ATTR_MASK


@dataclass
class PartitionState:
    partition: int
    offset: int = -1  # last applied records-topic offset
    watermark_ms: int = 0
    processed: int = 0
    duplicates: int = 0
    late: int = 0
    records: dict[str, Record] = field(default_factory=dict)
    minutes: dict[int, tuple[int, ...]] = field(default_factory=dict)  # cell key -> COUNTERS counts
    days: dict[int, tuple[int, ...]] = field(default_factory=dict)
    attributes: list[Attributes] = field(default_factory=list)  # attributes id -> attributes
    attribute_ids: dict[Attributes, int] = field(default_factory=dict)
    # changes since the last flush
    dirty_records: set[str] = field(default_factory=set)
    dirty_minutes: set[int] = field(default_factory=set)  # cell keys
    dirty_days: set[int] = field(default_factory=set)
    history: list[tuple[InternalEvent, int]] = field(default_factory=list)  # (event, records-topic offset)

    # -- counting ------------------------------------------------------------------------------------
    def apply_message(self, offset: int, events: list[InternalEvent]) -> bool:
        """Apply one records-topic message; False when it was already applied (a replay)."""
        if offset <= self.offset:
            return False
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

    def _bump(self, cell: int, index: int, delta: int) -> None:
        counts = self.minutes.get(cell, ZERO_COUNTS)
        self.minutes[cell] = (*counts[:index], counts[index] + delta, *counts[index + 1 :])
        self.dirty_minutes.add(cell)
        day = _day_key(cell)
        counts = self.days.get(day, ZERO_COUNTS)
        self.days[day] = (*counts[:index], counts[index] + delta, *counts[index + 1 :])
        self.dirty_days.add(day)

    def _apply(self, event: InternalEvent, offset: int) -> None:
        record_id = event.record_id
        seen, sources, submitted, synced, statuses, last_status, last_time, events, attribute_id = self.records.get(
            record_id, EMPTY_RECORD
        )
        source = event.source.to_bytes(8, "big")
        if _holds(sources, source):
            return  # the same source message again: our own replay after a crash, not a new arrival
        sources += source
        self.dirty_records.add(record_id)  # even a re-send changes the record: its sources
        self.processed += 1
        digest = event_digest(event.event_id)
        if _holds(seen, digest):
            self.duplicates += 1  # re-sent by the portal
            self.records[record_id] = (
                seen, sources, submitted, synced, statuses, last_status, last_time, events, attribute_id
            )  # fmt: skip
            return
        seen += digest
        events += 1
        time_ms = event.event_time_ms
        if time_ms >= last_time:
            last_time, last_status = time_ms, event.status
        own_id = self._attribute_id((event.service_code, event.province_code, event.channel, event.online_level))
        if attribute_id < 0 or event.event_type == "submitted":
            attribute_id = own_id
        self.history.append((event, offset))
        if time_ms > self.watermark_ms:
            self.watermark_ms = time_ms
        if event.late:
            self.late += 1
        else:
            cell = time_ms // 60000 << ATTR_BITS | own_id
            if event.event_type == "status_changed":
                statuses += (cell << 4 | event.status,)
                self._bump(cell, 2 + event.status - 1, 1)
            elif event.event_type == "submitted":
                submitted = self._first(submitted, (time_ms, event.event_id, cell), SUBMITTED)
            else:
                synced = self._first(synced, (time_ms, event.event_id, cell), SYNCED)
        self.records[record_id] = (
            seen, sources, submitted, synced, statuses, last_status, last_time, events, attribute_id
        )  # fmt: skip

    def _first(self, current: First, candidate: tuple[int, str, int], index: int) -> First:
        """The earlier of two by (event_time, event_id); moves the count when the candidate wins."""
        if current is not None and current[:2] <= candidate[:2]:
            return current
        if current is not None:
            self._bump(current[2], index, -1)  # an earlier event arrived late: move the count
        self._bump(candidate[2], index, 1)
        return candidate

    def rebuild_aggregates(self) -> None:
        """Recompute cells from record states (after a restore): aggregates are a function of them."""
        self.minutes.clear()
        self.days.clear()
        for record in self.records.values():
            for packed in record[STATUSES]:
                self._bump(packed >> 4, 2 + (packed & 15) - 1, 1)
            for first, index in ((record[FIRST_SUBMITTED], SUBMITTED), (record[FIRST_SYNCED], SYNCED)):
                if first is not None:
                    self._bump(first[2], index, 1)
        self.dirty_minutes.clear()
        self.dirty_days.clear()

    # -- readable forms ------------------------------------------------------------------------------
    def cell(self, key: int) -> Cell:
        return ((key >> ATTR_BITS) * 60, *self.attributes[key & ATTR_MASK])  # type: ignore[return-value]

    def day_cell(self, key: int) -> DayCell:
        return (key >> ATTR_BITS, *self.attributes[key & ATTR_MASK])  # type: ignore[return-value]

    def _cell_key(self, cell: list | tuple) -> int:
        return cell[0] // 60 << ATTR_BITS | self._attribute_id((cell[1], cell[2], cell[3], cell[4]))

    def minute_counters(self) -> dict[Cell, list[int]]:
        """Every minute cell touched so far with its counters (readable; for tests and tools)."""
        return {self.cell(key): list(counts) for key, counts in self.minutes.items()}

    def day_counters(self) -> dict[DayCell, list[int]]:
        return {self.day_cell(key): list(counts) for key, counts in self.days.items()}

    def record_json(self, record_id: str) -> dict[str, Any]:
        """A record's state as stored in record_state.state (restored by `restore_record`)."""
        seen, sources, submitted, synced, statuses, last_status, last_time, events, attribute_id = self.records[
            record_id
        ]

        def first(value: First) -> tuple | None:
            return (value[0], value[1], self.cell(value[2])) if value else None

        return {  # tuples serialise as JSON arrays
            "seen": seen.hex(),
            "src": sources.hex(),
            "sub": first(submitted),
            "syn": first(synced),
            "st": [(self.cell(packed >> 4), packed & 15) for packed in statuses],
            "ls": last_status,
            "lt": last_time,
            "n": events,
            "a": self.attributes[attribute_id] if attribute_id >= 0 else NO_ATTRIBUTES,
        }

    def restore_record(self, record_id: str, data: dict[str, Any]) -> None:
        def first(value: list | None) -> First:
            return (value[0], value[1], self._cell_key(value[2])) if value else None

        attributes = tuple(data["a"])
        self.records[record_id] = (
            _digests(data["seen"]),
            _digests(data["src"]),
            first(data["sub"]),
            first(data["syn"]),
            tuple(self._cell_key(cell) << 4 | status for cell, status in data["st"]),
            data["ls"],
            data["lt"],
            data["n"],
            -1 if attributes == NO_ATTRIBUTES else self._attribute_id(attributes),  # type: ignore[arg-type]
        )

    def take_changes(self) -> Changes:
        changes = Changes(
            partition=self.partition,
            version=self.offset,
            records={record_id: self.record_json(record_id) for record_id in self.dirty_records},
            minutes={self.cell(key): self.minutes[key] for key in self.dirty_minutes},
            days={self.day_cell(key): self.days[key] for key in self.dirty_days},
            history=self.history,
            checkpoint=Checkpoint(self.offset, self.watermark_ms, self.processed, self.duplicates, self.late),
        )
        self.dirty_records, self.dirty_minutes, self.dirty_days = set(), set(), set()
        self.history = []
        return changes


@dataclass(frozen=True, slots=True)
class Checkpoint:
    version: int
    watermark_ms: int
    processed: int
    duplicates: int
    late: int


@dataclass(slots=True)
class Changes:
    """What one flush writes for one partition, all stamped with `version` (the partition offset)."""

    partition: int
    version: int
    records: dict[str, dict[str, Any]]  # record id -> record_json
    minutes: dict[Cell, tuple[int, ...]]
    days: dict[DayCell, tuple[int, ...]]
    history: list[tuple[InternalEvent, int]]
    checkpoint: Checkpoint
