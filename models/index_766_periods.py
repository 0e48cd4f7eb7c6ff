"""Periods of the 766 index: a Vietnam-time month, quarter or year, or a rolling window, as [start, end).

The portal scores by month, quarter or year (`timeType`); its days are Vietnam's (UTC+07:00, no daylight
saving). A rolling window is any [end - length, end), for live views. Pure: no I/O, no wall clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from dvcpulse.seeds.reference import VIETNAM_TZ

PeriodKind = Literal["month", "quarter", "year"]
PERIOD_KINDS: tuple[PeriodKind, ...] = ("month", "quarter", "year")


@dataclass(frozen=True, slots=True)
class Period:
    """[start, end): an event at `start` is in the period, one at `end` is in the next."""

    key: str  # "2025-09", "2025-Q3", "2025", or "rolling:<seconds>s@<end>"
    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("period bounds must be aware datetimes")
        if not self.start < self.end:
            raise ValueError(f"period {self.key} is empty: start {self.start} is not before end {self.end}")

    def contains(self, moment: datetime) -> bool:
        return self.start <= moment < self.end

    @classmethod
    def month(cls, year: int, month: int) -> Period:
        start = datetime(year, month, 1, tzinfo=VIETNAM_TZ)
        end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=VIETNAM_TZ)
        return cls(f"{year:04d}-{month:02d}", start, end)

    @classmethod
    def quarter(cls, year: int, quarter: int) -> Period:
        if not 1 <= quarter <= 4:
            raise ValueError(f"quarter must be 1..4, not {quarter}")
        first = 3 * quarter - 2
        start = datetime(year, first, 1, tzinfo=VIETNAM_TZ)
        end = Period.month(year, first + 2).end
        return cls(f"{year:04d}-Q{quarter}", start, end)

    @classmethod
    def year(cls, year: int) -> Period:
        start, end = datetime(year, 1, 1, tzinfo=VIETNAM_TZ), datetime(year + 1, 1, 1, tzinfo=VIETNAM_TZ)
        return cls(f"{year:04d}", start, end)

    @classmethod
    def rolling(cls, end: datetime, length: timedelta) -> Period:
        seconds = int(length.total_seconds())
        return cls(f"rolling:{seconds}s@{end.astimezone(VIETNAM_TZ).isoformat()}", end - length, end)


def period_of(moment: datetime, kind: PeriodKind) -> Period:
    """The calendar period (Vietnam time) that holds `moment`."""
    local = moment.astimezone(VIETNAM_TZ)
    if kind == "month":
        return Period.month(local.year, local.month)
    if kind == "quarter":
        return Period.quarter(local.year, (local.month - 1) // 3 + 1)
    return Period.year(local.year)


def periods_between(first: datetime, last: datetime, kind: PeriodKind) -> Iterator[Period]:
    """Every calendar period of `kind` from the one holding `first` to the one holding `last`, in order."""
    period = period_of(first, kind)
    while period.start <= last:
        yield period
        period = period_of(period.end, kind)
