"""Time: diurnal and weekly patterns of submissions, and a sampler that draws instants from them.

In-person and postal filings follow office hours; online filings come around the clock. Times are whole
seconds since the epoch; hours and weekdays are read in Vietnam time (+07:00, no daylight saving).
"""

from __future__ import annotations

import random
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from itertools import accumulate

from dvcpulse.seeds.reference import VIETNAM_UTC_OFFSET_SECONDS

HALF_HOUR = 1800

# In person (and postal, handed in at a post office): offices open 7:30-11:30 and 13:30-17:00.
# Weight per half hour from 07:30 (index 15) to 17:00 (index 34), peaking mid-morning.
_IN_PERSON_HALF_HOURS = {
    15: 0.6, 16: 0.9, 17: 1.0, 18: 1.0, 19: 1.0, 20: 0.9, 21: 0.8, 22: 0.6,
    27: 0.6, 28: 0.85, 29: 0.9, 30: 0.85, 31: 0.75, 32: 0.6, 33: 0.4,
}  # fmt: skip
# Online: around the clock, with office-hour peaks and an evening peak after work.
_ONLINE_HOURS = (
    0.15, 0.08, 0.05, 0.04, 0.05, 0.12, 0.3, 0.6, 0.9, 1.0, 1.0, 0.85,
    0.6, 0.7, 0.9, 0.95, 0.9, 0.7, 0.6, 0.7, 0.8, 0.75, 0.55, 0.3,
)  # fmt: skip
# Monday..Sunday: one-stop shops are busiest on Monday, open a little on Saturday, barely on Sunday.
_IN_PERSON_WEEKDAYS = (1.1, 1.0, 1.0, 1.0, 0.95, 0.3, 0.05)
_ONLINE_WEEKDAYS = (1.0, 1.0, 1.0, 1.0, 0.95, 0.75, 0.65)


def in_person_rate(half_hour: int, weekday: int) -> float:
    """Relative rate of counter (and postal) submissions in a local half hour (0..47) of a weekday (0 = Monday)."""
    return _IN_PERSON_HALF_HOURS.get(half_hour, 0.0) * _IN_PERSON_WEEKDAYS[weekday]


def online_rate(half_hour: int, weekday: int) -> float:
    """Relative rate of online submissions in a local half hour (0..47) of a weekday (0 = Monday)."""
    return _ONLINE_HOURS[half_hour // 2] * _ONLINE_WEEKDAYS[weekday]


@dataclass(frozen=True, slots=True)
class TimeSampler:
    """Draws an instant in [start, end) with density proportional to a rate per local half hour."""

    starts: tuple[int, ...]
    lengths: tuple[int, ...]
    cumulative: tuple[float, ...]

    @classmethod
    def build(cls, start: int, end: int, rate: Callable[[int, int], float]) -> TimeSampler:
        starts, lengths, weights = [], [], []
        cursor = start
        while cursor < end:
            boundary = min(end, (cursor // HALF_HOUR + 1) * HALF_HOUR)  # +07:00 keeps half hours aligned
            local = cursor + VIETNAM_UTC_OFFSET_SECONDS
            weekday = (local // 86400 + 3) % 7  # 1970-01-01 was a Thursday
            starts.append(cursor)
            lengths.append(boundary - cursor)
            weights.append(rate((local % 86400) // HALF_HOUR, weekday) * (boundary - cursor))
            cursor = boundary
        if sum(weights) <= 0:  # e.g. a short window at night for in-person filings: spread evenly
            weights = [float(length) for length in lengths]
        return cls(tuple(starts), tuple(lengths), tuple(accumulate(weights)))

    def sample(self, rng: random.Random) -> int:
        index = bisect_right(self.cumulative, rng.random() * self.cumulative[-1])
        index = min(index, len(self.starts) - 1)
        return self.starts[index] + int(rng.random() * self.lengths[index])
