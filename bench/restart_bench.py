"""Restart cost of one partition, before and after state on demand (issue 14), on the embedded engine in-process.

    .venv/bin/python bench/restart_bench.py --events 200000

Writes a synthetic history of one partition through the product's own write path (Aggregator.flush, batches
of 5,000 events, ~4 events per record), then times (a) the full restore the worker did before migration 0009
(read_partition + PartitionState.restore) and the records it keeps, and (b) today's start: the checkpoint, then
the first batch of 1,000 new events (records of which half are old, so looked up) applied.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
import tracemalloc

import clickhouse_connect

from dvcpulse.settings import Settings
from dvcpulse.sinks.contract import EventRow
from dvcpulse.sinks.migrate import migrate
from dvcpulse.sinks.writer import ClickHouseWriter
from dvcpulse.streams.aggregate import Aggregator
from dvcpulse.streams.state import PartitionState

T0 = 1_756_684_800_000
P = 0


def events(n: int, start: int, rng: random.Random, records: int) -> list[EventRow]:
    out = []
    for i in range(start, start + n):
        record = f"R{rng.randrange(records)}"
        kind = rng.choice(["submitted", "status_changed", "status_changed", "synced"])
        out.append(EventRow(
            f"E{i}", record, "1.001", f"DV{rng.randrange(1, 26):02d}", f"{rng.randrange(1, 35):02d}", "", "",
            rng.choice([1, 2]), "full", kind, rng.randrange(1, 11), T0 + i * 600, None, None, "", False, i + 1,
        ))  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=200_000)
    args = parser.parse_args()
    rng = random.Random(1)
    client = clickhouse_connect.get_client(dsn=f"chdb://{tempfile.mkdtemp()}/chdb")
    migrate(client, "bench")
    writer = ClickHouseWriter(client, "bench")
    records = args.events // 4
    loader = Aggregator(writer, max_records=10**9, max_cells=10**9)
    loader.load([P])
    offset = 0
    started = time.perf_counter()
    for start in range(0, args.events, 5000):
        batch = [(P, offset + i, [e]) for i, e in enumerate(events(5000, start, rng, records))]
        offset += len(batch)
        loader.flush(loader.apply(batch))
    print(f"history: {args.events} events, {records} records, written in {time.perf_counter() - started:.1f} s")

    tracemalloc.start()
    started = time.perf_counter()
    state = PartitionState(P)
    state.restore(writer.read_partition(P))
    full = time.perf_counter() - started
    full_mb = tracemalloc.get_traced_memory()[0] / 1e6
    tracemalloc.stop()
    print(f"before (full restore): {full:.2f} s, {len(state.records)} records, {full_mb:.0f} MB traced")
    del state

    tracemalloc.start()
    started = time.perf_counter()
    budgets = Settings()
    aggregator = Aggregator(writer, budgets.max_records, budgets.max_cells)  # the worker's defaults
    aggregator.load([P])
    new = events(1000, args.events, rng, records * 2)
    batch = [(P, offset + i, [e]) for i, e in enumerate(new)]
    aggregator.prefetch(batch)
    aggregator.flush(aggregator.apply(batch))
    lazy = time.perf_counter() - started
    lazy_mb = tracemalloc.get_traced_memory()[0] / 1e6
    tracemalloc.stop()
    print(
        f"after (checkpoint, then a batch of 1000 new events applied and written): {lazy:.2f} s, "
        f"{len(aggregator.states[P].records)} records in memory, {lazy_mb:.0f} MB traced"
    )


if __name__ == "__main__":
    main()
