"""Aggregate: apply routed events to partition state and flush the changes to ClickHouse.

State for a partition is loaded from ClickHouse before the first batch that touches it (and again after
each rebalance that assigns it), so the ClickHouse checkpoint, not the Kafka committed offset, says what
was applied: redelivered messages are skipped by offset.
"""

from __future__ import annotations

from collections.abc import Iterable

from dvcpulse.sinks.writer import ClickHouseWriter
from dvcpulse.streams.internal import InternalEvent
from dvcpulse.streams.state import Changes, PartitionState


class Aggregator:
    def __init__(self, writer: ClickHouseWriter):
        self.writer = writer
        self.states: dict[int, PartitionState] = {}
        self.written: dict[int, int] = {}  # partition -> next offset to read after what ClickHouse holds

    def forget(self, partitions: Iterable[int]) -> None:
        """Drop state of partitions revoked or (re)assigned: it is reloaded from ClickHouse when needed."""
        for partition in partitions:
            self.states.pop(partition, None)
            self.written.pop(partition, None)

    def load(self, partitions: Iterable[int]) -> None:
        """Restore the partitions not in memory (blocking: reads ClickHouse)."""
        for partition in partitions:
            if partition not in self.states:
                state = self.states[partition] = self.writer.load_partition(partition)
                self.written[partition] = state.offset + 1

    def apply(self, applied: list[tuple[int, int, list[InternalEvent]]]) -> list[Changes]:
        """Apply (partition, offset, events) in offset order per partition; returns the changes to write."""
        touched: dict[int, PartitionState] = {}
        try:
            for partition, offset, events in applied:
                state = touched[partition] = self.states[partition]
                state.apply_message(offset, events)
        except Exception:
            self.forget(touched)  # half-applied state must not survive: reload it from ClickHouse
            raise
        return [state.take_changes() for state in touched.values()]

    def flush(self, changes: list[Changes], dead_letter_rows: list[list] | None = None) -> None:
        """Write a batch's dead letters and changes (blocking). Rows are stamped with partition offsets, so a
        flush of a partition revoked meanwhile writes the same values its new owner writes."""
        if dead_letter_rows:
            self.writer.write_dead_letters(dead_letter_rows)
        self.writer.write(changes)
        for change in changes:
            self.written[change.partition] = change.version + 1
