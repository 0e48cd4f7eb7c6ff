"""One worker's processing of a batch: route it, apply it, produce its forwards and dead letters, write it.

The Faust app (dvcpulse.streams.app) feeds batches in; the rules live in streams.ingest (routing) and
streams.state (counting), the I/O in the sink. A batch's forwards and dead letters are in Kafka before its
write starts, so the checkpoint never covers an offset whose forwards could be lost.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import faust

from dvcpulse.models.lateness import Lateness, timestamp_ms
from dvcpulse.streams.aggregate import Aggregator
from dvcpulse.streams.ingest import SourceMessage, now_utc, route
from dvcpulse.streams.internal import ORIGIN_HEADER
from dvcpulse.streams.io_thread import retried_in_io_thread, retried_in_lookup_thread
from dvcpulse.streams.state import PartitionState


class Pipeline:
    def __init__(
        self,
        aggregator: Aggregator,
        events_topic: faust.TopicT,
        dead_letter_topic: faust.TopicT,
        *,
        partitions: int,
        lateness: Lateness,
        validation_context: dict[str, Any],
        owns: Callable[[int], bool],
    ):
        self.aggregator = aggregator
        self.events_topic = events_topic
        self.dead_letter_topic = dead_letter_topic
        self.partitions = partitions
        self.lateness = lateness
        self.validation_context = validation_context
        self.owns = owns  # whether this worker owns an events-topic partition right now

    async def owned_states(self, partitions: set[int]) -> dict[int, PartitionState]:
        """The states of the partitions still owned, restored first where needed (a rebalance may forget
        a state while another is restored, hence the loop)."""
        while True:
            wanted = {p for p in partitions if self.owns(p)}
            missing = wanted - self.aggregator.states.keys()
            if not missing:
                return {p: self.aggregator.states[p] for p in wanted}
            await retried_in_io_thread("partition restore", partial(self.aggregator.load, sorted(missing)))

    async def process(self, batch: list[faust.EventT]) -> Processed:
        """Route and apply a batch, produce its forwards and dead letters; returns its pending write and the
        messages that must not be acknowledged."""
        messages = [
            SourceMessage(
                e.message.topic,
                e.message.partition,
                e.message.offset,
                e.value,
                e.message.headers,
                timestamp_ms(e.message.timestamp),
            )
            for e in batch
        ]
        states = await self.owned_states({m.partition for m in messages})
        routed = route(messages, states, self.partitions, self.lateness, self.validation_context)
        to_apply, not_owned = routed.to_apply, routed.not_owned
        if to_apply and self.aggregator.lookups_needed(to_apply):  # read as of what is durable now
            await retried_in_lookup_thread("state lookup", partial(self.aggregator.prefetch, to_apply))
            # a rebalance during the lookup may have revoked (or revoked and restored) a partition: its
            # messages are left to whoever holds its state now, unacknowledged
            moved = {p for p in {p for p, _, _ in to_apply} if self.aggregator.states.get(p) is not states[p]}
            if moved:
                not_owned = not_owned | {(p, offset) for p, offset, _ in to_apply if p in moved}
                to_apply = [message for message in to_apply if message[0] not in moved]
        changes = self.aggregator.apply(to_apply)
        received_at = now_utc()
        pending = [
            await self.events_topic.send(value=value, partition=partition, headers={ORIGIN_HEADER: origins})
            for partition, forward in sorted(routed.forwards.items())
            for value, origins in forward.messages()
        ]
        for dead in routed.dead_letters:
            pending.append(await self.dead_letter_topic.send(key=dead.key, value=dead.to_json(received_at)))
        await asyncio.gather(*pending)
        rows = [dead.to_row(received_at) for dead in routed.dead_letters]
        written = retried_in_io_thread("flush", lambda: self.aggregator.flush(changes, rows))
        return Processed(written, not_owned)


@dataclass(frozen=True, slots=True)
class Processed:
    written: asyncio.Future[None]  # done when the batch's changes are in ClickHouse
    # (partition, offset) of messages of partitions not owned when the batch was routed: never acknowledged
    # (an ack would let the committed offset pass messages nobody applied); their owner reads them
    not_owned: set[tuple[int, int]]

    def to_ack(self, batch: list[faust.EventT]) -> list[faust.EventT]:
        not_owned = self.not_owned
        if not not_owned:
            return batch
        return [e for e in batch if (e.message.partition, e.message.offset) not in not_owned]
