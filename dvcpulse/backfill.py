"""Arrival stamps for a backfill: each event judged as if the file were being sent live, in file order.

A portal sending live stamps its messages with its wall clock (Kafka's CreateTime), and the worker judges
each event against that arrival (dvcpulse.models.lateness). Sending years of history now would make every
old event late; a backfill instead states an arrival for each message in its dvcpulse-arrival header: the
file's own clock, the newest event time read so far, in file order. So an event arrives "when the file says
it did": on time if it is within the horizon of the newest event before it, late if the file itself brings
it more than the horizon after newer ones.

The clock never passes the wall clock: an event dated after now is not history, and is the one kind of
line the clock must not follow (one event dated 2099 would otherwise make everything after it late; a
message could not state an arrival after its own timestamp anyway). Such an event keeps the clock where it
was, and the worker dead-letters it as from the future.

A message states one arrival for all its events. An envelope is stamped with the clock at its first
event and closed before an event whose verdict under that stamp would differ from its verdict under its own
clock, so every event is judged exactly as if it had its own message, whatever the envelope size or the
topic's partition count.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from dvcpulse.models.lateness import Lateness


class BackfillClock:
    """The file's clock: the newest event time read so far (epoch ms)."""

    def __init__(self, lateness: Lateness, wall_clock_ms: Callable[[], int] = lambda: int(time.time() * 1000)):
        self.lateness = lateness
        self.wall_clock_ms = wall_clock_ms
        self.now_ms: int | None = None

    def advance(self, event_time_ms: int) -> int:
        """Read one more event; returns its own arrival stamp (the clock after it)."""
        if self.now_ms is None or event_time_ms > self.now_ms:
            wall = self.wall_clock_ms()
            if event_time_ms <= wall:
                self.now_ms = event_time_ms
            elif self.now_ms is None:
                self.now_ms = wall  # a file that starts in the future: its first line is judged against now
        return self.now_ms

    def same_verdict(self, event_time_ms: int, stamp_ms: int, own_stamp_ms: int) -> bool:
        """Whether an event is judged the same under an envelope's stamp as under its own."""
        judge = self.lateness.judge
        return judge(event_time_ms, stamp_ms) is judge(event_time_ms, own_stamp_ms)
