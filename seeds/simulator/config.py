"""Configuration: everything a run depends on, validated up front, and the parsers for its text options.

The same config gives the same bytes; the only wall clock is `start="now"` (and `until="now"`). The knobs are
fractions: `duplicates`, `out_of_order` and `malformed` per unique valid event, `late` and `legacy_codes` per
record. `run_id` tells runs with the same seed apart (see `randomness` and `events`); `until` cuts a run off:
events that would arrive after it are not emitted (nor counted in the truth), as in a stream observed up to now.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from dvcpulse.seeds.ground_truth import vn_iso
from dvcpulse.seeds.reference import VIETNAM_TZ
from dvcpulse.seeds.simulator.profiles import PROFILES
from dvcpulse.seeds.simulator.provinces import legacy_capacity

DEFAULT_START = datetime(2025, 9, 1, tzinfo=VIETNAM_TZ)
DEFAULT_LATE_BY = timedelta(days=2)
# A run id goes into record ids (models.filing_event.CODE_PATTERN allows these characters) and random seeds.
RUN_ID_PATTERN = re.compile(r"[A-Za-z0-9.]{1,16}")


@dataclass(frozen=True, slots=True)
class SimulationConfig:
    """Everything a run depends on; the same config gives the same bytes (unless start is "now")."""

    profile: str = "2025"
    records: int | None = None  # None: the profile's records_per_day x days
    seed: int = 1
    start: datetime | str = DEFAULT_START  # aware datetime, ISO 8601 text, or "now"
    days: float = 1.0
    duplicates: float = 0.0
    out_of_order: float = 0.0
    late: float = 0.0
    late_by: timedelta = DEFAULT_LATE_BY
    malformed: float = 0.0
    legacy_codes: float = 0.0
    run_id: str | None = None  # None: record ids and random streams of the seed alone (as before run ids)
    until: datetime | str | None = None  # aware datetime, ISO 8601 text or "now"; None: every event

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise ValueError(f"profile must be one of {', '.join(PROFILES)}, not {self.profile!r}")
        if self.records is not None and self.records < 0:
            raise ValueError("records must be >= 0")
        if not self.days > 0:
            raise ValueError("days must be > 0")
        for name in ("duplicates", "out_of_order", "late", "malformed", "legacy_codes"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be a fraction in [0, 1]")
        if self.legacy_codes > legacy_capacity():
            raise ValueError(
                f"legacy_codes can be at most {legacy_capacity():.3f}: the population share of pre-2025 units "
                "whose code is not also a 2025 code"
            )
        if self.late_by < timedelta(0):
            raise ValueError("late_by must not be negative")
        parse_start(self.start)  # fail early on a bad start
        if self.until is not None:
            parse_start(self.until, name="until")
        if self.run_id is not None and not RUN_ID_PATTERN.fullmatch(self.run_id):
            raise ValueError(f"run_id must be 1-16 letters, digits or dots, not {self.run_id!r}")

    @property
    def record_count(self) -> int:
        if self.records is not None:
            return self.records
        return round(PROFILES[self.profile].records_per_day * self.days)

    def start_epoch(self) -> int:
        return int(parse_start(self.start).timestamp())

    def until_epoch(self) -> int | None:
        """The last second an event may arrive at, or None for no limit."""
        return None if self.until is None else int(parse_start(self.until, name="until").timestamp())

    def facts(self, start_epoch: int, until_epoch: int | None = None) -> dict[str, Any]:
        """The run's options as the truth file records them (times resolved: "now" as the instant used)."""
        return {
            "profile": self.profile,
            "seed": self.seed,
            "records": self.record_count,
            "options": {
                "start": vn_iso(start_epoch),
                "days": self.days,
                "duplicates": self.duplicates,
                "out_of_order": self.out_of_order,
                "late": self.late,
                "late_by_seconds": int(self.late_by.total_seconds()),
                "malformed": self.malformed,
                "legacy_codes": self.legacy_codes,
                "run_id": self.run_id,
                "until": None if until_epoch is None else vn_iso(until_epoch),
            },
        }


def parse_start(value: datetime | str, name: str = "start") -> datetime:
    """An aware datetime from a datetime, ISO 8601 text or "now"; a time without offset is Vietnam time."""
    if isinstance(value, str) and value.strip().lower() == "now":
        return datetime.now(VIETNAM_TZ).replace(microsecond=0)
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            example = "2025-09-01T00:00:00+07:00"
            raise ValueError(f"{name} must be ISO 8601 (e.g. {example}) or 'now', not {value!r}") from None
    return value if value.tzinfo is not None else value.replace(tzinfo=VIETNAM_TZ)


def parse_duration(text: str) -> timedelta:
    """A duration written 2d, 36h, 90m or 45s; a bare number means days."""
    text = text.strip().lower()
    units = {"d": 86_400, "h": 3_600, "m": 60, "s": 1}
    try:
        if text and text[-1] in units:
            return timedelta(seconds=float(text[:-1]) * units[text[-1]])
        return timedelta(days=float(text))
    except ValueError:
        raise ValueError(f"not a duration: {text!r} (use e.g. 2d, 36h, 90m)") from None
