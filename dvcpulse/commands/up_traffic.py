"""What `dvcpulse up` publishes: simulated traffic in the current time, paced so no event is from the future.

The worker judges each event against its message's timestamp (an event more than a tolerance after it is
dead-lettered as "from the future"), and the dashboards read freshness from the newest event. So the demo
never sends an event before its time: `live_days` simulates one national day after another from `history`
ago, and `paced` sends the events of the past at once and holds each later one until the wall clock reaches
its time. With a speed-up above 1 the simulated clock runs faster than the wall clock after the start, and
each such event is restamped with the moment it is sent (still never ahead of it).
"""

from __future__ import annotations

import asyncio
import heapq
import secrets
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from datetime import datetime, timedelta
from itertools import count

from dvcpulse.seeds.ground_truth import vn_iso
from dvcpulse.seeds.simulator import SimulationConfig, simulate

EVENT_TIME_KEY = b'"event_time":"'
DAY = 86_400

# (the event's time in epoch seconds, or None when the line has none readable; the line)
Timed = tuple[float | None, bytes]


def new_run_id() -> str:
    """A short random id for one `up` run: record ids include it, so a new run never reuses a record id."""
    return secrets.token_hex(3)


def event_time(line: bytes) -> float | None:
    """The event_time of a JSON line in epoch seconds, read without parsing the whole line (None if absent)."""
    start = line.find(EVENT_TIME_KEY)
    if start < 0:
        return None
    start += len(EVENT_TIME_KEY)
    end = line.find(b'"', start)
    try:
        moment = datetime.fromisoformat(line[start:end].decode("ascii"))
    except (ValueError, UnicodeDecodeError):
        return None
    return moment.timestamp() if moment.tzinfo is not None else None


def restamp(line: bytes, at: float) -> bytes:
    """The line with its event_time replaced by `at` (whole seconds, Vietnam time, as the simulator writes)."""
    start = line.find(EVENT_TIME_KEY)
    if start < 0:
        return line
    start += len(EVENT_TIME_KEY)
    end = line.find(b'"', start)
    return line[:start] + vn_iso(int(at)).encode() + line[end:]


def timed(lines: Iterable[bytes]) -> Iterator[Timed]:
    return ((event_time(line), line) for line in lines)


def day_config(
    profile: str, records_per_day: int, seed: int, run_id: str, start: datetime, day: int
) -> SimulationConfig:
    """Simulated day `day` (0 first) of a live run; each day has a run id of its own, so record ids never repeat."""
    return SimulationConfig(
        profile=profile,
        records=records_per_day,
        seed=seed,
        start=start + timedelta(days=day),
        days=1.0,
        run_id=run_id if day == 0 else f"{run_id}.{day}",
    )


def live_days(config_for_day: Callable[[int], SimulationConfig]) -> Iterator[Timed]:
    """Simulated days one after another, for ever, merged in event-time order.

    A record's later events come up to days after it was filed, so the days overlap: day k+1 is opened (its
    records drawn) once every event before its start has been yielded, and its events merge with the tails of
    the days before.
    """
    pending: list[tuple[float, int, bytes, Iterator[Timed]]] = []
    order = count()  # ties keep each day's own order, and the iterators are never compared

    def push(lines: Iterator[Timed]) -> None:
        head = next(lines, None)
        if head is not None:
            at, line = head
            heapq.heappush(pending, (at if at is not None else 0.0, next(order), line, lines))

    day = 0
    next_start = float(config_for_day(0).start_epoch())
    while True:
        while not pending or pending[0][0] >= next_start:
            config = config_for_day(day)
            if not config.record_count:
                raise ValueError("a live run needs at least one filing a day")
            push(timed(simulate(config)))
            day += 1
            next_start = float(config_for_day(day).start_epoch())
        at, _, line, lines = heapq.heappop(pending)
        yield at, line
        push(lines)


async def paced(
    lines: Iterable[Timed],
    *,
    live_from: float,
    speedup: float = 1.0,
    stopping: threading.Event,
    clock: Callable[[], float] = time.time,
) -> AsyncIterator[bytes]:
    """The lines, each held until its time: at once up to `live_from`, then following the wall clock.

    An event at simulated time t after `live_from` is sent at live_from + (t - live_from) / speedup; with a
    speed-up other than 1 it is restamped with that moment. Waiting is asynchronous, so the publisher's
    producer and envelope timer keep running (a partial envelope goes out within a quarter second).
    """
    for at, line in lines:
        if stopping.is_set():
            return
        if at is not None and at > live_from:
            due = live_from + (at - live_from) / speedup
            while (wait := due - clock()) > 0:
                if stopping.is_set():
                    return
                await asyncio.sleep(min(wait, 0.25))
            if speedup != 1.0:
                line = restamp(line, due)
        yield line
