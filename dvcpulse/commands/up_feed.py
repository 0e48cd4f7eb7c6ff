"""The publishing side of `dvcpulse up`: a background thread that sends lines through dvcpulse.publisher."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from dvcpulse.publisher import PublishSummary, publish_lines
from dvcpulse.settings import Settings

# The lines to send, given the event that asks them to stop (a live source checks it while it waits).
Source = Callable[[threading.Event], Iterable[bytes] | AsyncIterable[bytes]]


@dataclass
class Feed:
    """Publishes a source's lines in a background thread (its own event loop) and counts them."""

    source: Source
    settings: Settings
    bootstrap: str
    rate: float | None = None
    backfill: bool = False  # the lines are history (a file): judged by their own clock (dvcpulse.backfill)
    rejects_path: Path | None = None
    read: int = 0  # lines handed to the publisher so far
    summary: PublishSummary | None = None
    error: BaseException | None = None
    exhausted: bool = False  # every line of the source was handed to the publisher
    stopping: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    async def _counted(self) -> AsyncIterator[bytes]:
        lines = self.source(self.stopping)
        if isinstance(lines, AsyncIterable):
            async for line in lines:
                if self.stopping.is_set():
                    return  # publish_lines then flushes what it has and returns its summary
                self.read += 1
                yield line
        else:
            for line in lines:
                if self.stopping.is_set():
                    return
                self.read += 1
                yield line
        self.exhausted = not self.stopping.is_set()

    def _run(self) -> None:
        options = {"backfill": True} if self.backfill else {}
        try:
            self.summary = asyncio.run(
                publish_lines(
                    self._counted(),
                    settings=self.settings,
                    bootstrap=self.bootstrap,
                    topic=self.settings.events_topic,
                    rate=self.rate,
                    rejects_path=self.rejects_path,
                    **options,
                )
            )
        except BaseException as error:  # reported by the main thread
            self.error = error

    def start(self) -> Feed:
        self.thread = threading.Thread(target=self._run, name="dvcpulse-feed", daemon=True)
        self.thread.start()
        return self

    @property
    def done(self) -> bool:
        return self.thread is not None and not self.thread.is_alive()

    @property
    def published(self) -> int:
        """Events sent: the publisher's count once it is done, else the lines read so far."""
        return self.summary.events if self.summary is not None else self.read

    def stop(self, timeout: float = 30.0) -> None:
        """Stop feeding and wait for the publisher to flush, before the broker goes away."""
        self.stopping.set()
        if self.thread is not None:
            self.thread.join(timeout)
