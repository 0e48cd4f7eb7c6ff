"""Events: records turned into serialised FilingEvent lines, in the order they arrive.

Lines are ordered by the time an event happened. A record flagged late arrives at that time but is stamped
`late_by` earlier: a province syncing a backlog. Event times are written in +07:00. With `until`, the stream
ends before the first event arriving after it. A record id is `<agency>-<YYMMDD>-<serial>`, or
`<agency>-<YYMMDD>-<run id>-<serial>` in a run with a run id (serials restart every run). The arrival knobs
(out of order, duplicates, malformed lines) are applied afterwards, in `arrival`.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import count
from typing import Any

import orjson

from dvcpulse.seeds.ground_truth import SUBMITTED, SYNCED, Cell, vn_date, vn_iso
from dvcpulse.seeds.simulator.config import SimulationConfig
from dvcpulse.seeds.simulator.index_fields import INDEX_RATES, draw_index_facts, json_members
from dvcpulse.seeds.simulator.lifecycles import (
    DUE_DAYS,
    DUE_DAYS_BY_PROFILE,
    PAYMENT_REQUESTED,
    LifecycleEvent,
    draw_lifecycle,
    due_date,
)
from dvcpulse.seeds.simulator.profiles import CHANNEL_ONLINE, ServiceEntry
from dvcpulse.seeds.simulator.provinces import ProvinceUnit, province_units
from dvcpulse.seeds.simulator.randomness import Streams, event_id
from dvcpulse.seeds.simulator.records import Draft
from dvcpulse.seeds.truth_766 import RecordInfo

# One serialised event: (line, cell, event type, stamped time, status, its record and the 766 facts it states).
Event = tuple[bytes, Cell, str, int, int, RecordInfo, dict[str, Any]]


@dataclass(slots=True)
class _Record:
    """What every event of one record shares, pre-serialised."""

    body: str  # JSON members from record_id to online_level, without braces
    tail: str  # ,"due_date":... (JSON members after the per-event ones)
    applicant_id: str
    shift: int  # seconds the record is stamped earlier than it arrives (late records)
    cell: Cell
    paid_online: bool | None
    info: RecordInfo  # for the 766 ground truth
    submitted_facts: dict[str, Any]  # 766 facts stated on the submitted event
    synced_facts: dict[str, Any]  # … and on the synced event (paid_online included)
    submitted_extra: str  # those facts as JSON members
    synced_extra: str


# A base event waiting for its arrival: (arrival time, order, record, event type, status).
_Pending = tuple[int, int, _Record, str, int]


class EventWriter:
    """Turns records into serialised events in arrival order."""

    def __init__(
        self, config: SimulationConfig, mix: Sequence[ServiceEntry], streams: Streams, until: int | None = None
    ):
        self.mix = mix
        self.units = province_units()
        self.late_by = int(config.late_by.total_seconds())
        self.rng = streams.lifecycle
        self.ids = streams.ids
        self.serials: dict[tuple[str, str], int] = {}  # (agency, date) -> last record serial that day
        self.run_part = f"{config.run_id}-" if config.run_id else ""
        self.index_rng = streams.index
        self.index_rates = INDEX_RATES.get(config.profile)
        self.due_days = DUE_DAYS_BY_PROFILE.get(config.profile, DUE_DAYS)
        self.until = until  # the run's `until`, resolved once (it may be "now")

    def events(self, drafts: Sequence[Draft]) -> Iterator[Event]:
        """(line, cell, event type, stamped time) per event, ordered by (arrival time, creation order).

        Pending events wait in one bucket per minute: a heap of a million lifecycles in flight spends most
        of its time on cache misses, while a bucket is sorted once, when its minute comes.
        """
        buckets: dict[int, list[_Pending]] = {}
        order = count()
        index, total = 0, len(drafts)
        minute = drafts[0][0] // 60 if drafts else 0
        last_minute = minute
        while index < total or buckets:
            while index < total and drafts[index][0] // 60 == minute:
                record, lifecycle = self._lifecycle(drafts[index])
                index += 1
                for arrival, event_type, status in lifecycle:
                    key = arrival // 60
                    buckets.setdefault(key, []).append((arrival, next(order), record, event_type, status))
                    last_minute = max(last_minute, key)
            due = buckets.pop(minute, None)
            if due:
                due.sort()  # (arrival, order) is unique, so the record is never compared
                for pending in due:
                    if self.until is not None and pending[0] > self.until:
                        return  # arrival order: every later event arrives after `until` too
                    yield self._line(pending)
            if index < total and not buckets:
                minute = drafts[index][0] // 60  # skip quiet minutes
            elif minute < last_minute or index < total:
                minute += 1

    def _line(self, pending: _Pending) -> Event:
        arrival, _, record, event_type, status = pending
        stamped = arrival - record.shift
        extra = ""
        facts: dict[str, Any] = {}
        if event_type == SUBMITTED:
            extra = f',"applicant_id":"{record.applicant_id}"{record.submitted_extra}'
            facts = record.submitted_facts
        elif event_type == SYNCED:
            if record.paid_online is not None:
                extra = f',"paid_online":{"true" if record.paid_online else "false"}'
            extra += record.synced_extra
            facts = record.synced_facts
        line = (
            f'{{"schema_version":1,"event_id":"{event_id(self.ids)}",{record.body},"event_type":"{event_type}",'
            f'"status":{status},"event_time":"{vn_iso(stamped)}"{record.tail}{extra}}}'
        )
        return line.encode(), record.cell, event_type, stamped, status, record.info, facts

    def _lifecycle(self, draft: Draft) -> tuple[_Record, list[LifecycleEvent]]:
        """The record and its events as (arrival time, event type, status), submitted first."""
        submitted_at, _, row, unit_index, channel, legacy, late = draft
        entry, unit = self.mix[row], self.units[unit_index]
        changes, arrivals = draw_lifecycle(self.rng, channel, submitted_at)
        shift = self.late_by if late else 0
        sent_code = unit.legacy_code if legacy else unit.code_2025
        record = self._record(entry, unit, sent_code, channel, submitted_at - shift, shift, changes, arrivals[-1][2])
        return record, arrivals

    def _record(
        self, entry: ServiceEntry, unit: ProvinceUnit, sent_code: str, channel: int, stamped: int, shift: int,
        changes: tuple[int, ...], final_status: int,
    ) -> _Record:  # fmt: skip
        rng = self.rng
        agency = f"H{sent_code}.{1 + int(30 * rng.random() ** 2):02d}"  # a few busy agencies, many quiet
        day = vn_date(stamped)
        serial_key = (agency, day)
        serial = self.serials.get(serial_key, 0) + 1
        self.serials[serial_key] = serial
        codes = entry.procedure_codes
        members: dict[str, Any] = {
            "record_id": f"{agency}-{day[2:4]}{day[5:7]}{day[8:10]}-{self.run_part}{serial:06d}",
            "procedure_code": codes[int(len(codes) * rng.random() ** 2)],
            "service_code": entry.service_code,
            "province_code": sent_code,
        }
        if rng.random() < 0.9:  # agency_code is optional; some portals leave it out
            members["agency_code"] = agency
        members["channel"] = channel
        members["online_level"] = entry.online_level
        due = due_date(stamped, self.due_days[int(len(self.due_days) * rng.random())])
        paid = (channel == CHANNEL_ONLINE) if PAYMENT_REQUESTED in changes else None
        cell = (entry.service_code, unit.code_2025, channel, entry.online_level)
        body = orjson.dumps(members).decode()[1:-1]
        applicant = _applicant_id(rng, unit)  # the last draw of the lifecycle stream, as before the 766 facts
        on_submitted, on_synced = draw_index_facts(self.index_rng, self.index_rates, channel, changes, final_status)
        info = RecordInfo(members["record_id"], unit.code_2025, members["procedure_code"], channel, due)
        synced_facts = on_synced if paid is None else {"paid_online": paid, **on_synced}
        return _Record(
            body, f',"due_date":"{vn_iso(due)}"', applicant, shift, cell, paid, info,
            on_submitted, synced_facts, json_members(on_submitted), json_members(on_synced),
        )  # fmt: skip


def _applicant_id(rng: random.Random, unit: ProvinceUnit) -> str:
    """A fake 12-digit CCCD: birth-province code (0 + old code), gender/century digit, year, 6 digits."""
    birth = unit.legacy_code if rng.random() < 0.85 else f"{1 + int(rng.random() * 96):02d}"
    year = 1945 + int(rng.random() * 63)
    gender_century = (0 if year < 2000 else 2) + (rng.random() < 0.5)
    return f"0{birth}{gender_century}{year % 100:02d}{int(rng.random() * 1_000_000):06d}"
