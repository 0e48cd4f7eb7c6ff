"""Aggregate: apply records-topic messages to partition state and flush the changes to ClickHouse.

State for a partition is loaded from ClickHouse the first time a batch touches it (and again after each
rebalance that assigns it), so the ClickHouse checkpoint, not the Kafka committed offset, says what was
applied: redelivered messages are skipped by offset.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sinks.writer import ClickHouseWriter
from streams.internal import decode
from streams.state import Changes, PartitionState

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RecordsMessage:
    partition: int
    offset: int
    value: bytes


class Aggregator:
    def __init__(self, writer: ClickHouseWriter):
        self.writer = writer
        self.states: dict[int, PartitionState] = {}

    def forget(self, partitions: Iterable[int]) -> None:
        """Drop state of partitions revoked or (re)assigned: it is reloaded from ClickHouse when needed."""
        for partition in partitions:
            self.states.pop(partition, None)

    def state_for(self, partition: int) -> PartitionState:
        state = self.states.get(partition)
        if state is None:
            state = self.states[partition] = self.writer.load_partition(partition)
        return state

    def apply(self, messages: list[RecordsMessage], owned: Callable[[int], bool] = lambda p: True) -> list[Changes]:
        """Apply a batch (in offset order per partition); returns the changes to write."""
        touched: dict[int, PartitionState] = {}
        try:
            for message in messages:
                if not owned(message.partition):
                    continue  # revoked while buffered: its new owner processes it
                state = touched.get(message.partition) or self.state_for(message.partition)
                touched[message.partition] = state
                if state.offset >= 0 and message.offset > state.offset + 1:
                    log.warning("partition %d: offset gap %d -> %d", message.partition, state.offset, message.offset)
                state.apply_message(message.offset, decode(message.value))
        except Exception:
            self.forget(touched)  # half-applied state must not survive: reload it from ClickHouse
            raise
        return [state.take_changes() for state in touched.values()]

    def flush(self, changes: list[Changes]) -> None:
        self.writer.write(changes)
