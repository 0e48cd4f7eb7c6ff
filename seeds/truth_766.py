"""Ground truth of the Decision 766 indicators of a simulated stream, computed from the simulator's own records.

The simulator reports, for every first copy of a valid event it emits, the record it belongs to, its status,
time and the 766 facts it states (`IndexTruth.event`). At the end each record's lifecycle is judged here,
with the portal's rules written out again in whole seconds, without models.index_766 (which the tests check
against this): receipt is the `submitted` event; handling ends at the first 9, else the first 10, else the
earliest of 8, 3 and a 7 that follows a 2; a run of status 5 is one supplement request, waiting until the next
other status; more than one request is late; an open dossier is judged at the period's end; a dossier
withdrawn before acceptance is left out of 2.1 and 5.4. Periods are the Vietnam-time months, quarters and
years from the first receipt to the last event emitted. Tallies are [numerator, denominator, unjudged];
2.2's numerator is seconds; 3.5b counts procedures (with a fee-bearing dossier / with one paid online).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

from dvcpulse.seeds.reference import VIETNAM_TZ

INDICATORS = ("1.4", "2.1", "2.2", "3.3", "3.5b", "3.6", "4.1", "4.2", "4.3", "4.4", "4.5b", "5.4")
_ONLINE = 2


@dataclass(slots=True)
class RecordInfo:
    """One simulated record as the truth sees it: fixed facts, then what its emitted events said."""

    record_id: str
    province_code: str  # 2025 code
    procedure_code: str
    channel: int
    due: int  # epoch seconds
    received: int | None = None
    synced: bool = False
    statuses: list[tuple[int, int]] = field(default_factory=list)  # (time, status) of each emitted event
    stated: dict[str, Any] = field(default_factory=dict)


@lru_cache(maxsize=512)
def _bounds(key: str) -> tuple[int, int]:
    """[start, end) in epoch seconds of a period key: YYYY, YYYY-Qn or YYYY-MM (Vietnam time)."""
    year = int(key[:4])
    if len(key) == 4:
        first, months = 1, 12
    elif key[5] == "Q":
        first, months = 3 * int(key[6]) - 2, 3
    else:
        first, months = int(key[5:7]), 1
    last = first + months
    start = datetime(year, first, 1, tzinfo=VIETNAM_TZ)
    end = datetime(year + (last - 1) // 12, (last - 1) % 12 + 1, 1, tzinfo=VIETNAM_TZ)
    return int(start.timestamp()), int(end.timestamp())


def period_keys(first: int, last: int) -> list[str]:
    """Every month, quarter and year key from the one holding `first` to the one holding `last`."""
    start = datetime.fromtimestamp(first, VIETNAM_TZ)
    stop = datetime.fromtimestamp(last, VIETNAM_TZ)
    keys: list[str] = []
    year, month = start.year, start.month
    while (year, month) <= (stop.year, stop.month):
        keys.append(f"{year:04d}-{month:02d}")
        quarter, yearly = f"{year:04d}-Q{(month - 1) // 3 + 1}", f"{year:04d}"
        for key in (quarter, yearly):
            if key not in keys:
                keys.append(key)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return keys


@dataclass(slots=True)
class IndexTruth:
    """Collects what the emitted events say of each record; `result()` judges every record for every period."""

    records: dict[str, RecordInfo] = field(default_factory=dict)
    last_time: int | None = None

    def event(self, info: RecordInfo, event_type: str, status: int, stamped: int, facts: dict[str, Any]) -> None:
        self.records.setdefault(info.record_id, info)
        info.statuses.append((stamped, status))
        if event_type == "submitted" and (info.received is None or stamped < info.received):
            info.received = stamped
        if event_type == "synced":
            info.synced = True
        info.stated.update(facts)  # the simulator states each fact once
        if self.last_time is None or stamped > self.last_time:
            self.last_time = stamped

    def result(self) -> dict[str, Any]:
        received = [r.received for r in self.records.values() if r.received is not None]
        if not received or self.last_time is None:
            return {"periods": []}
        keys = period_keys(min(received), self.last_time)
        sums: dict[tuple[str, str, str], list[float]] = {}  # (period, province, indicator) -> tally
        fees: dict[tuple[str, str], list[int]] = {}  # (period, province, procedure) -> [fee dossiers, paid]
        bounds = [(key, *_bounds(key)) for key in keys]
        for info in self.records.values():
            life = _Life(info)
            province = info.province_code
            for key, start, end in bounds:
                if not life.may_touch(start, end):
                    continue
                tallies, fee = _judge(life, start, end)
                for code, (numerator, denominator, unjudged) in tallies.items():
                    total = sums.get((key, province, code))
                    if total is None:
                        sums[(key, province, code)] = [numerator, denominator, unjudged]
                    else:
                        total[0] += numerator
                        total[1] += denominator
                        total[2] += unjudged
                if fee is not None:
                    counts = fees.setdefault((key, province, info.procedure_code), [0, 0])
                    counts[0] += 1
                    counts[1] += fee
        national: dict[str, dict[str, list[float]]] = {key: {} for key in keys}
        provinces: dict[str, dict[str, dict[str, list[float]]]] = {key: {} for key in keys}
        for (key, province, code), tally in sums.items():
            provinces[key].setdefault(province, {})[code] = tally
            total = national[key].setdefault(code, [0, 0, 0])
            for i in range(3):
                total[i] += tally[i]
        # 3.5b counts procedures: per province, and nationally each procedure once
        national_fees: dict[tuple[str, str], list[int]] = {}
        for (key, province, procedure), (fee, paid) in fees.items():
            target = provinces[key].setdefault(province, {}).setdefault("3.5b", [0, 0, 0])
            target[0] += 1 if paid else 0
            target[1] += 1
            both = national_fees.setdefault((key, procedure), [0, 0])
            both[0] += fee
            both[1] += paid
        for (key, _), (_, paid) in national_fees.items():
            target = national[key].setdefault("3.5b", [0, 0, 0])
            target[0] += 1 if paid else 0
            target[1] += 1
        return {
            "periods": [
                {
                    "period": key,
                    "national": _ordered(national[key]),
                    "by_province": {code: _ordered(t) for code, t in sorted(provinces[key].items()) if t},
                }
                for key in keys
            ]
        }


def _ordered(tallies: dict[str, list[float]]) -> dict[str, list[float]]:
    return {code: tallies[code] for code in INDICATORS if code in tallies}


class _Life:
    """A record's lifecycle, worked out once: first time of each status, supplement waits, end of handling."""

    __slots__ = ("began", "facts", "finish", "first", "info", "waits", "withdrawn_early")

    def __init__(self, info: RecordInfo):
        self.info, self.facts = info, info.stated
        events = sorted(info.statuses)
        first: dict[int, int] = {}
        for time, status in events:
            first.setdefault(status, time)
        waits: list[tuple[int, int | None]] = []  # (start, resumed) of each supplement request
        for time, status in events:
            if status == 5 and not (waits and waits[-1][1] is None):
                waits.append((time, None))
            elif status != 5 and waits and waits[-1][1] is None:
                waits[-1] = (waits[-1][0], time)
        if 9 in first or 10 in first:
            finish: tuple[int, int] | None = (first[9], 9) if 9 in first else (first[10], 10)
        else:
            ends = [(first[s], s) for s in (8, 3) if s in first]
            if 7 in first and 2 in first and first[2] <= first[7]:
                ends.append((first[7], 7))
            finish = min(ends) if ends else None
        self.first, self.waits, self.finish = first, waits, finish
        self.withdrawn_early = 7 in first and not (2 in first and first[2] <= first[7])
        self.began = first.get(2, info.received)

    def paused(self, until: int) -> int:
        return sum(min(until, resumed if resumed is not None else until) - begin
                   for begin, resumed in self.waits if begin < until)  # fmt: skip

    def may_touch(self, start: int, end: int) -> bool:
        """False when the record cannot be in any tally of [start, end): a cheap filter, not a rule."""
        moments = [t for t in (self.info.received, self.began) if t is not None]
        if self.finish is not None:
            moments.append(self.finish[0])
        if any(start <= t < end for t in moments):
            return True
        received = self.info.received  # 2.1: received before the end, not finished before the start
        return received is not None and received < end and (self.finish is None or self.finish[0] >= start)


