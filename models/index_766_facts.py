"""One record's facts for the 766 index, read from its events in a way that ignores their arrival order.

A record (hồ sơ) is known only through its events. Every rule below picks by (event time, event id), never
by arrival, and copies of one event id count once, so the same set of events gives the same facts whatever
order (or how many times) they came in; a crash replay that re-applies them changes nothing.

- received_at: the earliest `submitted` event (as dvcpulse's submitted count); no such event, no receipt.
- statuses: every distinct event's (time, event id, status); `synced` events carry a status too.
- a status "reached at": the time of its earliest observation.
- supplement waits: a run of status-5 observations with no other status between is one supplement request;
  the wait ends at the first later observation of another status (still open if there is none).
- per-record facts that portals may restate (due_date, the optional 766 flags, the rating): the value of the
  latest event (time, then event id) that states one; an event that leaves it out (null) states nothing.
- channel, procedure, service, province: the earliest event's (they do not change within a record).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

SUBMITTED, STATUS_CHANGED, SYNCED = "submitted", "status_changed", "synced"
ACCEPTED, REFUSED, SUPPLEMENT, WITHDRAWN, STOPPED, RESOLVED, RETURNED = 2, 3, 5, 7, 8, 9, 10
ONLINE = 2
DISSATISFIED = "dissatisfied"

# The optional 766 fields an event may state, in the order the events table stores them (migration 0010):
# models.filing_event validates them, sinks.contract.EventRow carries them.
INDEX_766_FIELDS = (
    "fee_required",
    "requires_written_result",
    "result_electronic",
    "digitized_components",
    "reused_data",
    "personal_store",
    "population_data",
    "satisfaction_rating",
    "complaint",
)
# The yes/no facts a record may state, read "last stated wins" (paid_online is a v1 field).
FLAGS = ("paid_online", *(name for name in INDEX_766_FIELDS if name != "satisfaction_rating"))
STATED = (*FLAGS, "satisfaction_rating", "due_date")


class EventLike(Protocol):
    """What the rules read of an event: a models.filing_event.FilingEvent, or anything with these attributes
    (the optional ones may be missing: a v1 event states none of them)."""

    event_id: str
    record_id: str
    event_type: str
    status: int
    event_time: datetime
    channel: int
    procedure_code: str
    service_code: str
    province_code: str


@dataclass(frozen=True, slots=True)
class Supplement:
    """One supplement request: waiting from `start` until `resumed` (None: still waiting)."""

    start: datetime
    resumed: datetime | None

    def waited(self, until: datetime) -> timedelta:
        """How long this wait lasted up to `until` (zero if it started at or after it)."""
        if self.start >= until:
            return timedelta(0)
        end = until if self.resumed is None else min(self.resumed, until)
        return end - self.start


@dataclass(frozen=True, slots=True)
class RecordFacts:
    record_id: str
    province_code: str
    service_code: str
    procedure_code: str
    channel: int
    received_at: datetime | None
    statuses: tuple[tuple[datetime, str, int], ...]  # (time, event id, status), sorted
    synced: bool
    supplements: tuple[Supplement, ...]
    stated: dict[str, Any]  # every name of STATED, None when never stated

    def reached(self, status: int) -> datetime | None:
        """When the record first reached `status`, or None."""
        return next((time for time, _, code in self.statuses if code == status), None)

    def paused(self, until: datetime) -> timedelta:
        """Time spent waiting on supplements before `until` (not counted against the due date)."""
        return sum((s.waited(until) for s in self.supplements), timedelta(0))

    def supplement_requests(self, before: datetime) -> int:
        """Supplement requests made before `before`."""
        return sum(1 for s in self.supplements if s.start < before)


def record_facts(events: Iterable[EventLike]) -> RecordFacts:
    """The facts of one record from its (valid, not late) events, in any order, copies allowed."""
    unique: dict[str, EventLike] = {}
    for event in events:
        kept = unique.get(event.event_id)
        # Copies of an id are the same event; should two differ, the earlier (time, type, status) wins, so the
        # choice never depends on arrival order.
        if kept is None or _copy_key(event) < _copy_key(kept):
            unique[event.event_id] = event
    if not unique:
        raise ValueError("a record needs at least one event")
    if len({e.record_id for e in unique.values()}) != 1:
        raise ValueError("events of more than one record")
    ordered = sorted(unique.values(), key=lambda e: (e.event_time, e.event_id))
    first = ordered[0]
    stated: dict[str, Any] = dict.fromkeys(STATED)
    for event in ordered:  # later events overwrite: the latest statement wins
        for name in STATED:
            value = getattr(event, name, None)
            if value is not None:
                stated[name] = value
    submitted = [e.event_time for e in ordered if e.event_type == SUBMITTED]
    statuses = tuple((e.event_time, e.event_id, e.status) for e in ordered)
    return RecordFacts(
        record_id=first.record_id,
        province_code=first.province_code,
        service_code=first.service_code,
        procedure_code=first.procedure_code,
        channel=int(first.channel),
        received_at=submitted[0] if submitted else None,
        statuses=statuses,
        synced=any(e.event_type == SYNCED for e in ordered),
        supplements=_supplements(statuses),
        stated=stated,
    )


def _copy_key(event: EventLike) -> tuple[datetime, str, int]:
    return (event.event_time, event.event_type, event.status)


def _supplements(statuses: tuple[tuple[datetime, str, int], ...]) -> tuple[Supplement, ...]:
    found: list[Supplement] = []
    start: datetime | None = None
    for time, _, status in statuses:
        if status == SUPPLEMENT:
            if start is None:
                start = time  # a repeated 5 (e.g. a status_changed and a synced copy of it) is the same request
        elif start is not None:
            found.append(Supplement(start, time))
            start = None
    if start is not None:
        found.append(Supplement(start, None))
    return tuple(found)
