"""The Faust app: the events topic, the agent that routes and aggregates it, and rebalance hooks.

    dvcpulse worker            # the local Kafka broker (dvcpulse broker) + embedded ClickHouse (dev)
    KAFKA_BOOTSTRAP=kafka:9092 CLICKHOUSE_DSN=http://ingest:...@clickhouse:8123/dvcpulse dvcpulse worker

The agent takes batches with `noack_take` and acks a batch only after its output is durable (forwards and
dead letters produced, changes written to ClickHouse), so a crash at any point is followed by a replay,
never by a gap. While one batch is written, the next is decoded and applied: writes run in order on one
thread. The logic lives in streams.ingest and streams.aggregate.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

import faust
from dvcpulse.sinks.connection import connect
from dvcpulse.sinks.writer import ClickHouseWriter, RetiredLayout
from dvcpulse.streams.aggregate import Aggregator
from dvcpulse.streams.ingest import SourceMessage, now_utc, route
from dvcpulse.streams.internal import ORIGIN_HEADER
from dvcpulse.streams.membership import leave_group_on_clean_stop
from dvcpulse.streams.state import PartitionState
from faust.types import TP

from dvcpulse.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")

WRITE_ATTEMPTS = 8
MAX_PENDING_WRITES = 2  # batches applied but not yet written: bounds memory and ack delay
# Offsets are committed every Settings.commit_seconds (as Kafka Streams' commit.interval.ms), never after a
# count of acks: they only say where a restarted worker resumes; the ClickHouse checkpoint says what was applied.
NEVER_BY_COUNT = 2**62
EXIT_UNWRITABLE = 70  # crash without acking: the batch is replayed by whoever owns it next
# One thread for all ClickHouse I/O (restores, writes): in submission order, so a restore reads what was
# written before it, and fewer threads mean fewer malloc arenas holding freed batch buffers.
BLOCKING = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dvcpulse-blocking")


async def off_loop(call: Callable[..., T], *args: Any) -> T:
    return await asyncio.get_running_loop().run_in_executor(BLOCKING, call, *args)


def _credentials(settings: Settings) -> Any:
    options = settings.kafka_client_options()
    if "sasl_mechanism" in options:
        return faust.SASLCredentials(
            username=options["sasl_plain_username"],
            password=options["sasl_plain_password"],
            mechanism=options["sasl_mechanism"],
            ssl_context=options.get("ssl_context"),
        )
    if "ssl_context" in options:
        return faust.SSLCredentials(options["ssl_context"])
    return None


def retrying(what: str, call: Callable[[], T]) -> T:
    """Run blocking I/O, retrying with backoff; exit hard if it keeps failing.

    Exiting without acking (rather than raising, which would let the batch be acked) keeps the
    guarantee: the unacknowledged messages are redelivered after the restart.
    """
    delay = 0.2
    for attempt in range(1, WRITE_ATTEMPTS + 1):
        try:
            return call()
        except RetiredLayout:
            raise  # no retry can help: the agent stops the worker with the explanation
        except Exception as error:
            if attempt == WRITE_ATTEMPTS:
                log.critical("%s failed %d times, exiting without acknowledging: %s", what, attempt, error)
                logging.shutdown()
                os._exit(EXIT_UNWRITABLE)
            log.warning("%s failed (attempt %d): %s; retrying in %.1fs", what, attempt, error, delay)
            time.sleep(delay * (1 + random.random()))
            delay = min(delay * 2, 10.0)
    raise AssertionError("unreachable")


def durably(what: str, call: Callable[[], T]) -> asyncio.Future[T]:
    """`retrying` on the blocking-work thread: calls run one at a time, in the order they were made."""
    return asyncio.get_running_loop().run_in_executor(BLOCKING, retrying, what, call)


def exit_without_ack(what: str, error: BaseException) -> None:
    """An agent must not survive an unexpected error: Faust would restart it past the unacked batch."""
    log.critical("%s failed, exiting without acknowledging the batch", what, exc_info=error)
    logging.shutdown()
    os._exit(EXIT_UNWRITABLE)


def create_app(settings: Settings, bootstrap: str) -> faust.App:
    app = faust.App(
        settings.app_id,
        broker=f"kafka://{bootstrap}",
        broker_credentials=_credentials(settings),
        value_serializer="raw",
        key_serializer="raw",
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        consumer_auto_offset_reset="earliest",
        web_enabled=settings.web_port > 0,
        web_port=settings.web_port or 6066,
        web_host="127.0.0.1",
        stream_buffer_maxsize=settings.stream_buffer_messages,
        broker_commit_every=NEVER_BY_COUNT,
        broker_max_poll_records=settings.batch_size,  # bounds what is decoded ahead, whatever a broker sends
        consumer_group_instance_id=f"{settings.app_id}-{settings.worker_id}" if settings.worker_id else None,
        broker_session_timeout=settings.session_timeout_seconds,
        broker_heartbeat_interval=max(settings.session_timeout_seconds / 5, 0.5),
        broker_rebalance_timeout=max(settings.session_timeout_seconds * 2, 20),
        broker_commit_interval=settings.commit_seconds,
        producer_linger_ms=5,
        producer_compression_type=settings.producer_compression,
        producer_max_request_size=8 * 1024 * 1024,
        consumer_max_fetch_size=1024 * 1024,  # per partition: bounds what a worker prefetches (memory)
        store="memory://",
        stream_wait_empty=False,  # unacked batches are replayed after a restart; never wait for them
    )
    if settings.worker_id:
        leave_group_on_clean_stop(app)
    events_topic = app.topic(settings.events_topic, value_type=bytes, key_type=bytes)
    dead_letter_topic = app.topic(settings.dead_letter_topic, value_type=bytes, key_type=bytes)
    client = connect(settings)
    writer = ClickHouseWriter(client, settings.clickhouse_database)
    aggregator = Aggregator(writer)
    context = {"pii_key": settings.pii_key.get_secret_value()}
    horizon_ms = int(settings.late_horizon_hours * 3600 * 1000)

    def events_partitions(tps: set[TP]) -> list[int]:
        return [tp.partition for tp in tps if tp.topic == settings.events_topic]

    @app.on_partitions_revoked.connect
    async def on_revoked(app: faust.App, revoked: set[TP], **_: Any) -> None:
        aggregator.forget(events_partitions(revoked))

    @app.on_partitions_assigned.connect
    async def on_assigned(app: faust.App, assigned: set[TP], **_: Any) -> None:
        aggregator.forget(events_partitions(assigned))

    def owns(partition: int) -> bool:
        return TP(settings.events_topic, partition) in app.consumer.assignment()

    async def owned_states(partitions: set[int]) -> dict[int, PartitionState]:
        """The states of the partitions still owned, restored first where needed (a rebalance may forget
        a state while another is restored, hence the loop)."""
        while True:
            wanted = {p for p in partitions if owns(p)}
            missing = wanted - aggregator.states.keys()
            if not missing:
                return {p: aggregator.states[p] for p in wanted}
            await durably("partition restore", partial(aggregator.load, sorted(missing)))

    async def process(batch: list[faust.EventT]) -> asyncio.Future[None]:
        """Route and apply a batch, produce its forwards and dead letters; returns its pending write."""
        messages = [
            SourceMessage(e.message.topic, e.message.partition, e.message.offset, e.value, e.message.headers)
            for e in batch
        ]
        states = await owned_states({m.partition for m in messages})
        routed = route(messages, states, settings.partitions, horizon_ms, context)
        changes = aggregator.apply(routed.applied)
        received_at = now_utc()
        pending = [
            await events_topic.send(value=value, partition=partition, headers={ORIGIN_HEADER: origins})
            for partition, forward in sorted(routed.forwards.items())
            for value, origins in forward.messages()
        ]
        for dead in routed.dead_letters:
            pending.append(await dead_letter_topic.send(key=dead.key, value=dead.to_json(received_at)))
        await asyncio.gather(*pending)  # forwards durable in Kafka before the offsets are checkpointed
        rows = [dead.to_row(received_at) for dead in routed.dead_letters]
        return durably("flush", lambda: aggregator.flush(changes, rows))

    async def ingest(stream: faust.StreamT) -> None:
        """Batches in, acks after their write; up to MAX_PENDING_WRITES batches written behind the newest."""
        writes: deque[asyncio.Task[None]] = deque()

        async def ack_when_written(written: asyncio.Future[None], batch: list[faust.EventT]) -> None:
            await written
            for event in batch:
                await stream.ack(event)

        async for batch in stream.noack_take(settings.batch_size, within=settings.batch_seconds):
            try:
                written = await process(batch)
            except Exception as error:
                exit_without_ack("ingest", error)
            writes.append(asyncio.ensure_future(ack_when_written(written, batch)))
            while len(writes) > MAX_PENDING_WRITES or (writes and writes[0].done()):
                await writes.popleft()

    app.agent(events_topic, name="ingest")(ingest)

    worker_name = settings.worker_id or f"{socket.gethostname()}-{os.getpid()}"

    @app.timer(interval=5.0)
    async def record_lag() -> None:
        """Lag per assigned partition (messages not yet in ClickHouse), for the pipeline dashboard (worker_stats)."""
        consumer = app.consumer
        now_ms = int(time.time() * 1000)
        rows = []
        for tp in sorted(consumer.assignment()):
            if tp.topic != settings.events_topic:
                continue
            end = consumer.highwater(tp)
            if end is None or end < 0:
                continue
            position = aggregator.written.get(tp.partition)
            if position is None:  # not restored yet: Faust's last committed offset
                position = max(consumer._committed_offset.get(tp) or 0, 0)
            rows.append([now_ms, worker_name, tp.topic, tp.partition, position, end, max(end - position, 0)])
        if rows:
            try:  # metrics only: a failed write is logged, never fatal
                await off_loop(writer.write_worker_stats, rows)
            except Exception as error:
                log.warning("worker stats write failed: %s", error)

    return app
