"""Where Kafka is (`resolve_bootstrap`) and the topics dvcpulse needs (`ensure_topics`), broker-agnostic."""

from __future__ import annotations

import asyncio
import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import for_code

from dvcpulse.embedded_broker import find_running_broker
from dvcpulse.settings import Settings

log = logging.getLogger(__name__)

_TOPIC_ALREADY_EXISTS = 36
TOPIC_READY_SECONDS = 30.0


class BrokerNotFound(RuntimeError):
    """No Kafka bootstrap is configured and no local Kafka broker is running."""


def resolve_bootstrap(settings: Settings) -> str:
    """The configured bootstrap servers, else the running local Kafka broker for settings.broker_dir."""
    if settings.kafka_bootstrap:
        return settings.kafka_bootstrap
    bootstrap = find_running_broker(settings.broker_dir)
    if bootstrap is None:
        raise BrokerNotFound(
            f"KAFKA_BOOTSTRAP is not set and no local Kafka broker is running for {settings.broker_dir}: "
            "start one with `dvcpulse broker` (or everything with `dvcpulse up`), or set KAFKA_BOOTSTRAP."
        )
    return bootstrap


def wanted_topics(settings: Settings) -> dict[str, int]:
    """Topic name -> partitions. The dead-letter topic gets the same count: harmless, and it scales."""
    return {
        settings.events_topic: settings.partitions,
        settings.dead_letter_topic: settings.partitions,
    }


async def ensure_topics(settings: Settings, bootstrap: str) -> dict[str, int]:
    """Create the events and dead-letter topics if absent; return each topic's partition count.

    Existing topics are left alone (Kafka cannot shrink them); a different partition count is logged.
    """
    wanted = wanted_topics(settings)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **settings.kafka_client_options())
    await admin.start()
    try:
        # Listing first matters: a broker with auto.create.topics.enable creates a topic on a metadata request
        # that names it, with its default partition count, so we must not describe a topic before creating it.
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(name, num_partitions=count, replication_factor=settings.replication_factor)
            for name, count in wanted.items()
            if name not in existing
        ]
        if missing:
            response = await admin.create_topics(missing)
            for name, code, *message in response.topic_errors:  # v0 responses carry no message
                if code not in (0, _TOPIC_ALREADY_EXISTS):  # a concurrent creator is fine
                    raise for_code(code)(f"cannot create topic {name!r}: {message}")
                log.info("created topic %s (%d partitions)", name, wanted[name])
        described = await _described_when_led(admin, list(wanted))
    finally:
        await admin.close()
    counts = {d["topic"]: len(d["partitions"]) for d in described}
    for name, count in wanted.items():
        if counts.get(name) != count:
            log.warning("topic %s has %s partitions, settings ask for %d", name, counts.get(name), count)
    return counts


async def _described_when_led(admin: AIOKafkaAdminClient, topics: list[str]) -> list[dict]:
    """describe_topics once every partition has a leader: Kafka creates topics asynchronously, so right after
    CreateTopics a broker may still describe a new topic with no partitions, or partitions without leaders."""
    deadline = asyncio.get_running_loop().time() + TOPIC_READY_SECONDS
    while True:
        described = await admin.describe_topics(topics)
        ready = all(
            d["error_code"] == 0 and d["partitions"] and all(p["leader"] >= 0 for p in d["partitions"])
            for d in described
        )
        if ready or asyncio.get_running_loop().time() > deadline:
            return described
        await asyncio.sleep(0.1)
