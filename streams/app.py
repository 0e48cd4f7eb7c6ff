"""The Faust app: the events topic, the agent that routes and aggregates it, and rebalance hooks.

    dvcpulse worker            # the local Kafka broker (dvcpulse broker) + embedded ClickHouse (dvcpulse db serve)
    KAFKA_BOOTSTRAP=kafka:9092 CLICKHOUSE_DSN=http://ingest:...@clickhouse:8123/dvcpulse dvcpulse worker

The agent takes batches with `noack_take` and acks a batch only after its output is durable (forwards and
dead letters produced, changes written to ClickHouse), so a crash at any point is followed by a replay,
never by a gap. While one batch is written, the next is decoded and applied: writes run in order on one
thread. The processing lives in streams.pipeline.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections import deque
from typing import TYPE_CHECKING, Any

import faust
from faust.types import TP

from dvcpulse.sinks.connection import connect
from dvcpulse.sinks.writer import ClickHouseWriter
from dvcpulse.streams.aggregate import Aggregator
from dvcpulse.streams.io_thread import exit_without_ack, in_io_thread
from dvcpulse.streams.membership import leave_group_on_clean_stop
from dvcpulse.streams.pipeline import Pipeline

if TYPE_CHECKING:
    from dvcpulse.settings import Settings

log = logging.getLogger(__name__)

MAX_PENDING_WRITES = 2  # batches applied but not yet written: bounds memory and ack delay
# Offsets are committed every Settings.commit_seconds (as Kafka Streams' commit.interval.ms), never after a
# count of acks: they only say where a restarted worker resumes; the ClickHouse checkpoint says what was applied.
NEVER_BY_COUNT = 2**62
LAG_SECONDS = 5.0


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


def _faust_app(settings: Settings, bootstrap: str) -> faust.App:
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
        broker_max_poll_records=settings.batch_size,  # bounds what is decoded ahead
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
    return app


def create_app(settings: Settings, bootstrap: str) -> faust.App:
    app = _faust_app(settings, bootstrap)
    events_topic = app.topic(settings.events_topic, value_type=bytes, key_type=bytes)
    dead_letter_topic = app.topic(settings.dead_letter_topic, value_type=bytes, key_type=bytes)
    writer = ClickHouseWriter(connect(settings), settings.clickhouse_database)
    lookups = ClickHouseWriter(connect(settings), settings.clickhouse_database)  # its own session and thread
    aggregator = Aggregator(writer, settings.max_records, settings.max_cells, lookup_sink=lookups)
    pipeline = Pipeline(
        aggregator,
        events_topic,
        dead_letter_topic,
        partitions=settings.partitions,
        lateness=settings.lateness(),
        validation_context={"pii_key": settings.pii_key.get_secret_value()},
        owns=lambda partition: TP(settings.events_topic, partition) in app.consumer.assignment(),
    )

    def events_partitions(tps: set[TP]) -> list[int]:
        return [tp.partition for tp in tps if tp.topic == settings.events_topic]

    @app.on_partitions_revoked.connect
    async def on_revoked(app: faust.App, revoked: set[TP], **_: Any) -> None:
        aggregator.forget(events_partitions(revoked))

    @app.on_partitions_assigned.connect
    async def on_assigned(app: faust.App, assigned: set[TP], **_: Any) -> None:
        aggregator.forget(events_partitions(assigned))  # reloaded from ClickHouse before their next batch

    @app.agent(events_topic, name="ingest")
    async def ingest(stream: faust.StreamT) -> None:
        """Batches in, acks after their write; up to MAX_PENDING_WRITES batches written behind the newest."""
        writes: deque[asyncio.Task[None]] = deque()

        async def ack_when_written(written: asyncio.Future[None], batch: list[faust.EventT]) -> None:
            await written
            for event in batch:
                await stream.ack(event)

        async for batch in stream.noack_take(settings.batch_size, within=settings.batch_seconds):
            try:
                processed = await pipeline.process(batch)
            except Exception as error:
                exit_without_ack("ingest", error)
            writes.append(asyncio.ensure_future(ack_when_written(processed.written, processed.to_ack(batch))))
            while len(writes) > MAX_PENDING_WRITES or (writes and writes[0].done()):
                await writes.popleft()

    worker_name = settings.worker_id or f"{socket.gethostname()}-{os.getpid()}"

    @app.timer(interval=LAG_SECONDS)
    async def record_lag() -> None:
        """Lag per restored partition (messages not yet in ClickHouse), for the pipeline dashboard."""
        now_ms = int(time.time() * 1000)
        rows = []
        for tp in sorted(app.consumer.assignment()):
            end = app.consumer.highwater(tp)
            position = aggregator.written.get(tp.partition)
            if tp.topic != settings.events_topic or end is None or end < 0 or position is None:
                continue  # another topic, no end offset known yet, or not restored yet
            rows.append([now_ms, worker_name, tp.topic, tp.partition, position, end, max(end - position, 0)])
        if rows:
            try:  # metrics only: a failed write is logged, never fatal
                await in_io_thread(writer.write_worker_stats, rows)
            except Exception as error:
                log.warning("worker stats write failed: %s", error)

    return app
