"""Portal-side publisher: validate JSON Lines filing events and send the valid ones to Kafka, batched.

Each input line is checked with the same decoder the worker uses, so a portal learns about a bad event
before sending it. Valid events go out as the original line bytes, either one per message (keyed by
record_id) or in envelopes: JSON arrays of up to N events that share a partition. Either way each event
goes to the partition owning its record (`key_partition`, CRC-32 of record_id: what the worker expects,
and librdkafka's default for a key), so every record's events stay in one partition, in file order, and
the worker applies them without forwarding.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import stat
import sys
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.client import AIOKafkaClient
from aiokafka.protocol.admin import ApiVersionRequest
from pydantic import ValidationError

from dvcpulse.backfill import BackfillClock
from dvcpulse.models.decode import FieldError, decode_event, field_errors, safe_raw
from dvcpulse.models.lateness import ARRIVAL_HEADER, Verdict
from dvcpulse.models.partitioning import key_partition
from dvcpulse.settings import Settings
from dvcpulse.streams.internal import epoch_ms

log = logging.getLogger(__name__)

# Kafka's default message.max.bytes is about 1 MB; an envelope closes early rather than exceed it.
MAX_ENVELOPE_BYTES = 900_000
# A partial envelope waits at most this long, so a slow (rate-limited or live) stream still flows.
ENVELOPE_MAX_WAIT_S = 0.25
_INIT_PRODUCER_ID = 22  # Kafka API key; brokers that know it support idempotent producers
_YIELD_EVERY = 1000  # lines between event-loop yields, so the producer's sender task gets to run
_PROGRESS_EVERY = 2000

RejectCallback = Callable[[int, str], None]


class PublishError(RuntimeError):
    """Publishing could not proceed: missing topic, unreachable broker, failed delivery."""


@dataclass(frozen=True, slots=True)
class PublishSummary:
    events: int  # valid events sent
    messages: int  # Kafka messages they went out in
    rejected: int  # lines that failed validation
    lines: int  # input lines read, blank ones included
    payload_bytes: int  # bytes of event JSON sent (message values)
    seconds: float
    late_on_arrival: int = 0  # sent with the wall clock but older than the lateness horizon: history only

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0

    @property
    def megabytes_per_second(self) -> float:
        return self.payload_bytes / 1e6 / self.seconds if self.seconds > 0 else 0.0

    def __str__(self) -> str:
        text = (
            f"sent {self.events:,} events in {self.messages:,} messages, rejected {self.rejected:,}, "
            f"{self.events_per_second:,.0f} events/s"
        )
        if self.late_on_arrival:
            text += (
                f"; {self.late_on_arrival:,} events are older than the lateness horizon and count in no aggregate "
                "(history only): to load history, publish it with --backfill"
            )
        return text


class _Rejects:
    """Writes rejected lines as JSONL, creating the file only when there is something to write."""

    def __init__(self, path: Path | None, on_reject: RejectCallback | None):
        self.path = path
        self.on_reject = on_reject
        self.count = 0
        self._file: IO[bytes] | None = None

    def add(self, line_number: int, raw: bytes, errors: tuple[FieldError, ...]) -> None:
        self.count += 1
        reason = "; ".join(str(e) for e in errors)
        if self.on_reject is not None:
            self.on_reject(line_number, reason)
        if self.path is None:
            return
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("wb")
        record = {
            "line": line_number,
            "reason": reason,
            "errors": [e.as_dict() for e in errors],
            "raw": safe_raw(raw).decode("utf-8", "replace"),
        }
        self._file.write(orjson.dumps(record) + b"\n")

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
        elif self.path is not None and self.path.exists():
            # A rejects file from an earlier run would now be misleading.
            log.info("no rejects; removing old %s", self.path)
            self.path.unlink()


class _Throttle:
    """Caps the event rate by sleeping whenever the sender is ahead of schedule."""

    def __init__(self, rate: float | None):
        self.rate = rate
        self.start = time.monotonic()

    async def pace(self, sent: int) -> None:
        if not self.rate:
            return
        ahead = sent / self.rate - (time.monotonic() - self.start)
        if ahead > 0.002:
            await asyncio.sleep(ahead)


class _Sender:
    """Sends messages and keeps delivery accounting; all sends are serialised to keep per-partition order."""

    def __init__(self, producer: AIOKafkaProducer, topic: str):
        self.producer = producer
        self.topic = topic
        self.messages = 0
        self.failure: BaseException | None = None
        self.lock = asyncio.Lock()

    def _delivered(self, future: asyncio.Future[Any]) -> None:
        if self.failure is None and not future.cancelled() and future.exception() is not None:
            self.failure = future.exception()

    def check(self) -> None:
        if self.failure is not None:
            raise PublishError(f"delivery to {self.topic} failed: {self.failure!r}") from self.failure

    async def send(
        self, value: bytes, key: bytes | None = None, partition: int | None = None, arrival_ms: int | None = None
    ) -> None:
        """Send one message; `arrival_ms` (backfills) goes in the dvcpulse-arrival header."""
        self.check()
        headers = None if arrival_ms is None else [(ARRIVAL_HEADER, str(arrival_ms).encode())]
        future = await self.producer.send(self.topic, value, key=key, partition=partition, headers=headers)
        future.add_done_callback(self._delivered)
        self.messages += 1


class _Envelopes:
    """Per-partition buffers of event lines, sent as JSON arrays when full, too big, or too old."""

    def __init__(self, sender: _Sender, partitions: int, size: int, clock: BackfillClock | None = None):
        self.sender = sender
        self.size = size
        self.buffers: list[list[bytes]] = [[] for _ in range(partitions)]
        self.nbytes = [0] * partitions
        self.opened = [0.0] * partitions
        self.stamps: list[int | None] = [None] * partitions  # backfill: each open envelope's timestamp
        self.partitions = partitions
        self.clock = clock
        self._ticker: asyncio.Task[None] | None = None

    async def add(self, key: bytes, line: bytes, event_time_ms: int = 0) -> None:
        partition = key_partition(key, self.partitions)
        if self.nbytes[partition] + len(line) + 1 > MAX_ENVELOPE_BYTES:
            await self._flush(partition)
        if self.clock is not None:
            own = self.clock.advance(event_time_ms)
            stamp = self.stamps[partition]
            if stamp is not None and self.buffers[partition] and not self.clock.same_verdict(event_time_ms, stamp, own):
                await self._flush(partition)
            if not self.buffers[partition]:
                self.stamps[partition] = own
        buffer = self.buffers[partition]
        if not buffer:
            self.opened[partition] = time.monotonic()
        buffer.append(line)
        self.nbytes[partition] += len(line) + 1
        if len(buffer) >= self.size:
            await self._flush(partition)

    async def _flush(self, partition: int) -> None:
        async with self.sender.lock:  # swap and send atomically: a concurrent flush can't reorder
            lines = self.buffers[partition]
            if not lines:
                return
            self.buffers[partition] = []
            self.nbytes[partition] = 0
            value = b"[" + b",".join(lines) + b"]"
            await self.sender.send(value, partition=partition, arrival_ms=self.stamps[partition])

    async def flush_all(self, older_than: float | None = None) -> None:
        now = time.monotonic()
        for partition, lines in enumerate(self.buffers):
            if lines and (older_than is None or now - self.opened[partition] >= older_than):
                await self._flush(partition)

    async def _tick(self) -> None:
        try:
            while True:
                await asyncio.sleep(ENVELOPE_MAX_WAIT_S / 2)
                await self.flush_all(older_than=ENVELOPE_MAX_WAIT_S)
        except Exception as error:  # surfaced by the main loop's next send, via sender.check()
            self.sender.failure = self.sender.failure or error

    def __enter__(self) -> _Envelopes:
        self._ticker = asyncio.get_running_loop().create_task(self._tick())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._ticker is not None:
            self._ticker.cancel()


async def _numbered(lines: Iterable[bytes] | AsyncIterable[bytes]) -> AsyncIterator[tuple[int, bytes]]:
    # Yield to the loop now and then: an iterator that never awaits would starve the producer's sender.
    number = 0
    if isinstance(lines, AsyncIterable):
        async for line in lines:
            number += 1
            yield number, line
            if number % _YIELD_EVERY == 0:
                await asyncio.sleep(0)
        return
    for number, line in enumerate(lines, 1):
        yield number, line
        if number % _YIELD_EVERY == 0:
            await asyncio.sleep(0)


async def _broker_facts(bootstrap: str, topic: str, options: dict[str, object]) -> tuple[int, bool]:
    """(partition count of topic, whether the broker supports idempotent producers).

    Reads all-topics metadata instead of asking for the topic by name: brokers with auto-creation on
    would otherwise create a missing topic with a default partition count and we would publish there.
    """
    client = AIOKafkaClient(bootstrap_servers=bootstrap, **options)
    try:
        await client.bootstrap()
        cluster = await client.fetch_all_metadata()
        partitions = cluster.partitions_for_topic(topic)
        versions = await client.send(client.get_random_node(), ApiVersionRequest())
    finally:
        await client.close()
    if not partitions:
        raise PublishError(
            f"topic {topic!r} does not exist on {bootstrap}; create it first "
            "(`dvcpulse broker` creates dvcpulse's topics on the local Kafka broker)"
        )
    idempotent = any(api_key == _INIT_PRODUCER_ID for api_key, *_ in versions.api_versions)
    return len(partitions), idempotent


@contextlib.contextmanager
def _progress_bar(enabled: bool, total_bytes: int | None) -> Iterator[Callable[[int, int], None]]:
    """Yields update(bytes_read, events_done); a no-op unless enabled and stderr is a terminal."""
    if not enabled or not sys.stderr.isatty():
        yield lambda read, done: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    columns = [
        TextColumn("publishing"),
        BarColumn(),
        TextColumn("{task.percentage:>5.1f}%" if total_bytes else ""),
        TextColumn("{task.fields[events]:,} lines"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ]
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("publish", total=total_bytes, events=0)
        yield lambda read, done: bar.update(task, completed=read, events=done)


async def publish_lines(
    lines: Iterable[bytes] | AsyncIterable[bytes],
    *,
    settings: Settings,
    bootstrap: str,
    topic: str,
    envelope: int = 100,
    rate: float | None = None,
    rejects_path: Path | None,
    progress: bool = False,
    progress_total_bytes: int | None = None,
    on_reject: RejectCallback | None = None,
    backfill: bool = False,
) -> PublishSummary:
    """Validate JSON Lines events and publish the valid ones; see the module docstring for the layout.

    Events arrive when their message is sent (its timestamp), as any live Kafka client's do, unless
    `backfill`: then each message states the file's own clock as its arrival in the dvcpulse-arrival header
    (dvcpulse.backfill), so history loads on time.

    Blank lines are skipped. Rejected lines go to rejects_path (JSONL, redacted) and to on_reject(line
    number, reason). Raises PublishError when the topic is missing or a delivery fails, and aiokafka's
    KafkaConnectionError when the broker cannot be reached.
    """
    if envelope < 1:
        raise ValueError("envelope must be >= 1")
    if rate is not None and rate <= 0:
        raise ValueError("rate must be > 0")
    options = settings.kafka_client_options()
    partitions, idempotent = await _broker_facts(bootstrap, topic, options)
    if not idempotent:
        log.warning("broker does not support idempotent producers; a retry could duplicate an event")
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=idempotent,
        linger_ms=20,
        max_batch_size=1 << 20,
        compression_type=settings.producer_compression,
        **options,
    )
    await producer.start()
    sender = _Sender(producer, topic)
    rejects = _Rejects(rejects_path, on_reject)
    lateness = settings.lateness()
    clock = BackfillClock(lateness) if backfill else None
    envelopes = _Envelopes(sender, partitions, envelope, clock) if envelope > 1 else None
    now_ms = int(time.time() * 1000)
    late_now = 0  # events sent with the wall clock that are already late on arrival
    throttle = _Throttle(rate)
    events = payload = read = line_count = 0
    started = time.monotonic()
    try:
        with _progress_bar(progress, progress_total_bytes) as show, envelopes or contextlib.nullcontext():
            async for line_count, raw_line in _numbered(lines):
                read += len(raw_line)
                line = raw_line.strip()
                if line_count % _PROGRESS_EVERY == 0:
                    show(read, line_count)
                if not line:
                    continue
                try:
                    event = decode_event(line)
                except ValidationError as error:
                    rejects.add(line_count, line, field_errors(error))
                    continue
                key = event.record_id.encode()
                time_ms = epoch_ms(event.event_time)
                if clock is None and lateness.judge(time_ms, now_ms) is Verdict.LATE:
                    late_now += 1
                if envelopes is not None:
                    await envelopes.add(key, line, time_ms)
                else:
                    # no ticker without envelopes, so no lock needed
                    stamp = None if clock is None else clock.advance(time_ms)
                    await sender.send(line, key=key, partition=key_partition(key, partitions), arrival_ms=stamp)
                events += 1
                payload += len(line)
                await throttle.pace(events)
            show(read, line_count)
            if envelopes is not None:
                await envelopes.flush_all()
        await producer.flush()
        sender.check()
    finally:
        rejects.close()
        await producer.stop()
    return PublishSummary(
        events=events,
        messages=sender.messages,
        rejected=rejects.count,
        lines=line_count,
        payload_bytes=payload,
        seconds=time.monotonic() - started,
        late_on_arrival=late_now,
    )


async def stdin_lines(limit: int = 16 * 1024 * 1024) -> AsyncIterator[bytes]:
    """Lines of standard input, read without blocking the event loop when it is a pipe or terminal."""
    fd = sys.stdin.fileno()
    if stat.S_ISREG(os.fstat(fd).st_mode):  # `< file`: epoll can't watch regular files, and needn't
        for line in sys.stdin.buffer:
            yield line
        return
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=limit)
    transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin.buffer)
    try:
        while line := await reader.readline():
            yield line
    finally:
        transport.close()
