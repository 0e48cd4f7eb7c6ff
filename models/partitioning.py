"""Which events-topic partition owns a record: part of the event interface, shared by portals and workers."""

from __future__ import annotations

import zlib


def record_partition(record_id: str, partitions: int) -> int:
    """The events-topic partition owning a record: CRC-32 of the UTF-8 record id modulo the partition count.

    It is librdkafka's default for keyed messages (kcat, confluent-kafka clients), so a producer keying
    each event by its record id, or choosing the partition with this function, needs no forwarding.
    """
    return key_partition(record_id.encode(), partitions)


def key_partition(key: bytes, partitions: int) -> int:
    """`record_partition` of a record id already encoded (a Kafka message key)."""
    return zlib.crc32(key) % partitions
