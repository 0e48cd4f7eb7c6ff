"""The Faust app: topics, the ingest and aggregate agents, and rebalance hooks.

    dvcpulse worker            # embedded broker + embedded ClickHouse (dev)
    KAFKA_BOOTSTRAP=kafka:9092 CLICKHOUSE_DSN=http://ingest:...@clickhouse:8123/dvcpulse dvcpulse worker

Both agents batch with `noack_take` and ack only after their output is durable (produced, or written to
ClickHouse), so a crash at any point is followed by a replay, never by a gap. Agent bodies stay short:
the logic lives in streams.ingest and streams.aggregate.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import faust
from faust.types import TP

from dvcpulse.settings import Settings
from sinks.connection import connect
from sinks.writer import ClickHouseWriter
from streams.aggregate import Aggregator, RecordsMessage
from streams.ingest import MAX_EVENTS_PER_MESSAGE, LatenessClock, SourceMessage, now_utc, route
from streams.internal import encode
from streams.membership import leave_group_on_clean_stop

log = logging.getLogger(__name__)
T = TypeVar("T")

WRITE_ATTEMPTS = 8
EXIT_UNWRITABLE = 70  # crash without acking: the batch is replayed by whoever owns it next
# One thread for all blocking work (apply, ClickHouse I/O): the steps are sequential anyway, and fewer
# threads mean fewer malloc arenas holding freed batch buffers.
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


async def durably(what: str, call: Callable[[], T]) -> T:
    """Run blocking I/O off the event loop, retrying with backoff; exit hard if it keeps failing.

    Exiting without acking (rather than raising, which would let the batch be acked) keeps the
    guarantee: the unacknowledged messages are redelivered after the restart.
    """
    delay = 0.2
    for attempt in range(1, WRITE_ATTEMPTS + 1):
        try:
            return await off_loop(call)
        except Exception as error:
            if attempt == WRITE_ATTEMPTS:
                log.critical("%s failed %d times, exiting without acknowledging: %s", what, attempt, error)
                logging.shutdown()
                os._exit(EXIT_UNWRITABLE)
            log.warning("%s failed (attempt %d): %s; retrying in %.1fs", what, attempt, error, delay)
            await asyncio.sleep(delay * (1 + random.random()))
            delay = min(delay * 2, 10.0)
    raise AssertionError("unreachable")


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
        broker_commit_every=10_000,
        consumer_group_instance_id=f"{settings.app_id}-{settings.worker_id}" if settings.worker_id else None,
        broker_session_timeout=settings.session_timeout_seconds,
        broker_heartbeat_interval=max(settings.session_timeout_seconds / 5, 0.5),
        broker_rebalance_timeout=max(settings.session_timeout_seconds * 2, 20),
        broker_commit_interval=2.0,
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
    records_topic = app.topic(
        settings.records_topic, value_type=bytes, key_type=bytes, partitions=settings.partitions
    )
    dead_letter_topic = app.topic(settings.dead_letter_topic, value_type=bytes, key_type=bytes)
    client = connect(settings)
    writer = ClickHouseWriter(client, settings.clickhouse_database)
    aggregator = Aggregator(writer)
    context = {"pii_key": settings.pii_key.get_secret_value()}
    clock = LatenessClock(int(settings.late_horizon_hours * 3600 * 1000))

    def records_partitions(tps: set[TP]) -> list[int]:
        return [tp.partition for tp in tps if tp.topic == settings.records_topic]

    @app.on_partitions_revoked.connect
    async def on_revoked(app: faust.App, revoked: set[TP], **_: Any) -> None:
        aggregator.forget(records_partitions(revoked))

    @app.on_partitions_assigned.connect
    async def on_assigned(app: faust.App, assigned: set[TP], **_: Any) -> None:
        aggregator.forget(records_partitions(assigned))

    def owns(partition: int) -> bool:
        return TP(settings.records_topic, partition) in app.consumer.assignment()

    async def ingest_batch(batch: list[faust.EventT]) -> None:
        messages = [SourceMessage(e.message.topic, e.message.partition, e.message.offset, e.value) for e in batch]
        routed = route(messages, settings.partitions, clock, context)
        received_at = now_utc()
        pending = [await records_topic.send(value=encode(events), partition=p) for p, events in routed.chunks()]
        for dead in routed.dead_letters:
            pending.append(await dead_letter_topic.send(key=dead.key, value=dead.to_json(received_at)))
        await asyncio.gather(*pending)  # durable in Kafka before the source offsets may be committed
        if routed.dead_letters:
            rows = [dead.to_row(received_at) for dead in routed.dead_letters]
            await durably("dead-letter write", lambda: writer.write_dead_letters(rows))

    async def aggregate_batch(batch: list[faust.EventT]) -> None:
        messages = [RecordsMessage(e.message.partition, e.message.offset, e.value) for e in batch]
        changes = await durably("aggregate apply", lambda: aggregator.apply(messages, owns))
        await durably("aggregate flush", lambda: aggregator.flush(changes))

    def batched_agent(
        topic: faust.TopicT, name: str, handle: Callable[[list[faust.EventT]], Any], max_messages: int
    ) -> None:
        """An agent that handles batches and acks them only after `handle` returned."""

        async def agent(stream: faust.StreamT) -> None:
            async for batch in stream.noack_take(max_messages, within=settings.batch_seconds):
                try:
                    await handle(batch)
                except Exception as error:
                    exit_without_ack(name, error)
                for event in batch:
                    await stream.ack(event)

        agent.__name__ = agent.__qualname__ = name
        app.agent(topic, name=name)(agent)

    worker_name = settings.worker_id or f"{socket.gethostname()}-{os.getpid()}"

    @app.timer(interval=5.0)
    async def record_lag() -> None:
        """Consumer lag per assigned partition, for the pipeline-health dashboard (worker_stats)."""
        consumer = app.consumer
        now_ms = int(time.time() * 1000)
        rows = []
        for tp in sorted(consumer.assignment()):
            if tp.topic not in (settings.events_topic, settings.records_topic):
                continue
            end = consumer.highwater(tp)
            position = consumer._committed_offset.get(tp)  # Faust's last committed offset for tp
            if end is None or end < 0:
                continue
            done = position if position is not None and position >= 0 else 0
            rows.append([now_ms, worker_name, tp.topic, tp.partition, done, end, max(end - done, 0)])
        if rows:
            try:  # metrics only: a failed write is logged, never fatal
                await off_loop(writer.write_worker_stats, rows)
            except Exception as error:
                log.warning("worker stats write failed: %s", error)

    batched_agent(events_topic, "ingest", ingest_batch, settings.batch_size)
    # records messages carry up to MAX_EVENTS_PER_MESSAGE events: bound a flush by events, for freshness
    batched_agent(
        records_topic, "aggregate", aggregate_batch, max(1, settings.flush_max_events // MAX_EVENTS_PER_MESSAGE)
    )
    return app
