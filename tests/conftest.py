"""Shared fixtures: one Apache Kafka broker per test session, unique topics per test, topic readers."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from dvcpulse.embedded_broker import EmbeddedBroker
from dvcpulse.settings import Settings
from dvcpulse.topics import ensure_topics


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Bootstrap address of a Kafka broker shared by the whole session; stopped even on failure."""
    embedded = EmbeddedBroker(tmp_path_factory.mktemp("broker"))
    embedded.start()
    try:
        yield embedded.bootstrap
    finally:
        embedded.stop()


@dataclass(frozen=True)
class TopicNames:
    events: str
    dead_letter: str
    settings: Settings  # points at these topics and the session broker


@pytest.fixture
def settings_for(tmp_path: Path) -> Callable[..., Settings]:
    """Settings(**overrides) with data_dir in this test's tmp_path unless given."""

    def make(**overrides: object) -> Settings:
        overrides.setdefault("data_dir", tmp_path / "data")
        return Settings(**overrides)  # type: ignore[arg-type]

    return make


@pytest.fixture
def topic_names(broker: str, settings_for: Callable[..., Settings]) -> TopicNames:
    """Fresh events and dead-letter topics for this test, created on the session broker."""
    suffix = uuid.uuid4().hex[:10]
    settings = settings_for(
        events_topic=f"test.events.{suffix}",
        dead_letter_topic=f"test.dlq.{suffix}",
        kafka_bootstrap=broker,
    )
    asyncio.run(ensure_topics(settings, broker))
    return TopicNames(settings.events_topic, settings.dead_letter_topic, settings)


async def _partitions(bootstrap: str, topic: str) -> list[TopicPartition]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        # Check first: naming a missing topic in a metadata request creates it where auto-creation is on.
        assert topic in await admin.list_topics(), f"topic {topic} does not exist"
        (described,) = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return [TopicPartition(topic, p) for p in sorted(item["partition"] for item in described["partitions"])]


async def _read_all(bootstrap: str, topic: str, timeout: float) -> list[ConsumerRecord]:
    partitions = await _partitions(bootstrap, topic)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=f"test-reader-{uuid.uuid4().hex}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        records: list[ConsumerRecord] = []
        async with asyncio.timeout(timeout):
            while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
                batch = await consumer.getmany(*partitions, timeout_ms=500, max_records=20_000)
                for messages in batch.values():
                    records.extend(messages)
        return records
    finally:
        await consumer.stop()


@pytest.fixture
def read_topic(broker: str) -> Callable[..., list[ConsumerRecord]]:
    """read_topic(topic, timeout=30) -> every record now in the topic (up to its end offsets)."""

    def read(topic: str, timeout: float = 30.0) -> list[ConsumerRecord]:
        return asyncio.run(_read_all(broker, topic, timeout))

    return read
