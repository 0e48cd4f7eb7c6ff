"""Scale benchmark: what a longer history costs the worker and the dashboards.

For two history sizes (default 30 days and a national year of 2025 traffic, ~120,000 filings a day, ~4.2
events each), loaded through the product's write path (synthetic filings applied by the worker's own
`PartitionState`, written by `ClickHouseWriter.write` into a fresh embedded ClickHouse), it prints:

- the load itself (events, records, seconds, events/s);
- the worker's restart-to-processing time: a real worker process (`dvcpulse worker`, with the embedded
  Kafka broker and the chdb gateway of `dvcpulse up`) started against that history while one new event
  is published; the time from its start until that event is in ClickHouse (the partition checkpoints
  count it), and the worker's peak resident memory (VmHWM) meanwhile;
- every dashboard panel's, variable's and alert rule's SQL (dashboards/sql.py, expanded with the plugin's
  macros for the default range, now-6h..now, the way tests/dashboards runs them), plus the analysts' views
  read whole, each timed (median of `--repeats` runs after one warm-up), and the slowest of them;
- the ratio large / small of each figure.

    python bench/scale_bench.py                              # 30 days and 365 days (a long run: see --help)
    python bench/scale_bench.py --small-days 1 --large-days 10 --json
    python bench/scale_bench.py --data-dir /tmp/scale --reuse # load once, measure again later

A national year is ~186M events: at the ~12,000 events/s this loader writes on 2 cores, some 4-5 hours of
loading (and ~13 GB of disk: 10 days took 320 MB). Load it once with `--load-only --data-dir DIR`, then
measure with `--reuse`.

The history is synthetic: filings drawn from the simulator's calibrated 2025 mix (services, provinces by
population, channels, office-hour and online diurnal patterns, lifecycles of 2..6 events over minutes to
days), event ids and sources unique, nothing late or duplicated, in event-time order per partition, in
messages of `--envelope` events. The loader keeps only what can still change in memory (a record until its
last event is applied, cells of the day being loaded): every row it writes is the row an uninterrupted
worker writes for the same messages. Each partition's events-topic offsets are then occupied in Kafka by
small placeholder messages, so the worker's checkpoints and the topic agree (messages at or below a
checkpoint are skipped unread) and the new event lands after them.

A worker that needs more than `--max-worker-mb` of memory, or more than `--restart-timeout` seconds, is
stopped and its figure reported as null (with the reason) rather than taking the machine down.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import queue
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from bisect import bisect_right
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta, timezone
from itertools import accumulate
from pathlib import Path

EVENTS_PER_RECORD = 4.24  # the 2025 profile's average lifecycle length
DAY_S = 86_400
VN_OFFSET_S = 7 * 3600
MANIFEST = "scale-manifest.json"


# -- synthetic history, through the product's write path ------------------------------------------------


@dataclass(frozen=True)
class LoadSpec:
    days: int
    records_per_day: int
    partitions: int
    envelope: int
    end_s: int  # the history ends here (epoch seconds; events after it are not yet sent)
    seed: int = 1


@dataclass
class LoadResult:
    events: int
    records: int
    seconds: float
    events_per_second: float
    offsets: list[int]  # last events-topic offset applied per partition (-1: none)


def _vn_midnight(epoch_s: int) -> int:
    return (epoch_s + VN_OFFSET_S) // DAY_S * DAY_S - VN_OFFSET_S


def apply_migrations(client, database: str, upto: int | None) -> list[int]:
    """sinks.migrate.migrate, or only the migrations up to `upto` (to measure a schema before a later one)."""
    from dvcpulse.sinks import migrate

    if upto is None:
        return [m.version for m in migrate.migrate(client, database)]
    everything = migrate.available
    try:
        migrate.available = lambda: [m for m in everything() if m.version <= upto]
        return [m.version for m in migrate.migrate(client, database)]
    finally:
        migrate.available = everything


def load_history(dsn: str, database: str, spec: LoadSpec, progress: bool = True) -> LoadResult:
    """Apply synthetic filings with PartitionState and write each Vietnam day with ClickHouseWriter.write, on
    a migrated database (`dsn`: the gateway's URL, so that ClickHouse works in its own process, or chdb://)."""
    from dvcpulse.models.partitioning import record_partition
    from dvcpulse.seeds.simulator import PROFILES, TimeSampler, in_person_rate, online_rate, service_mix
    from dvcpulse.seeds.simulator.lifecycles import draw_lifecycle
    from dvcpulse.seeds.simulator.provinces import province_units
    from dvcpulse.settings import Settings
    from dvcpulse.sinks.connection import connect
    from dvcpulse.sinks.contract import EventRow
    from dvcpulse.sinks.writer import ClickHouseWriter
    from dvcpulse.streams.state import ATTR_BITS, GRAIN_TIMES, PartitionState

    client = connect(Settings(clickhouse_database=database), dsn=dsn)
    writer = ClickHouseWriter(client, database)

    mix = service_mix(PROFILES["2025"])
    mix_cumulative = tuple(accumulate(e.weight for e in mix))
    units = province_units()
    unit_cumulative = tuple(accumulate(u.population for u in units))
    rng = random.Random(f"scale-bench:{spec.seed}")
    states = [PartitionState(partition=p) for p in range(spec.partitions)]
    offsets = [-1] * spec.partitions
    first_day = _vn_midnight(spec.end_s - 1) - (spec.days - 1) * DAY_S
    pending: dict[int, list[tuple]] = {}  # Vietnam day start -> events (time ms, event id, record, attrs...)
    finishing: dict[int, list[tuple[int, str]]] = {}  # day start -> (partition, record) whose last event it holds
    events_total = records_total = 0
    writes: queue.Queue[list | None] = queue.Queue(maxsize=1)
    failed: list[BaseException] = []

    def write_days() -> None:
        while (batch := writes.get()) is not None:
            try:
                if not failed:
                    writer.write(batch)
            except BaseException as error:
                failed.append(error)

    thread = threading.Thread(target=write_days, name="writer", daemon=True)
    thread.start()
    started = time.perf_counter()
    source = 0
    for day in range(spec.days):
        day_start = first_day + day * DAY_S
        day_end = min(day_start + DAY_S, spec.end_s)
        counter_hours = TimeSampler.build(day_start, day_start + DAY_S, in_person_rate)
        any_hours = TimeSampler.build(day_start, day_start + DAY_S, online_rate)
        for n in range(spec.records_per_day):
            entry = mix[min(bisect_right(mix_cumulative, rng.random() * mix_cumulative[-1]), len(mix) - 1)]
            unit = units[min(bisect_right(unit_cumulative, rng.random() * unit_cumulative[-1]), len(units) - 1)]
            draw = rng.random()
            channel = 2 if draw < entry.online else 3 if draw < entry.online + entry.postal else 1
            submitted_at = (any_hours if channel == 2 else counter_hours).sample(rng)
            if submitted_at >= spec.end_s:
                continue
            record = f"S{day:03d}-{n:06d}"
            partition = record_partition(record, spec.partitions)
            procedure = entry.procedure_codes[n % len(entry.procedure_codes)]
            _, lifecycle = draw_lifecycle(rng, channel, submitted_at)
            attrs = (procedure, entry.service_code, unit.code_2025, channel, entry.online_level)
            records_total += 1
            for index, (at, kind, status) in enumerate(lifecycle):
                if at >= spec.end_s:
                    break
                bucket = _vn_midnight(at)
                pending.setdefault(bucket, []).append((at * 1000 + index, f"{record}-{index}", record, partition,
                                                       attrs, kind, status))  # fmt: skip
                if index == len(lifecycle) - 1:
                    finishing.setdefault(bucket, []).append((partition, record))
        today = sorted(pending.pop(day_start, []))
        per_partition: list[list[EventRow]] = [[] for _ in range(spec.partitions)]
        for time_ms, event_id, record, partition, attrs, kind, status in today:
            procedure, service, province, channel, level = attrs
            source += 1
            per_partition[partition].append(EventRow(
                event_id, record, procedure, service, province, "", f"{province}.UB", channel, level, kind, status,
                time_ms, None, None, "", False, source,
            ))  # fmt: skip
        for partition, rows in enumerate(per_partition):
            state = states[partition]
            for at in range(0, len(rows), spec.envelope):
                offsets[partition] += 1
                state.apply_message(offsets[partition], rows[at : at + spec.envelope])
        events_total += len(today)
        # written by the writer thread while the next day is drawn
        writes.put([state.take_changes() for state in states if state.offset >= 0])
        if failed:
            raise failed[0]
        # Nothing written from here on can touch what this day closed: forget it, as a worker that never
        # restarts would keep it (every later row is the same either way).
        # (Only where the state keeps these as plain dicts: a state that bounds itself needs no help.)
        for partition, record in finishing.pop(day_start, []):
            records = getattr(states[partition], "records", None)
            if isinstance(records, dict):
                records.pop(record, None)
        closed_minute = day_end // 60  # every cell of a grain that ends by then is closed (months stay)
        for state in states:
            for cells in state.levels:
                if cells.grain != "month":
                    end = GRAIN_TIMES[cells.grain](closed_minute) << ATTR_BITS
                    cells.values = {k: v for k, v in cells.values.items() if k >= end}
        if progress:
            elapsed = time.perf_counter() - started
            print(f"  day {day + 1}/{spec.days}: {events_total:,} events, {elapsed:,.0f} s "
                  f"({events_total / elapsed:,.0f} events/s)", file=sys.stderr, flush=True)  # fmt: skip
    writes.put(None)
    thread.join()
    if failed:
        raise failed[0]
    client.close()
    seconds = time.perf_counter() - started
    return LoadResult(events_total, records_total, seconds, events_total / seconds if seconds else 0.0, offsets)


def _load_main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--database", required=True)
    parser.add_argument("--spec", required=True)
    args = parser.parse_args(argv)
    result = load_history(args.dsn, args.database, LoadSpec(**json.loads(args.spec)))
    print(json.dumps(asdict(result)))


# -- queries ----------------------------------------------------------------------------------------------

AGGREGATE_VIEWS = ("v_totals", "v_cumulative_daily", "v_counts_by_cell", "v_online_rate_rolling", "v_freshness",
                   "v_pipeline")  # fmt: skip


def panel_queries(database: str, end: datetime) -> dict[str, str]:
    """Every panel's, variable's and alert rule's SQL as ClickHouse receives it for now-6h..`end`."""
    from dvcpulse.dashboards import macros, sql
    from dvcpulse.dashboards.macros import ALL, Variable
    from dvcpulse.seeds.reference import provinces

    ctx = macros.QueryContext(start=end - timedelta(hours=6), end=end, interval=timedelta(seconds=30))
    every_province = Variable(ALL, options=tuple(provinces()))
    out = {}
    for name, text in sql.Queries(database).statements().items():
        variables = (
            {"service": "DV06", "province": every_province} if name.startswith("service_")
            else {"province": "79", "service": "DV06"}
        )  # fmt: skip
        out[name] = macros.render(text, ctx, variables)
    return out


def view_queries(database: str) -> dict[str, str]:
    """The aggregate views read whole, and every example of sinks/VIEWS.md (unqualified names: the client's
    default database)."""
    import re

    out = {f"{view} (whole)": f"SELECT * FROM {database}.{view}" for view in AGGREGATE_VIEWS}
    doc = (Path(__file__).resolve().parents[1] / "sinks" / "VIEWS.md").read_text(encoding="utf-8")
    for section in re.split(r"^## ", doc, flags=re.MULTILINE)[1:]:
        heading, _, body = section.partition("\n")
        for n, query in enumerate(re.findall(r'dvcpulse sql "([^"]*)"', body), start=1):
            out[f"{heading.strip().strip('`')} example {n}"] = query.strip()
    return out


def time_queries(client, queries: dict[str, str], repeats: int, slow: float = 20.0) -> dict[str, dict]:
    """{name: {"first": s, "median": s}}: one run, then the median of `repeats` more (none after a first run
    slower than `slow` seconds: that one is the figure). A query that fails keeps its time and its error."""
    timings: dict[str, dict] = {}
    for name, text in queries.items():
        runs: list[float] = []
        error = ""
        while len(runs) < 1 + repeats and not (runs and runs[0] > slow):
            started = time.perf_counter()
            try:
                client.query(text)
            except Exception as failure:  # e.g. a client timeout on a history-wide view
                error = f"{type(failure).__name__}: {str(failure)[:200]}"
            runs.append(time.perf_counter() - started)
            if error:
                break
        timings[name] = {"first": runs[0], "median": statistics.median(runs[1:]) if len(runs) > 1 else runs[0]}
        if error:
            timings[name]["error"] = error
    return timings


# -- the worker against the history ---------------------------------------------------------------------


def _status(pid: int) -> dict[str, float]:
    values = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(("VmRSS:", "VmHWM:")):
                values[line.split(":")[0]] = int(line.split()[1]) / 1024
    except OSError:
        pass
    return values


async def _occupy_offsets(bootstrap: str, topic: str, offsets: list[int], options: dict) -> int:
    """Placeholder messages up to each partition's checkpoint offset (skipped unread by the worker)."""
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, **options)
    await consumer.start()
    try:
        ends = await consumer.end_offsets([TopicPartition(topic, p) for p in range(len(offsets))])
    finally:
        await consumer.stop()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, max_batch_size=1 << 20, **options)
    await producer.start()
    sent = 0
    try:
        pending = []
        for partition, last in enumerate(offsets):
            for _ in range(last + 1 - ends[TopicPartition(topic, partition)]):
                pending.append(await producer.send(topic, b"{}", partition=partition))
                sent += 1
                if len(pending) >= 20_000:
                    await asyncio.gather(*pending)
                    pending = []
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return sent


