"""Aggregate: apply routed events to partition state and flush the changes to ClickHouse.

A partition's checkpoint is loaded from ClickHouse before the first batch that touches it (and again after
each rebalance that assigns it), so the ClickHouse checkpoint, not the Kafka committed offset, says what
was applied: redelivered messages are skipped by offset. Records and cells are loaded on demand, as of the
durable checkpoint, before the batch that needs them (`prefetch`), and the coldest are forgotten beyond a
budget (settings max_records, max_cells: a worker's, shared by its partitions): sinks/SCHEMA.md, "State on demand".
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from dvcpulse.sinks.contract import Changes, EventRow, PartitionSink
from dvcpulse.streams.state import PartitionState, pack_counts

log = logging.getLogger(__name__)


class Aggregator:
    def __init__(
        self,
        sink: PartitionSink,
        max_records: int,  # the worker's budgets (settings max_records, max_cells: cells of each grain)
        max_cells: int,
        lookup_sink: PartitionSink | None = None,
    ):
        self.sink = sink
        self.lookup_sink = lookup_sink or sink  # reads for `prefetch`, on a thread of their own in the worker
        self.max_records, self.max_cells = max_records, max_cells
        self.fallbacks = 0  # cell lookups answered by replaying a partition's history (see prefetch)
        self.states: dict[int, PartitionState] = {}
        self.written: dict[int, int] = {}  # partition -> next offset to read after what ClickHouse holds

    def forget(self, partitions: Iterable[int]) -> None:
        """Drop state of partitions revoked or (re)assigned: it is reloaded from ClickHouse when needed."""
        for partition in partitions:
            self.states.pop(partition, None)
            self.written.pop(partition, None)

    def load(self, partitions: Iterable[int]) -> None:
        """Take the checkpoint of the partitions not in memory (blocking: reads ClickHouse); nothing else is
        read until a batch needs it (`prefetch`)."""
        for partition in partitions:
            if partition not in self.states:
                state = PartitionState(partition=partition)
                state.resume(self.sink.read_checkpoint(partition))
                log.info("resumed partition %d at offset %d", partition, state.offset)
                self.states[partition] = state
                self.written[partition] = state.offset + 1

    def lookups_needed(self, to_apply: list[tuple[int, int, list[EventRow]]]) -> bool:
        """Forget cold records and cells beyond the budgets; then whether the batch (partition, offset, events)
        touches any record or cell not in memory (cheap: no I/O, run on the event loop, so a batch whose state
        is all in memory is applied while the previous batch is being written)."""
        needed = False
        shares = max(1, len(self.states))  # the budgets are the worker's, shared by the partitions it owns
        max_records, max_cells = max(1, self.max_records // shares), max(1, self.max_cells // shares)
        for partition, messages in _by_partition(to_apply).items():
            state, written = self.states.get(partition), self.written.get(partition)
            if state is None or written is None or not state.lazy:
                continue
            state.evict(written - 1, max_records, max_cells)
            if not needed:
                needed = bool(state.missing_records(messages) or any(state.missing_cells(messages)))
        return needed

    def prefetch(self, to_apply: list[tuple[int, int, list[EventRow]]]) -> None:
        """Before applying (partition, offset, events): load the records and cells the batch needs that are not
        in memory, as of the durable offset D (blocking: reads ClickHouse). Writes may be in flight meanwhile:
        what is not in memory was last changed at or before D, and rows beyond D are not read (sinks/SCHEMA.md,
        "State on demand")."""
        for partition, messages in _by_partition(to_apply).items():
            state, written = self.states.get(partition), self.written.get(partition)
            if state is None or written is None or not state.lazy:
                continue  # revoked meanwhile: the batch leaves its messages unapplied (streams.pipeline)
            durable = written - 1
            missing = state.missing_records(messages)
            if missing and durable >= 0:  # (nothing durable yet: nothing stored as of it)
                events, resends = self.lookup_sink.read_records(partition, missing, durable)
                state.install_records(events, resends, durable)
            wanted = state.missing_cells(messages)
            if durable < 0:
                state.install_cells([dict.fromkeys(keys, 0) for keys in wanted], durable)
            elif any(wanted):
                state.install_cells(self._cells_at(state, wanted, durable), durable)

    def _cells_at(self, state: PartitionState, wanted: list[list[int]], durable: int) -> list[dict[int, int]]:
        """Packed counters of these cells (per grain) as of `durable`: from the stored rows (their values, or the
        values they state for before their flush), else from the partition's history up to `durable` (exact,
        slow: only when two flushes beyond `durable` wrote a cell, e.g. the previous owner's writes in flight)."""
        found: list[dict[int, int]] = []
        unknown: list[tuple[int, int]] = []  # (grain, key)
        for grain, keys in enumerate(wanted):
            values: dict[int, int] = {}
            readable_keys = [state.readable(grain, key) for key in keys]
            name = state.levels[grain].grain
            stored = self.lookup_sink.read_cells(state.partition, name, readable_keys) if keys else {}
            for key, readable_key in zip(keys, readable_keys, strict=True):
                row = stored.get(readable_key)
                counters = (0,) * 12 if row is None else row.as_of(durable)
                if counters is None:
                    unknown.append((grain, key))
                else:
                    values[key] = pack_counts(counters)
            found.append(values)
        if unknown:
            self.fallbacks += 1
            history = self.lookup_sink.read_partition(state.partition, upto=durable)
            scratch = PartitionState(
                state.partition,
                attributes=list(state.attributes),
                attribute_ids=dict(state.attribute_ids),
                channel_ids=list(state.channel_ids),
            )
            if history is not None:
                scratch.restore(history)
            for grain, key in unknown:
                found[grain][key] = scratch.levels[grain].values.get(key, 0)
            log.info("partition %d: %d cells read from history up to %d", state.partition, len(unknown), durable)
        return found

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


def _by_partition(to_apply: list[tuple[int, int, list[EventRow]]]) -> dict[int, list[tuple[int, list[EventRow]]]]:
    by_partition: dict[int, list[tuple[int, list[EventRow]]]] = {}
    for partition, offset, events in to_apply:
        by_partition.setdefault(partition, []).append((offset, events))
    return by_partition