def _judge(life: _Life, start: int, end: int) -> tuple[dict[str, tuple[float, int, int]], int | None]:
    """One record's tallies in [start, end), and for 3.5b whether it was a fee dossier paid online (1/0)."""
    info, waits, finish, paused = life.info, life.waits, life.finish, life.paused
    facts = info.stated
    out: dict[str, tuple[float, int, int]] = {}
    fee_paid: int | None = None
    yes, no, unjudged = (1, 1, 0), (0, 1, 0), (0, 0, 1)
    got = info.received
    if got is not None and start <= got < end:
        out["1.4"] = yes if info.synced else no
        requires = facts.get("requires_written_result")
        result_ok = None if requires is None else (not requires or facts.get("result_electronic") is True)
        out["3.3"] = unjudged if result_ok is None else yes if info.channel == _ONLINE and result_ok else no
        digitized = facts.get("digitized_components")
        out["4.2"] = unjudged if digitized is None or result_ok is None else yes if digitized and result_ok else no
        for code, name in (("4.3", "reused_data"), ("4.4", "personal_store"), ("4.5b", "population_data")):
            value = facts.get(name)
            out[code] = unjudged if value is None else yes if value else no
    withdrawn_early = life.withdrawn_early
    in_scope = got is not None and got < end and (finish is None or finish[0] >= start)
    if in_scope and not (finish is None and withdrawn_early):
        judged_at = finish[0] if finish is not None and finish[0] < end else end
        if info.due is None:
            out["2.1"] = out["5.4"] = unjudged
        else:
            requests = sum(1 for begin, _ in waits if begin < judged_at)
            timely = requests <= 1 and judged_at <= info.due + paused(judged_at)
            out["2.1"] = yes if timely else no
            bad = facts.get("complaint") is True or facts.get("satisfaction_rating") == "dissatisfied"
            out["5.4"] = (1 - (not timely) - bad, 1, 0)
    completed = finish is not None and finish[1] in (9, 10)
    if completed and start <= finish[0] < end and facts.get("requires_written_result") is not None:
        if facts["requires_written_result"]:
            out["4.1"] = yes if facts.get("result_electronic") is True else no
    elif completed and start <= finish[0] < end:
        out["4.1"] = unjudged
    began = life.began
    if began is not None and start <= began < end:
        if completed:
            out["2.2"] = (max(finish[0] - began - paused(finish[0]), 0), 1, 0)
        fee = facts.get("fee_required")
        if fee is None:
            out["3.6"] = unjudged
        elif fee:
            paid = facts.get("paid_online") is True
            out["3.6"] = yes if paid else no
            fee_paid = int(paid)
    return out, fee_paid