def _new_event(record_id: str) -> bytes:
    at = datetime.now(UTC).astimezone(timezone(timedelta(hours=7))).replace(microsecond=0)
    return json.dumps({
        "event_id": f"{record_id}-s", "record_id": record_id, "procedure_code": "1.000611", "service_code": "DV06",
        "province_code": "79", "agency_code": "79.UB", "channel": 2, "online_level": "full",
        "event_type": "submitted", "status": 1, "event_time": at.isoformat(),
    }).encode()  # fmt: skip


def measure_restart(stack, max_worker_mb: float, timeout: float) -> dict:
    """Start a worker on the loaded history while one new event is published; seconds until ClickHouse counts
    it, and the worker's peak memory. None (with the reason) when the worker goes over a limit."""
    from dvcpulse.publisher import publish_lines
    from dvcpulse.stack import processed_events

    client = stack.client()
    database = stack.settings.clickhouse_database
    before = processed_events(client, database)
    worker = stack.start_worker("scale-bench")
    started = time.perf_counter()
    line = _new_event(f"SCALE-{uuid.uuid4().hex[:12]}")
    settings = stack.settings
    asyncio.run(
        publish_lines(
            [line], settings=settings, bootstrap=stack.bootstrap, topic=settings.events_topic, rejects_path=None
        )
    )
    seconds, reason, peak = None, "", 0.0
    try:
        while True:
            status = _status(worker.pid)
            peak = max(peak, status.get("VmHWM", 0.0))
            if worker.poll() is not None:
                reason = f"worker exited with code {worker.returncode}"
                break
            if status.get("VmRSS", 0.0) > max_worker_mb:
                reason = f"worker memory above --max-worker-mb {max_worker_mb:,.0f} MB, stopped"
                break
            if time.perf_counter() - started > timeout:
                reason = f"not processed within --restart-timeout {timeout:,.0f} s, stopped"
                break
            try:
                if processed_events(client, database) > before:
                    seconds = time.perf_counter() - started
                    break
            except Exception:  # the gateway can be too busy serving the restore to answer in time
                pass
            time.sleep(0.25)
        peak = max(peak, _status(worker.pid).get("VmHWM", 0.0))
    finally:
        stack.stop_worker("scale-bench", kill=bool(reason))
        client.close()
    return {"seconds": seconds, "peak_memory_mb": peak, "reason": reason}


