"""The demo's traffic (dvcpulse/commands/up_traffic.py): in the current time, never from the future, new record
ids on every run, and days that follow one another for as long as `up` runs."""

from __future__ import annotations

import asyncio
import itertools
import threading
from datetime import UTC, datetime, timedelta
from functools import partial

import orjson
import pytest

from dvcpulse.commands import up_traffic
from dvcpulse.commands.up_traffic import day_config, event_time, live_days, new_run_id, paced, restamp
from dvcpulse.seeds.ground_truth import vn_iso

LINE = b'{"event_id":"e1","event_time":"2025-09-01T08:00:00+07:00","status":1}'


class FakeClock:
    """Wall-clock time that moves only when paced() sleeps."""

    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


def _paced(lines: list[tuple[float | None, bytes]], clock: FakeClock, **options: object) -> list[tuple[float, bytes]]:
    """(wall-clock time when sent, line) for each line paced() yields."""

    async def collect() -> list[tuple[float, bytes]]:
        sent = []
        async for line in paced(lines, stopping=threading.Event(), clock=clock.time, **options):  # type: ignore[arg-type]
            sent.append((clock.now, line))
        return sent

    return asyncio.run(collect())


def test_event_time_is_read_from_the_line() -> None:
    assert event_time(LINE) == datetime(2025, 9, 1, 1, 0, tzinfo=UTC).timestamp()
    assert event_time(b'{"event_time":"2025-09-01T01:00:00Z"}') == datetime(2025, 9, 1, 1, tzinfo=UTC).timestamp()
    assert event_time(b'{"event_id":"x"}') is None
    assert event_time(b'{"event_time":"2025-09-01T08:00:00"}') is None  # naive: the publisher rejects it
    assert event_time(b'{"event_time":"yesterday"}') is None


def test_restamp_replaces_only_the_event_time() -> None:
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC).timestamp()
    stamped = orjson.loads(restamp(LINE, at + 0.7))
    assert stamped == {"event_id": "e1", "event_time": vn_iso(int(at)), "status": 1}
    assert restamp(b'{"event_id":"x"}', at) == b'{"event_id":"x"}'


def test_the_past_goes_at_once_and_each_later_event_when_its_time_comes(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock(1_000.0)
    monkeypatch.setattr(up_traffic.asyncio, "sleep", clock.sleep)
    lines = [(900.0, b"a"), (1_000.0, b"b"), (None, b"no time"), (1_004.5, b"c"), (1_010.0, b"d")]
    sent = _paced(lines, clock, live_from=1_000.0)
    assert [line for _, line in sent] == [b"a", b"b", b"no time", b"c", b"d"]
    assert [when for when, _ in sent[:3]] == [1_000.0, 1_000.0, 1_000.0]
    for (when, _), (at, _) in zip(sent[3:], lines[3:], strict=True):
        assert at is not None and at <= when < at + 0.3  # never before its time, and not much later


def test_a_speed_up_compresses_the_live_part_and_stamps_events_as_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
    clock = FakeClock(start)
    monkeypatch.setattr(up_traffic.asyncio, "sleep", clock.sleep)
    past = restamp(LINE, start - 3_600)
    later = restamp(LINE, start + 600)
    sent = _paced([(start - 3_600, past), (start + 600, later)], clock, live_from=start, speedup=60.0)
    assert sent[0] == (start, past)  # the past keeps its times
    when, line = sent[1]
    assert start + 10 <= when < start + 10.3  # 600 simulated seconds at 60x
    assert event_time(line) == start + 10 <= when  # stamped with when it was sent, never ahead of it


def test_stopping_ends_the_wait() -> None:
    stopping = threading.Event()
    stopping.set()

    async def collect() -> list[bytes]:
        return [line async for line in paced([(10**12, LINE)], live_from=0.0, stopping=stopping)]

    assert asyncio.run(collect()) == []


def test_live_days_follow_one_another_in_time_order_with_new_record_ids() -> None:
    start = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    days = partial(day_config, "2025", 300, 1, "run1", start)
    lines = list(itertools.islice(live_days(days), 4_000))  # about three simulated days and a bit
    times = [at for at, _ in lines]
    assert times == sorted(times)
    assert times[0] >= start.timestamp()
    events = [orjson.loads(line) for _, line in lines]
    run_ids = {event["record_id"].rsplit("-", 2)[1] for event in events}
    # a run id per simulated day, as serials restart every day
    assert {"run1", "run1.1", "run1.2"} <= run_ids <= {"run1", *(f"run1.{day}" for day in range(1, 5))}
    submitted = [event["record_id"] for event in events if event["event_type"] == "submitted"]
    assert len(submitted) == len(set(submitted))


def test_new_run_ids_differ_and_fit_a_record_id() -> None:
    ids = {new_run_id() for _ in range(50)}
    assert len(ids) == 50
    config = day_config("2025", 10, 1, ids.pop(), datetime.now(UTC) - timedelta(days=1), 0)
    assert config.run_id is not None and config.record_count == 10
