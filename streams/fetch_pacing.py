"""Pace fetches that a broker answers empty before their wait time is up.

A Kafka broker holds a fetch with nothing to return for up to `fetch.max.wait.ms` (Faust asks 1.5 s), so
an idle consumer sends a few requests a second. A broker that answers at once instead (the embedded one
does) would make aiokafka's fetcher loop on empty answers: a whole core for an idle worker, and CPU taken
from a busy one. After such an early empty answer the next fetch to that broker waits out the rest of a
short pause. With a broker that holds fetches nothing changes: its empty answers come after the wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka.consumer.fetcher import Fetcher

EMPTY_FETCH_PAUSE = 0.05  # seconds: at most 20 early empty answers a second per broker; adds <= 50 ms of latency

FetchRequest = Callable[..., Awaitable[bool]]


def paced(fetch: FetchRequest, pause: float = EMPTY_FETCH_PAUSE) -> FetchRequest:
    """`Fetcher._proc_fetch_request` (True when it buffered records or an error) that, after an early empty
    answer, returns only once `pause` (at most the fetcher's max wait) has passed since the request."""

    async def fetch_paced(fetcher: Any, *args: Any) -> bool:
        started = time.monotonic()
        buffered = await fetch(fetcher, *args)
        if not buffered:
            remaining = min(pause, fetcher._fetch_max_wait_ms / 1000) - (time.monotonic() - started)
            # Closing or unassigning, the fetcher cancels its fetch tasks and then awaits them: they must not raise.
            with contextlib.suppress(asyncio.CancelledError):
                if remaining > 0:
                    await asyncio.sleep(remaining)  # the fetcher sends no new request to this node meanwhile
        return buffered

    fetch_paced.paced = True  # type: ignore[attr-defined]
    return fetch_paced


def pace_empty_fetches() -> None:
    """Install `paced` on aiokafka's Fetcher (process-wide, once)."""
    if not getattr(Fetcher._proc_fetch_request, "paced", False):
        Fetcher._proc_fetch_request = paced(Fetcher._proc_fetch_request)  # type: ignore[method-assign]
