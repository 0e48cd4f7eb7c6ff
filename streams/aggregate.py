"""Aggregate: apply routed events to partition state and flush the changes to ClickHouse.

State for a partition is loaded from ClickHouse before the first batch that touches it (and again after
each rebalance that assigns it), so the ClickHouse checkpoint, not the Kafka committed offset, says what
was applied: redelivered messages are skipped by offset.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from dvcpulse.sinks.contract import Changes, EventRow, PartitionSink
from dvcpulse.streams.state import PartitionState

log = logging.getLogger(__name__)


class Aggregator:
    def __init__(self, sink: PartitionSink):
        self.sink = sink
        self.states: dict[int, PartitionState] = {}
        self.written: dict[int, int] = {}  # partition -> next offset to read after what ClickHouse holds

    def forget(self, partitions: Iterable[int]) -> None:
        """Drop state of partitions revoked or (re)assigned: it is reloaded from ClickHouse when needed."""
        for partition in partitions:
            self.states.pop(partition, None)
            self.written.pop(partition, None)

    def load(self, partitions: Iterable[int]) -> None:
        """Restore the partitions not in memory from what the sink holds (blocking: reads ClickHouse)."""
        for partition in partitions:
            if partition not in self.states:
                state = PartitionState(partition=partition)
                history = self.sink.read_partition(partition)
                if history is not None:
                    state.restore(history)
                    log.info(
                        "restored partition %d at offset %d: %d records from %d history rows and %d re-sends",
                        partition, state.offset, len(state.records), len(history.events), len(history.resends),
                    )  # fmt: skip
                self.states[partition] = state
                self.written[partition] = state.offset + 1

    def apply(self, to_apply: list[tuple[int, int, list[EventRow]]]) -> list[Changes]:
        """Apply (partition, offset, events) in offset order per partition; returns the changes to write."""
        touched: dict[int, PartitionState] = {}
        try:
            for partition, offset, events in to_apply:
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
            self.sink.write_dead_letters(dead_letter_rows)
        self.sink.write(changes)
        for change in changes:
            self.written[change.partition] = change.offset + 1
