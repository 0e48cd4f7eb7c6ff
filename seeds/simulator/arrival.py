"""Arrival order: the knobs that disturb the event stream, and the count of every line that leaves.

Events come in by the time they happened (see `events`); then `out_of_order` holds an event back
1..OUT_OF_ORDER_WINDOW lines, `duplicates` re-sends an event's exact bytes 1..DUPLICATE_WINDOW lines later,
and `malformed` adds an extra bad line (round-robin over MALFORMED_KINDS, from a random first kind) within
MALFORMED_WINDOW lines after a valid event. These fractions are per unique valid event; each knob draws from
its own random stream, so turning one on leaves the base events unchanged.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from itertools import count
from typing import Any

from dvcpulse.seeds.ground_truth import TruthAccumulator
from dvcpulse.seeds.simulator.config import SimulationConfig
from dvcpulse.seeds.simulator.events import Event
from dvcpulse.seeds.simulator.malformed import MALFORMED_KINDS, malformed_line
from dvcpulse.seeds.simulator.randomness import Streams, event_id

OUT_OF_ORDER_WINDOW = 300  # lines an out-of-order event is held back, at most
DUPLICATE_WINDOW = 2_000  # lines after the original that a re-sent copy arrives, at most
MALFORMED_WINDOW = 50  # lines after the valid event it was derived from that a bad line arrives, at most

_ORIGINAL, _COPY, _MALFORMED = 0, 1, 2


class Arrival:
    """Applies out-of-order, duplicates and malformed lines to the event stream; reports every line."""

    def __init__(self, config: SimulationConfig, streams: Streams, truth: TruthAccumulator):
        self.config = config
        self.streams = streams
        self.truth = truth
        self.held: list[tuple[int, int, int, bytes, Any]] = []  # (release after line, order, role, line, meta)
        self.order = count()
        self.malformed_count = 0

    def lines(self, events: Iterator[Event]) -> Iterator[bytes]:
        out_of_order = self.config.out_of_order
        displace = self.streams.out_of_order
        held, truth = self.held, self.truth
        for event in events:
            if out_of_order and displace.random() < out_of_order:
                self._hold(displace.randint(1, OUT_OF_ORDER_WINDOW), _ORIGINAL, event[0], event)
            else:
                yield event[0]
                self._emitted(_ORIGINAL, event[0], event)
            while held and held[0][0] <= truth.lines:
                yield self._release()
        while held:
            yield self._release()

    def _hold(self, delay: int, role: int, line: bytes, meta: Any) -> None:
        heapq.heappush(self.held, (self.truth.lines + delay, next(self.order), role, line, meta))

    def _release(self) -> bytes:
        _, _, role, line, meta = heapq.heappop(self.held)
        self._emitted(role, line, meta)
        return line

    def _emitted(self, role: int, line: bytes, meta: Any) -> None:
        """Count a line just yielded; an original may schedule its re-sent copy and a malformed sibling."""
        if role == _MALFORMED:
            self.truth.malformed_line()
            return
        _, cell, event_type, stamped, status, record, facts = meta
        self.truth.valid_line(cell, event_type, stamped, role == _COPY)
        if role != _COPY:
            self.truth.index.event(record, event_type, status, stamped, facts)
        if role == _COPY:
            return
        config, streams = self.config, self.streams
        if config.duplicates and streams.duplicates.random() < config.duplicates:
            self._hold(streams.duplicates.randint(1, DUPLICATE_WINDOW), _COPY, line, meta)
        if config.malformed and streams.malformed.random() < config.malformed:
            self._hold(streams.malformed.randint(0, MALFORMED_WINDOW), _MALFORMED, self._malformed(line), None)

    def _malformed(self, line: bytes) -> bytes:
        rng = self.streams.malformed
        if self.malformed_count == 0:
            self.malformed_count = rng.randrange(len(MALFORMED_KINDS))  # random first kind, then round-robin
        kind = MALFORMED_KINDS[self.malformed_count % len(MALFORMED_KINDS)]
        self.malformed_count += 1
        return malformed_line(line, kind, event_id(rng), rng)