# -- one size, two sizes ----------------------------------------------------------------------------------


def _reusable(data_dir: Path, spec: LoadSpec) -> LoadResult | None:
    manifest = data_dir / MANIFEST
    if not manifest.exists():
        return None
    saved = json.loads(manifest.read_text())
    same = {k: v for k, v in saved["spec"].items() if k != "end_s"} == {
        k: v for k, v in asdict(spec).items() if k != "end_s"
    }
    return LoadResult(**saved["result"]) if same else None


def load(stack, spec: LoadSpec, database: str) -> LoadResult:
    """The history, loaded by a child process through the stack's gateway (ClickHouse works in the gateway's
    process meanwhile); the data dir's manifest records it for --reuse."""
    print(f"loading {spec.days} days x {spec.records_per_day:,} filings/day into {stack.settings.data_dir}", flush=True)
    done = subprocess.run(
        [sys.executable, __file__, "_load", "--dsn", stack.clickhouse_url, "--database", database,
         "--spec", json.dumps(asdict(spec))],
        check=True, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    result = LoadResult(**json.loads(done.stdout.strip().splitlines()[-1]))
    manifest = {"spec": asdict(spec), "result": asdict(result)}
    (stack.settings.data_dir / MANIFEST).write_text(json.dumps(manifest))
    print(f"loaded {result.events:,} events ({result.records:,} filings) in {result.seconds:,.0f} s: "
          f"{result.events_per_second:,.0f} events/s", flush=True)  # fmt: skip
    return result


def measure(root: Path, spec: LoadSpec, args: argparse.Namespace) -> dict:
    from dvcpulse.settings import Settings
    from dvcpulse.sinks.connection import connect
    from dvcpulse.stack import LocalStack

    data_dir = root / f"history-{spec.days}d"
    loaded = _reusable(data_dir, spec) if args.reuse else None
    if loaded is None and data_dir.exists():
        subprocess.run(["rm", "-rf", str(data_dir)], check=True)
    elif loaded is not None:
        print(f"reusing {data_dir} ({loaded.events:,} events)", flush=True)
    settings = Settings(data_dir=data_dir, partitions=spec.partitions, app_id="scale-bench",
                        clickhouse_database=args.database)  # fmt: skip
    stack = LocalStack(settings).start(migrate_schema=False)
    try:
        admin = connect(settings, database="", dsn=stack.clickhouse_url)
        started = time.perf_counter()
        applied = apply_migrations(admin, args.database, args.schema_upto)
        admin.close()
        if applied:
            print(f"  migrations {applied} applied in {time.perf_counter() - started:,.1f} s", flush=True)
        if loaded is None:
            loaded = load(stack, spec, args.database)
        if args.load_only:
            return {"spec": asdict(spec), "load": asdict(loaded)}
        sent = asyncio.run(_occupy_offsets(stack.bootstrap, settings.events_topic, loaded.offsets,
                                           settings.kafka_client_options()))  # fmt: skip
        print(f"  {sent:,} placeholder messages up to the checkpoints", flush=True)
        client = stack.client()
        end = datetime.fromtimestamp(min(spec.end_s, time.time()), UTC)
        panels = time_queries(client, panel_queries(args.database, end), args.repeats)
        views = time_queries(client, view_queries(args.database), args.repeats)
        client.close()
        restart = measure_restart(stack, args.max_worker_mb, args.restart_timeout) if args.restart else None
    finally:
        stack.stop()
    return {"spec": asdict(spec), "load": asdict(loaded), "panels": panels, "views": views, "restart": restart}


def _slowest(timings: dict[str, dict[str, float]]) -> tuple[str, float]:
    name = max(timings, key=lambda n: timings[n]["median"])
    return name, timings[name]["median"]


def _ratio(small: float | None, large: float | None) -> str:
    return f"{large / small:,.1f}x" if small and large is not None else "n/a"


def report(sizes: list[dict]) -> dict:
    small, large = sizes
    summary = {
        "events": [s["load"]["events"] for s in sizes],
        "peak_memory_mb": [round(s["restart"]["peak_memory_mb"], 1) if s["restart"] else None for s in sizes],
        "restart_seconds": [
            round(s["restart"]["seconds"], 2) if s["restart"] and s["restart"]["seconds"] is not None else None
            for s in sizes
        ],
        "slowest_query_seconds": [round(_slowest(s["panels"])[1], 3) for s in sizes],
        "slowest_query": [_slowest(s["panels"])[0] for s in sizes],
        "slowest_view_seconds": [round(_slowest(s["views"])[1], 3) for s in sizes],
        "slowest_view": [_slowest(s["views"])[0] for s in sizes],
        "days": [s["spec"]["days"] for s in sizes],
        "load_events_per_second": [round(s["load"]["events_per_second"]) for s in sizes],
        "restart_notes": [s["restart"]["reason"] if s["restart"] else "not measured" for s in sizes],
        "queries": {
            name: [round(s[group][name]["median"], 4) for s in sizes]
            for group in ("panels", "views")
            for name in small[group]
            if name in large[group]
        },
    }
    return summary


def print_report(summary: dict) -> None:
    days, events = summary["days"], summary["events"]
    print()
    print(f"{'':34}{f'{days[0]} days':>16}{f'{days[1]} days':>16}{'ratio':>9}")
    print(f"{'events':34}{events[0]:>16,}{events[1]:>16,}{_ratio(*events):>9}")
    rates = summary["load_events_per_second"]
    print(f"{'load (events/s)':34}{rates[0]:>16,}{rates[1]:>16,}")

    def row(label: str, pair: list, unit: str) -> None:
        cells = [f"{v:,.2f} {unit}" if v is not None else "n/a" for v in pair]
        print(f"{label:34}{cells[0]:>16}{cells[1]:>16}{_ratio(*pair):>9}")

    row("worker peak memory", summary["peak_memory_mb"], "MB")
    row("restart -> new event visible", summary["restart_seconds"], "s")
    row("slowest panel query", summary["slowest_query_seconds"], "s")
    row("slowest view query", summary["slowest_view_seconds"], "s")
    for note in summary["restart_notes"]:
        if note:
            print(f"  worker: {note}")
    print(f"  slowest panels: {summary['slowest_query'][0]} / {summary['slowest_query'][1]}; "
          f"views: {summary['slowest_view'][0]} / {summary['slowest_view'][1]}")  # fmt: skip
    print()
    print(f"{'query (median seconds)':52}{f'{days[0]} d':>10}{f'{days[1]} d':>10}")
    for name, pair in summary["queries"].items():
        print(f"{name[:52]:52}{pair[0]:>10.3f}{pair[1]:>10.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small-days", type=int, default=30)
    parser.add_argument("--large-days", type=int, default=365)
    parser.add_argument("--records-per-day", type=int, default=120_000, help="filings a day (2025: ~120,000)")
    parser.add_argument("--partitions", type=int, default=8, help="events-topic partitions (the default setting)")
    parser.add_argument("--envelope", type=int, default=500, help="events per Kafka message in the history")
    parser.add_argument("--data-dir", type=Path, default=None, help="where histories are loaded (kept)")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="use a history already loaded there with the same sizes (pending migrations are applied)",
    )
    parser.add_argument("--database", default="dvcpulse")
    parser.add_argument(
        "--schema-upto",
        type=int,
        default=None,
        metavar="N",
        help="apply migrations up to N only (to measure the schema before a later migration)",
    )
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per query after a first one")
    parser.add_argument("--no-restart", dest="restart", action="store_false", help="skip the worker restart")
    parser.add_argument("--max-worker-mb", type=float, default=6000)
    parser.add_argument("--restart-timeout", type=float, default=1800)
    parser.add_argument("--load-only", action="store_true", help="load the histories (for a later --reuse), then stop")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    args = parser.parse_args()
    if args.large_days < args.small_days:
        parser.error("--large-days must be at least --small-days")
    root = args.data_dir or Path(tempfile.mkdtemp(prefix="dvcpulse-scale-"))
    end_s = int(time.time())
    sizes = []
    # with --json, stdout carries the one JSON object only: progress goes to stderr
    with contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext():
        for days in (args.small_days, args.large_days):
            spec = LoadSpec(days, args.records_per_day, args.partitions, args.envelope, end_s)
            sizes.append(measure(root, spec, args))
    if args.load_only:
        print(json.dumps([size["load"] for size in sizes]))
        return
    summary = report(sizes)
    if args.json:
        print(json.dumps(summary))
    else:
        print_report(summary)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_load":
        _load_main(sys.argv[2:])
    else:
        main()
