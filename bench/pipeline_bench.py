"""End-to-end benchmark: simulated events -> local Kafka broker -> one worker -> ClickHouse (chdb gateway).

Prints, for N events (default 1,000,000) on this machine, broker included:
- end-to-end events/s: the worker drains a backlog of N events published beforehand;
- the ceiling: a bare aiokafka consumer that only decodes the same topic (orjson, no validation);
- p50/p99 freshness at steady load: events published at --steady-rate events/s, time until the
  aggregates in ClickHouse include them (polled every 50 ms);
- CPU of worker, ClickHouse gateway and broker per event in the drain, and once caught up (idle);
- peak resident memory (VmHWM) of the worker, the broker and the ClickHouse gateway.

    python bench/pipeline_bench.py [--events 1000000] [--steady-rate 5000] [--steady-seconds 30]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from dvcpulse.publisher import publish_lines
from dvcpulse.seeds.simulator import simulate, write_simulation
from dvcpulse.settings import Settings
from dvcpulse.stack import LocalStack, processed_events

EVENTS_PER_RECORD = 4.24  # the 2025 profile's average lifecycle length
BACKLOG_DAYS_AGO = 60  # the backlog's filings start then (their lifecycles end by ~42 days ago)
STEADY_DAYS_AGO = 20  # the steady load's: after the backlog in event time, as live traffic would be
STALL_SECONDS = 120  # no new event processed for this long: stop with what is known


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of processes and everything in their process groups."""
    total = 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, pgid = int(proc.name), int(fields[2])
        if pid in pids or pgid in pids:
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def bare_consumer_rate(bootstrap: str, topic: str, partitions: int, expected: int) -> float:
    """The ceiling: fetch and orjson-decode every message of the topic, nothing else."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=f"bench-bare-{uuid.uuid4().hex}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=8 << 20,
        fetch_max_bytes=64 << 20,
    )
    await consumer.start()
    tps = [TopicPartition(topic, p) for p in range(partitions)]
    consumer.assign(tps)
    await consumer.seek_to_beginning(*tps)
    events = 0
    started = time.perf_counter()
    try:
        while events < expected:
            batch = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            for messages in batch.values():
                for message in messages:
                    value = orjson.loads(message.value)
                    events += len(value) if isinstance(value, list) else 1
    finally:
        await consumer.stop()
    return events / (time.perf_counter() - started)


def idle_cpu(roles: dict[str, int], seconds: float) -> dict[str, float]:
    """Share of a core each role uses once the backlog is drained and nothing arrives."""
    time.sleep(2.0)  # the last write and its acks
    before = {role: cpu_seconds([pid]) for role, pid in roles.items()}
    time.sleep(seconds)
    return {role: (cpu_seconds([pid]) - before[role]) / seconds for role, pid in roles.items()}


def publish(stack: LocalStack, lines, rate: float | None = None):
    """As a backfill: each message states the file's own clock as its arrival, so the simulated past counts as
    it did live (a plain publish would judge it late)."""
    s = stack.settings
    return asyncio.run(
        publish_lines(
            lines, settings=s, bootstrap=stack.bootstrap, topic=s.events_topic, rate=rate, rejects_path=None,
            backfill=True,
        )
    )  # fmt: skip


def history_start(days_ago: int) -> datetime:
    """Simulated filings start this long ago, so that no lifecycle (at most ~17 days) reaches past now (an
    event more than 1 h after its arrival is dead-lettered)."""
    return datetime.now(UTC).replace(microsecond=0) - timedelta(days=days_ago)


def drain(stack: LocalStack, expected: int, timeout: float) -> float:
    client = stack.client()
    db = stack.settings.clickhouse_database
    started = last_change = time.perf_counter()
    seen = 0
    while (processed := processed_events(client, db)) < expected:
        now = time.perf_counter()
        if processed != seen:
            seen, last_change = processed, now
        if now - started > timeout or now - last_change > STALL_SECONDS:
            raise SystemExit(
                f"not drained: processed {processed:,} of {expected:,} events after {now - started:.0f} s "
                f"(see the dead_letters table and the worker log under the data dir)"
            )
        time.sleep(0.2)
    return time.perf_counter() - started


def steady_freshness(stack: LocalStack, rate: float, seconds: float, seed: int) -> list[float]:
    """Publish at `rate` and record, for each cumulative count, publish time -> time it was visible."""
    client = stack.client()
    db = stack.settings.clickhouse_database
    base = processed_events(client, db)
    marks: list[tuple[float, int]] = []  # (wall time, events handed to the producer so far)
    records = int(rate * seconds / EVENTS_PER_RECORD)
    run = simulate(records=records, seed=seed, start=history_start(STEADY_DAYS_AGO))

    def counted():
        for sent, line in enumerate(run, start=1):
            if sent % 200 == 0:
                marks.append((time.perf_counter(), sent))
            yield line

    publisher = threading.Thread(target=lambda: publish(stack, counted(), rate), daemon=True)
    publisher.start()
    seen: list[tuple[float, int]] = []
    while publisher.is_alive() or (seen and seen[-1][1] < (marks[-1][1] if marks else 0)):
        seen.append((time.perf_counter(), processed_events(client, db) - base))
        time.sleep(0.05)
        if len(seen) > 20 * (seconds + 120):
            break
    latencies = []
    for sent_at, count in marks:
        visible = next((t for t, done in seen if done >= count and t >= sent_at), None)
        if visible is not None:
            latencies.append(visible - sent_at)
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--steady-rate", type=float, default=5000)
    parser.add_argument("--steady-seconds", type=float, default=30)
    parser.add_argument("--data-dir", type=Path, default=None)
    args = parser.parse_args()

    root = args.data_dir or Path(tempfile.mkdtemp(prefix="dvcpulse-bench-"))
    jsonl = root / "events.jsonl"
    records = int(args.events / EVENTS_PER_RECORD)
    print(f"simulating {records:,} filings -> {jsonl}", flush=True)
    root.mkdir(parents=True, exist_ok=True)
    truth = write_simulation(jsonl, records=records, seed=1, start=history_start(BACKLOG_DAYS_AGO))
    settings = Settings(data_dir=root / "data", app_id=f"bench-{uuid.uuid4().hex[:6]}")
    stack = LocalStack(settings).start()
    try:
        with jsonl.open("rb") as lines:
            summary = publish(stack, lines)
        print(f"published: {summary}", flush=True)
        ceiling = asyncio.run(
            bare_consumer_rate(stack.bootstrap, settings.events_topic, settings.partitions, summary.events)
        )
        worker = stack.start_worker("bench")
        roles = {"worker": worker.pid, "ClickHouse gateway": stack.gateway.pid if stack.gateway else 0}
        roles["broker"] = stack.broker.pid if stack.broker else 0
        before = {role: cpu_seconds([pid]) for role, pid in roles.items()}
        seconds = drain(stack, truth["valid_events"], timeout=3600)
        cpu = {role: cpu_seconds([pid]) - before[role] for role, pid in roles.items()}
        rate = truth["valid_events"] / seconds
        idle = idle_cpu(roles, seconds=5.0)
        latencies = steady_freshness(stack, args.steady_rate, args.steady_seconds, seed=2)
        peaks = {role: peak_rss_mb(pid) for role, pid in roles.items() if pid}
    finally:
        stack.stop()
    print()
    print(f"events                         {truth['valid_events']:,} (backlog drained by one worker)")
    print(f"end to end                     {rate:,.0f} events/s  ({seconds:.1f} s, worker start-up included)")
    print(f"bare aiokafka + orjson ceiling {ceiling:,.0f} events/s")
    for role, used in cpu.items():
        per_event = used / truth["valid_events"] * 1e6
        print(f"CPU in the drain: {role:<19}{used:,.1f} s ({used / seconds:.0%} of a core, {per_event:.0f} µs/event)")
    print("CPU when caught up (idle):      " + ", ".join(f"{role} {share:.0%}" for role, share in idle.items()))
    if latencies:
        p50 = statistics.median(latencies)
        p99 = statistics.quantiles(latencies, n=100)[98] if len(latencies) >= 100 else max(latencies)
        label = f"freshness at {args.steady_rate:,.0f} events/s"
        print(f"{label:<31}p50 {p50:.2f} s, p99 {p99:.2f} s ({len(latencies)} probes)")
    print("peak memory (VmHWM):            " + ", ".join(f"{role} {mb:,.0f} MB" for role, mb in peaks.items()))


if __name__ == "__main__":
    main()
