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

SUBMITTED, SYNCED = 0, 1
COUNTERS = 12  # submitted, synced, status changes for codes 1..10
VN_OFFSET_S = 7 * 3600


def event_hash(event_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(event_id.encode(), digest_size=8).digest(), "big")


def day_of(cell: Cell) -> DayCell:
    return ((cell[0] + VN_OFFSET_S) // 86400, cell[1], cell[2], cell[3], cell[4])


@dataclass(slots=True)
class RecordState:
    # Lists, not sets: a record has a handful of events, and a small set costs about three times the memory.
    seen: list[int] = field(default_factory=list)  # event-id hashes
    sources: list[int] = field(default_factory=list)  # source messages already applied: a replay is silent
    submitted: tuple[int, str, Cell] | None = None  # (event_time_ms, event_id, cell) of the first one
    synced: tuple[int, str, Cell] | None = None
    statuses: list[tuple[Cell, int]] = field(default_factory=list)
    last_status: int = 0
    last_time_ms: int = 0
    events: int = 0
    attributes: tuple[str, str, int, str] = ("", "", 0, "")  # service, province, channel, level

    def contributions(self) -> list[tuple[Cell, int]]:
        """(cell, counter index) pairs this record adds one to."""
        out = [(cell, 2 + status - 1) for cell, status in self.statuses]
        if self.submitted:
            out.append((self.submitted[2], SUBMITTED))
        if self.synced:
            out.append((self.synced[2], SYNCED))
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "seen": sorted(self.seen),
            "src": sorted(self.sources),
            "sub": list(self.submitted) if self.submitted else None,
            "syn": list(self.synced) if self.synced else None,
            "st": [[list(cell), status] for cell, status in self.statuses],
            "ls": self.last_status,
            "lt": self.last_time_ms,
            "n": self.events,
            "a": list(self.attributes),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RecordState:
        def first(value: list | None) -> tuple[int, str, Cell] | None:
            return (value[0], value[1], tuple(value[2])) if value else None  # type: ignore[return-value]

        return cls(
            seen=list(data["seen"]),
            sources=list(data["src"]),
            submitted=first(data["sub"]),
            synced=first(data["syn"]),
            statuses=[(tuple(cell), status) for cell, status in data["st"]],  # type: ignore[misc]
            last_status=data["ls"],
            last_time_ms=data["lt"],
            events=data["n"],
            attributes=tuple(data["a"]),  # type: ignore[arg-type]
        )


@dataclass(slots=True)
class HistoryRow:
    event: InternalEvent
    offset: int


@dataclass
class PartitionState:
    partition: int
    offset: int = -1  # last applied records-topic offset
    watermark_ms: int = 0
    processed: int = 0
    duplicates: int = 0
    late: int = 0
    records: dict[str, RecordState] = field(default_factory=dict)
    minutes: dict[Cell, list[int]] = field(default_factory=dict)
    days: dict[DayCell, list[int]] = field(default_factory=dict)
    # changes since the last flush
    dirty_records: set[str] = field(default_factory=set)
    dirty_minutes: set[Cell] = field(default_factory=set)
    dirty_days: set[DayCell] = field(default_factory=set)
    history: list[HistoryRow] = field(default_factory=list)

    def _bump(self, cell: Cell, index: int, delta: int) -> None:
        counters = self.minutes.get(cell)
        if counters is None:
            counters = self.minutes[cell] = [0] * COUNTERS
        counters[index] += delta
        self.dirty_minutes.add(cell)
        day = day_of(cell)
        day_counters = self.days.get(day)
        if day_counters is None:
            day_counters = self.days[day] = [0] * COUNTERS
        day_counters[index] += delta
        self.dirty_days.add(day)

    def apply_message(self, offset: int, events: list[InternalEvent]) -> bool:
        """Apply one records-topic message; False when it was already applied (a replay)."""
        if offset <= self.offset:
            return False
        for event in events:
            self._apply(event, offset)
        self.offset = offset
        return True

    def _apply(self, event: InternalEvent, offset: int) -> None:
        record = self.records.get(event.record_id)
        if record is None:
            record = self.records[event.record_id] = RecordState()
        if event.source in record.sources:
            return  # the same source message again: our own replay after a crash, not a new arrival
        record.sources.append(event.source)
        self.dirty_records.add(event.record_id)  # even a re-send changes the record: its sources
        self.processed += 1
        digest = event_hash(event.event_id)
        if digest in record.seen:
            self.duplicates += 1  # re-sent by the portal
            return
        record.seen.append(digest)
        record.events += 1
        time_ms = event.event_time_ms
        if time_ms >= record.last_time_ms:
            record.last_time_ms, record.last_status = time_ms, event.status
        if not record.attributes[0] or event.event_type == "submitted":
            record.attributes = (event.service_code, event.province_code, event.channel, event.online_level)
        self.history.append(HistoryRow(event, offset))
        if time_ms > self.watermark_ms:
            self.watermark_ms = time_ms
        if event.late:
            self.late += 1
            return
        cell: Cell = (
            time_ms // 60000 * 60,
            event.service_code,
            event.province_code,
            event.channel,
            event.online_level,
        )
        if event.event_type == "status_changed":
            record.statuses.append((cell, event.status))
            self._bump(cell, 2 + event.status - 1, 1)
            return
        index = SUBMITTED if event.event_type == "submitted" else SYNCED
        current = record.submitted if index == SUBMITTED else record.synced
        candidate = (time_ms, event.event_id, cell)
        if current is not None and current[:2] <= candidate[:2]:
            return
        if current is not None:
            self._bump(current[2], index, -1)  # an earlier event arrived late: move the count
        self._bump(cell, index, 1)
        if index == SUBMITTED:
            record.submitted = candidate
        else:
            record.synced = candidate

    def rebuild_aggregates(self) -> None:
        """Recompute cells from record states (after a restore): aggregates are a function of them."""
        self.minutes.clear()
        self.days.clear()
        for record in self.records.values():
            for cell, index in record.contributions():
                self._bump(cell, index, 1)
        self.dirty_minutes.clear()
        self.dirty_days.clear()

    def take_changes(self) -> Changes:
        changes = Changes(
            partition=self.partition,
            version=self.offset,
            records={rid: self.records[rid] for rid in self.dirty_records},
            minutes={cell: list(self.minutes[cell]) for cell in self.dirty_minutes},
            days={day: list(self.days[day]) for day in self.dirty_days},
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
    records: dict[str, RecordState]
    minutes: dict[Cell, list[int]]
    days: dict[DayCell, list[int]]
    history: list[HistoryRow]
    checkpoint: Checkpoint
