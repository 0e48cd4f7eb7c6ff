"""Helpers for the pipeline integration tests: send lines like foreign clients would, compare views to truth."""

from __future__ import annotations

import asyncio
import random
import time
import zlib
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner
from clickhouse_connect.driver.client import Client


def parses_as_json(line: bytes) -> bool:
    try:
        orjson.loads(line)
    except orjson.JSONDecodeError:
        return False
    return True


ARRIVAL = "dvcpulse-arrival"


def arrival(ms: int) -> list[tuple[str, bytes]] | None:
    """The dvcpulse-arrival header a backfilling client sets (none before the file's first event)."""
    return [(ARRIVAL, str(ms).encode())] if ms else None


class FileClock:
    """Arrival stamps as a backfilling client would set them: the newest event time read so far in the
    file, never ahead of the wall clock (lines that are not events, or dated after now, leave it alone).
    Written apart from dvcpulse.backfill, as a foreign producer would be; with the simulator's files
    (disorder within minutes) it judges every event on time."""

    def __init__(self) -> None:
        self.now_ms = 0

    def read(self, line: bytes) -> int:
        try:
            value = orjson.loads(line)
            when = datetime.fromisoformat(value["event_time"])
            if when.tzinfo is not None and when.timestamp() <= time.time():
                self.now_ms = max(self.now_ms, round(when.timestamp() * 1000))
        except (orjson.JSONDecodeError, TypeError, KeyError, ValueError):
            pass
        return self.now_ms


def _record_key(line: bytes) -> bytes:
    if not parses_as_json(line):
        return b""
    value = orjson.loads(line)
    return str(value.get("record_id", "")).encode() if isinstance(value, dict) else b""


async def _send_mixed(bootstrap: str, topic: str, lines: list[bytes], seed: int, partitions: int) -> int:
    """Send every line unvalidated, the way different clients would:
    - 5% as one-event messages keyed by record id, murmur2-partitioned (Java / aiokafka default),
    - 5% as one-event messages put on crc32(key) % n (librdkafka's consistent_random),
    - the rest in envelopes (JSON arrays) of up to 100 events on random partitions (invalid events
      included, but not lines that are not JSON at all: those make the whole array unreadable).
    (One-event messages cost Faust far more per event; the mix keeps the suite's run time in bounds.)
    Returns the number of Kafka messages sent."""
    rng = random.Random(seed)
    murmur = DefaultPartitioner()
    # idempotent: a retried produce under load must not append a batch twice (that would be a real re-send)
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, linger_ms=5, max_batch_size=1 << 20, enable_idempotence=True, acks="all"
    )
    await producer.start()
    sent = 0
    envelope: list[bytes] = []
    clock = FileClock()
    try:
        all_partitions = list(range(partitions))
        for line in lines:
            now_ms = clock.read(line)
            roll = rng.random()
            style = 0 if roll < 0.05 else 1 if roll < 0.10 else 2
            if style == 2 and not parses_as_json(line):
                style = 0  # an array producer serialises objects: broken JSON only travels alone
            if style == 2:
                envelope.append(line)
                if len(envelope) == 100:  # stamped when sent, as a live client's envelope is: after its events
                    value = b"[" + b",".join(envelope) + b"]"
                    await producer.send(topic, value, partition=rng.randrange(partitions), headers=arrival(now_ms))
                    envelope, sent = [], sent + 1
                continue
            key = _record_key(line)
            partition = murmur(key, all_partitions, all_partitions) if style == 0 else zlib.crc32(key) % partitions
            await producer.send(topic, line, key=key or None, partition=partition, headers=arrival(now_ms))
            sent += 1
        if envelope:
            await producer.send(topic, b"[" + b",".join(envelope) + b"]", partition=0, headers=arrival(clock.now_ms))
            sent += 1
        await producer.flush()
    finally:
        await producer.stop()
    return sent


def send_mixed(bootstrap: str, topic: str, lines: Iterable[bytes], *, seed: int = 7, partitions: int = 8) -> int:
    return asyncio.run(_send_mixed(bootstrap, topic, list(lines), seed, partitions))


def cells_from_views(client: Client, database: str) -> list[dict[str, Any]]:
    rows = client.query(
        f"SELECT service_code, province_code, channel, online_level, submitted, synced, status_changes "
        f"FROM {database}.v_counts_by_cell "
        f"WHERE submitted + synced + status_changes > 0 "
        f"ORDER BY service_code, province_code, channel, online_level"
    ).named_results()
    return [dict(row) for row in rows]


def cells_from_truth(truth: dict[str, Any]) -> list[dict[str, Any]]:
    key = ("service_code", "province_code", "channel", "online_level")
    rows = [dict(cell) for cell in truth["by_cell"]]
    return sorted(rows, key=lambda c: tuple(c[k] for k in key))


def totals_from_views(client: Client, database: str) -> dict[str, int]:
    row = next(client.query(f"SELECT * FROM {database}.v_totals").named_results())
    return {key: row[key] for key in TOTAL_KEYS}


TOTAL_KEYS = (
    "submitted", "synced", "synced_online", "synced_in_person", "synced_postal",
    "submitted_online", "submitted_in_person", "submitted_postal", "status_changes",
)  # fmt: skip


def by_day_from_views(client: Client, database: str) -> list[dict[str, Any]]:
    rows = client.query(
        f"SELECT toString(day) AS date, sum(submitted) AS submitted, sum(synced) AS synced "
        f"FROM {database}.v_daily GROUP BY day HAVING submitted + synced > 0 ORDER BY day"
    ).named_results()
    return [dict(row) for row in rows]


def assert_matches_truth(client: Client, database: str, truth: dict[str, Any]) -> None:
    assert totals_from_views(client, database) == {key: truth["totals"][key] for key in TOTAL_KEYS}
    assert cells_from_views(client, database) == cells_from_truth(truth)
    assert by_day_from_views(client, database) == [
        {"date": d["date"], "submitted": d["submitted"], "synced": d["synced"]} for d in truth["by_day"]
    ]
    duplicates = client.command(f"SELECT sum(duplicates) FROM {database}.v_pipeline")
    assert duplicates == truth["duplicate_lines"]
    unique_in_history = client.command(f"SELECT count() FROM {database}.v_events")
    assert unique_in_history == truth["unique_events"]
    # the per-record summary ClickHouse keeps: each record counted once, every distinct event seen once
    summary = client.query(
        f"SELECT countIf(submitted_at IS NOT NULL), countIf(synced_at IS NOT NULL), sum(events_seen) "
        f"FROM {database}.v_record_state"
    ).result_rows[0]
    assert summary == (truth["totals"]["submitted"], truth["totals"]["synced"], truth["unique_events"])


async def _send_one_partition(bootstrap: str, topic: str, lines: list[bytes]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    clock = FileClock()
    try:
        for line in lines:
            await producer.send_and_wait(topic, line, partition=0, headers=arrival(clock.read(line)))
    finally:
        await producer.stop()


def send_one_partition(bootstrap: str, topic: str, lines: list[bytes]) -> None:
    """Every line as its own message, in order, on partition 0."""
    asyncio.run(_send_one_partition(bootstrap, topic, lines))
