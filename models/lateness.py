"""Lateness: an event is judged against the arrival time its own Kafka message carries, and nothing else.

The arrival time is the message's timestamp: the producer's CreateTime (every Kafka client stamps a message
with its wall clock unless told otherwise), or the broker's LogAppendTime on a topic configured so. A
backfilling producer states an earlier arrival in the `dvcpulse-arrival` header (epoch milliseconds as ASCII
digits; `dvcpulse publish --backfill` sets it from the file's own clock) rather than by back-dating the
message: Kafka deletes segments by their message timestamps, so back-dated messages would be removed by
time-based retention within minutes, before the worker reads them. The header can only move an arrival
earlier than the message's timestamp, never later. An event is
- **late** when its time is more than the horizon before its arrival: kept in history, changes no aggregate;
- **from the future** when its time is more than the tolerance after its arrival (a wrong clock or time
  zone): dead-lettered, so one wrong timestamp can never move anything else;
- on time otherwise.

The judgement is a function of the event and its message alone: it does not depend on the partition the
message landed on, on the events before it, on how the worker batches or on a replay (Kafka never changes a
message's timestamp). A message without a timestamp (the pre-0.10 message format, timestamp -1) has no
arrival to judge by: its events are on time.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

HOUR_MS = 3600 * 1000
ARRIVAL_HEADER = "dvcpulse-arrival"
_MAX_HEADER_DIGITS = 15  # epoch ms until the year 33658


class Verdict(Enum):
    ON_TIME = "on time"
    LATE = "late"
    FUTURE = "future"


@dataclass(frozen=True, slots=True)
class Lateness:
    horizon_ms: int  # an event more than this before its arrival is late
    future_tolerance_ms: int = HOUR_MS  # an event more than this after its arrival is rejected

    def judge(self, event_time_ms: int, arrival_ms: int | None) -> Verdict:
        if arrival_ms is None:
            return Verdict.ON_TIME
        if event_time_ms < arrival_ms - self.horizon_ms:
            return Verdict.LATE
        if event_time_ms > arrival_ms + self.future_tolerance_ms:
            return Verdict.FUTURE
        return Verdict.ON_TIME

    def future_reason(self) -> str:
        tolerance = self.future_tolerance_ms / HOUR_MS
        return (
            f"event_time is more than {tolerance:g} h after its message's arrival time (the tolerance): "
            "a wrong clock or time zone at the portal?"
        )


def timestamp_ms(timestamp_seconds: float | None) -> int | None:
    """A message's timestamp as epoch milliseconds (Faust gives seconds as a float: Kafka's ms / 1000);
    None when the message carries none."""
    if timestamp_seconds is None or timestamp_seconds < 0:
        return None
    return round(timestamp_seconds * 1000)


def arrival_ms(message_timestamp_ms: int | None, header: bytes | None) -> int | None:
    """The arrival a message's events are judged by: its timestamp, or the earlier arrival its
    `dvcpulse-arrival` header states. ValueError for a header that is not epoch milliseconds."""
    if header is None:
        return message_timestamp_ms
    if not (0 < len(header) <= _MAX_HEADER_DIGITS and header.isdigit()):
        shown = header[:40].decode("ascii", "replace")
        raise ValueError(f"{ARRIVAL_HEADER} header must be epoch milliseconds as ASCII digits, not {shown!r}")
    stated = int(header)
    return stated if message_timestamp_ms is None else min(stated, message_timestamp_ms)
