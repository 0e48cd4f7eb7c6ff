"""Publish throughput to the local Kafka broker: validate + send N events from a JSON Lines file.

    python bench/publish_bench.py --events 1000000                 # simulates the input first (~20 s)
    python bench/publish_bench.py --file out/events.jsonl          # or takes yours
    python bench/publish_bench.py --events 1000000 --keep-input out/bench.jsonl --envelope 1

The clock runs from the first line read to the last message acknowledged (acks=all), file reading,
validation and sending included; simulating the input and starting the broker are not timed.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import tempfile
import time
from itertools import islice
from pathlib import Path

from dvcpulse.embedded_broker import EmbeddedBroker
from dvcpulse.publisher import PublishSummary, publish_lines
from dvcpulse.settings import Settings
from dvcpulse.topics import ensure_topics

EVENTS_PER_RECORD = 4.2  # the simulator's average, to ask it for enough records


def simulate_input(path: Path, events: int, seed: int) -> None:
    from dvcpulse.seeds.simulator import simulate, write_lines

    records = math.ceil(events / EVENTS_PER_RECORD * 1.05)
    with path.open("wb") as sink:
        write_lines(islice(simulate(records=records, seed=seed), events), sink)


async def run(path: Path, settings: Settings, bootstrap: str, envelope: int) -> PublishSummary:
    await ensure_topics(settings, bootstrap)
    with path.open("rb", buffering=1 << 20) as lines:
        return await publish_lines(
            lines,
            settings=settings,
            bootstrap=bootstrap,
            topic=settings.events_topic,
            envelope=envelope,
            rejects_path=path.with_suffix(".rejects.jsonl"),
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000, help="events to simulate (without --file)")
    parser.add_argument("--file", type=Path, help="publish this JSONL file instead of simulating one")
    parser.add_argument("--keep-input", type=Path, help="write the simulated input here (and keep it)")
    parser.add_argument("--envelope", type=int, default=100, help="events per message (1 = keyed singles)")
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    with tempfile.TemporaryDirectory(prefix="dvcpulse-bench-") as scratch:
        path = args.file or args.keep_input or Path(scratch) / "events.jsonl"
        if args.file is None:
            started = time.monotonic()
            simulate_input(path, args.events, args.seed)
            print(f"simulated {args.events:,} events into {path} in {time.monotonic() - started:.1f} s")
        size = path.stat().st_size
        settings = Settings(partitions=args.partitions, data_dir=Path(scratch) / "data")
        with EmbeddedBroker(settings.broker_dir) as broker:
            summary = asyncio.run(run(path, settings, broker.bootstrap, args.envelope))
            stopping = time.monotonic()
        print(f"(broker stopped in {time.monotonic() - stopping:.1f} s)")
    print(summary)
    print(
        f"{summary.events:,} events, {summary.messages:,} messages, envelope {args.envelope}, "
        f"{args.partitions} partitions: {summary.seconds:.2f} s, {summary.events_per_second:,.0f} events/s, "
        f"{summary.megabytes_per_second:.1f} MB/s of event JSON ({size / 1e6 / summary.seconds:.1f} MB/s of file)"
    )


if __name__ == "__main__":
    main()
