"""Early empty fetch answers are paced; answers with records, and late empty ones, are not (pure unit tests)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka.consumer.fetcher import Fetcher

import streams.fetch_pacing as pacing


def run_paced(monkeypatch: pytest.MonkeyPatch, *, buffered: bool, answer_after: float, max_wait_ms: int) -> list[float]:
    """Run one paced fetch whose answer takes `answer_after` seconds; returns the pauses it asked for."""
    now = [100.0]
    pauses: list[float] = []
    monkeypatch.setattr(pacing.time, "monotonic", lambda: now[0])

    async def sleep(seconds: float) -> None:
        pauses.append(seconds)

    monkeypatch.setattr(pacing.asyncio, "sleep", sleep)

    async def fetch(fetcher: Any, *args: Any) -> bool:
        now[0] += answer_after
        return buffered

    fetcher = SimpleNamespace(_fetch_max_wait_ms=max_wait_ms)
    assert asyncio.run(pacing.paced(fetch, pause=0.05)(fetcher, "assignment", 1, "request")) is buffered
    return pauses


def test_an_early_empty_answer_waits_out_the_rest_of_the_pause(monkeypatch: pytest.MonkeyPatch) -> None:
    assert run_paced(monkeypatch, buffered=False, answer_after=0.01, max_wait_ms=1500) == [pytest.approx(0.04)]


def test_the_pause_never_exceeds_the_fetch_max_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    assert run_paced(monkeypatch, buffered=False, answer_after=0.0, max_wait_ms=20) == [pytest.approx(0.02)]


def test_records_or_a_late_empty_answer_go_straight_on(monkeypatch: pytest.MonkeyPatch) -> None:
    assert run_paced(monkeypatch, buffered=True, answer_after=0.0, max_wait_ms=1500) == []
    assert run_paced(monkeypatch, buffered=False, answer_after=1.5, max_wait_ms=1500) == []


def test_a_pause_cancelled_by_closing_ends_the_fetch_quietly() -> None:
    """aiokafka's Fetcher.close() cancels its fetch tasks and then awaits them: they must not raise."""

    async def empty(fetcher: object, *args: object) -> bool:
        return False

    async def close_while_pausing() -> bool:
        task = asyncio.ensure_future(pacing.paced(empty, pause=60)(SimpleNamespace(_fetch_max_wait_ms=60_000)))
        await asyncio.sleep(0.01)
        task.cancel()
        return await task

    assert asyncio.run(close_while_pausing()) is False


def test_installed_once_on_aiokafkas_fetcher(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Fetcher, "_proc_fetch_request", Fetcher._proc_fetch_request)  # restored afterwards
    pacing.pace_empty_fetches()
    installed = Fetcher._proc_fetch_request
    pacing.pace_empty_fetches()
    assert Fetcher._proc_fetch_request is installed and installed.paced  # type: ignore[attr-defined]
