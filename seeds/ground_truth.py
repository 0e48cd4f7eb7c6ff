"""Ground truth of a simulated stream: the counts the product must arrive at, and the JSON that holds them.

The simulator reports every line it emits to a `TruthAccumulator`, which applies the product's counting
rules to what was actually written:

- a record is **submitted** once if it has at least one valid `submitted` event, **synced** once if it has
  at least one valid `synced` event; re-sent copies and reordering change nothing;
- **status_changes** is the number of distinct valid `status_changed` event ids;
- malformed lines count for nothing; a legacy (63-unit) province code counts under its 2025 code.

The simulator gives every record exactly one distinct `submitted` event and exactly one distinct `synced`
event, and marks each re-sent byte copy as such, so counting the first copy of each valid event applies
the rules above without keeping a set of every event id (memory stays bounded by cells and days).
tests/seeds/test_simulator.py recomputes the same figures independently from the emitted lines, with sets.
The Decision 766 indicators (`index_766`) are judged per record by seeds.truth_766.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import orjson

from dvcpulse.seeds.reference import VIETNAM_UTC_OFFSET_SECONDS
from dvcpulse.seeds.truth_766 import IndexTruth

_EPOCH_DAY = date(1970, 1, 1)

SUBMITTED = "submitted"
STATUS_CHANGED = "status_changed"
SYNCED = "synced"

# (service_code, 2025 province_code, channel, online_level): the grain of `by_cell`.
Cell = tuple[str, str, int, str]

_ONLINE, _IN_PERSON, _POSTAL = 2, 1, 3


@lru_cache(maxsize=4096)
def _local_date_of_day(day_number: int) -> str:
    return (_EPOCH_DAY + timedelta(days=day_number)).isoformat()


def vn_date(epoch_seconds: int) -> str:
    """The Vietnam-time calendar date (YYYY-MM-DD) of an instant."""
    return _local_date_of_day((epoch_seconds + VIETNAM_UTC_OFFSET_SECONDS) // 86400)


def vn_iso(epoch_seconds: int) -> str:
    """An instant as ISO 8601 in Vietnam time with its offset, e.g. 2025-09-01T08:30:00+07:00."""
    hour, second = divmod(epoch_seconds + VIETNAM_UTC_OFFSET_SECONDS, 3600)
    minute, second = divmod(second, 60)
    return f"{_local_hour_prefix(hour)}{minute:02d}:{second:02d}+07:00"


@lru_cache(maxsize=8192)
def _local_hour_prefix(hour_number: int) -> str:
    # Formatting is the simulator's hot path; events cluster in few hours, so cache "YYYY-MM-DDTHH:".
    day, hour = divmod(hour_number, 24)
    return f"{_local_date_of_day(day)}T{hour:02d}:"


@dataclass(slots=True)
class TruthAccumulator:
    """Counts what the simulator emitted, line by line, under the product's rules."""

    cells: dict[Cell, list[int]] = field(default_factory=dict)  # cell -> [submitted, synced, status_changes]
    days: dict[str, list[int]] = field(default_factory=dict)  # date -> [submitted, synced]
    lines: int = 0
    valid_events: int = 0
    unique_events: int = 0
    duplicate_lines: int = 0
    malformed_lines: list[int] = field(default_factory=list)
    first_event_time: int | None = None
    last_event_time: int | None = None
    index: IndexTruth = field(default_factory=IndexTruth)  # the 766 indicators (seeds.truth_766)

    def valid_line(self, cell: Cell, event_type: str, event_time: int, is_copy: bool) -> None:
        """A line that validates. `is_copy`: a byte copy of an event already emitted (same event id)."""
        self.lines += 1
        self.valid_events += 1
        if is_copy:
            self.duplicate_lines += 1
            return
        self.unique_events += 1
        if self.first_event_time is None or event_time < self.first_event_time:
            self.first_event_time = event_time
        if self.last_event_time is None or event_time > self.last_event_time:
            self.last_event_time = event_time
        counts = self.cells.get(cell)
        if counts is None:
            counts = self.cells[cell] = [0, 0, 0]
        if event_type == STATUS_CHANGED:
            counts[2] += 1
            return
        slot = 0 if event_type == SUBMITTED else 1
        counts[slot] += 1
        day = vn_date(event_time)
        per_day = self.days.get(day)
        if per_day is None:
            per_day = self.days[day] = [0, 0]
        per_day[slot] += 1

    def malformed_line(self) -> None:
        """A line the product must reject; it counts for nothing but its line number."""
        self.lines += 1
        self.malformed_lines.append(self.lines)

    def result(self, facts: dict[str, Any]) -> dict[str, Any]:
        """The truth document: the run's facts, then totals, the online share, by_day and by_cell."""
        totals = self._totals()
        synced = totals["synced"]
        return {
            **facts,
            "lines": self.lines,
            "valid_events": self.valid_events,
            "unique_events": self.unique_events,
            "duplicate_lines": self.duplicate_lines,
            "malformed_lines": sorted(self.malformed_lines),
            "first_event_time": _iso_or_none(self.first_event_time),
            "last_event_time": _iso_or_none(self.last_event_time),
            "totals": totals,
            "synced_online_share": totals["synced_online"] / synced if synced else None,
            "by_day": [
                {"date": day, "submitted": counts[0], "synced": counts[1]} for day, counts in sorted(self.days.items())
            ],
            "by_cell": [
                {
                    "service_code": cell[0],
                    "province_code": cell[1],
                    "channel": cell[2],
                    "online_level": cell[3],
                    "submitted": counts[0],
                    "synced": counts[1],
                    "status_changes": counts[2],
                }
                for cell, counts in sorted(self.cells.items())
                if any(counts)
            ],
            "index_766": self.index.result(),
        }

    def _totals(self) -> dict[str, int]:
        totals = dict.fromkeys(
            (
                "submitted",
                "synced",
                "synced_online",
                "synced_in_person",
                "synced_postal",
                "submitted_online",
                "submitted_in_person",
                "submitted_postal",
                "status_changes",
            ),
            0,
        )
        channel_names = {_ONLINE: "online", _IN_PERSON: "in_person", _POSTAL: "postal"}
        for (_, _, channel, _), (submitted, synced, changes) in self.cells.items():
            name = channel_names[channel]
            totals["submitted"] += submitted
            totals["synced"] += synced
            totals["status_changes"] += changes
            totals[f"submitted_{name}"] += submitted
            totals[f"synced_{name}"] += synced
        return totals


def _iso_or_none(epoch_seconds: int | None) -> str | None:
    return None if epoch_seconds is None else vn_iso(epoch_seconds)


def truth_path_for(out: Path) -> Path:
    """Where the truth of an output file goes by default: `<out>.truth.json`."""
    return out.with_name(out.name + ".truth.json")


def write_truth(path: Path, truth: dict[str, Any]) -> None:
    """Write the truth document as indented JSON (stable bytes for the same run)."""
    Path(path).write_bytes(orjson.dumps(truth, option=orjson.OPT_INDENT_2) + b"\n")


def read_truth(path: Path) -> dict[str, Any]:
    return orjson.loads(Path(path).read_bytes())
