"""models.lateness, pure: an event judged against its own message's timestamp, at the exact boundaries."""

from __future__ import annotations

import pytest

from dvcpulse.models.lateness import HOUR_MS, Lateness, Verdict, arrival_ms, timestamp_ms

ARRIVAL = 1_757_552_400_000  # 2025-09-11T08:00:00+07:00
JUDGE = Lateness(horizon_ms=7 * 24 * HOUR_MS, future_tolerance_ms=HOUR_MS)


@pytest.mark.parametrize(
    ("event_time_ms", "verdict"),
    [
        (ARRIVAL, Verdict.ON_TIME),
        (ARRIVAL - 7 * 24 * HOUR_MS, Verdict.ON_TIME),  # exactly the horizon before: on time
        (ARRIVAL - 7 * 24 * HOUR_MS - 1, Verdict.LATE),
        (ARRIVAL + HOUR_MS, Verdict.ON_TIME),  # exactly the tolerance after: accepted
        (ARRIVAL + HOUR_MS + 1, Verdict.FUTURE),
        (4_070_908_800_000, Verdict.FUTURE),  # 2099
        (0, Verdict.LATE),
    ],
)
def test_verdict_at_the_boundaries(event_time_ms: int, verdict: Verdict) -> None:
    assert JUDGE.judge(event_time_ms, ARRIVAL) is verdict


def test_without_a_timestamp_every_event_is_on_time() -> None:
    assert JUDGE.judge(0, None) is Verdict.ON_TIME and JUDGE.judge(4_070_908_800_000, None) is Verdict.ON_TIME


@pytest.mark.parametrize(("seconds", "expected"), [(None, None), (-0.001, None), (1757552400.123, 1757552400123)])
def test_timestamp_from_faust_seconds(seconds: float | None, expected: int | None) -> None:
    assert timestamp_ms(seconds) == expected


def test_faust_seconds_round_trip_every_millisecond_exactly() -> None:
    # Faust hands timestamps over as Kafka's milliseconds / 1000.0; rounding back must give the same integer.
    for ms in range(1_757_552_400_000, 1_757_552_400_000 + 100_000, 7):
        assert timestamp_ms(ms / 1000.0) == ms


def test_the_arrival_header_states_an_earlier_arrival_never_a_later_one() -> None:
    assert arrival_ms(ARRIVAL, None) == ARRIVAL
    assert arrival_ms(ARRIVAL, b"1441065600000") == 1_441_065_600_000  # a backfill of 2015
    assert arrival_ms(ARRIVAL, str(ARRIVAL + HOUR_MS).encode()) == ARRIVAL  # cannot claim the future
    assert arrival_ms(None, b"1441065600000") == 1_441_065_600_000
    assert arrival_ms(None, None) is None


@pytest.mark.parametrize("header", [b"", b"-1", b"1.5e12", b" 1441065600000", b"\xff", b"1" * 16, b"\xd9\xa1"])
def test_a_malformed_arrival_header_is_refused(header: bytes) -> None:
    with pytest.raises(ValueError, match="dvcpulse-arrival header must be epoch milliseconds"):
        arrival_ms(ARRIVAL, header)
