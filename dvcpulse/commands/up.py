"""`dvcpulse up`: the whole system on one machine, no Docker: broker, ClickHouse, worker, simulator, live view.

By default it shows live traffic in the current time: a simulated national day that started `--history-hours`
ago, whose past is loaded at once and whose events then arrive as their time comes (commands.up_traffic), so
the dashboards read as they would in production. `--until-drained` simulates `--records` filings over those
past hours only and exits once the worker has processed them all (for scripts and tests). Each run draws a run
id that goes into its record ids, so running `up` again makes new filings instead of merging into old ones.
"""

from __future__ import annotations

import logging
import shlex
import signal
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from types import FrameType
from typing import IO, Annotated, Any

import orjson
import typer
from aiokafka.errors import KafkaError
from clickhouse_connect.driver.client import Client
from rich.console import Console
from rich.live import Live

from dvcpulse.commands.common import DATA_DIR_HELP, cli_command, fail, load_settings, shown_path
from dvcpulse.commands.errors import explain, kafka_unreachable
from dvcpulse.commands.simulate import ProfileName
from dvcpulse.commands.up_feed import Feed, Source
from dvcpulse.commands.up_traffic import day_config, live_days, new_run_id, paced
from dvcpulse.commands.up_view import Figures, Flow, live_view, progress_line, read_figures, share, summary_tables
from dvcpulse.embedded_broker import BrokerError
from dvcpulse.kafka_jars import KafkaJarsError
from dvcpulse.seeds.ground_truth import write_truth
from dvcpulse.seeds.simulator import PROFILES, Simulation, SimulationConfig, simulate
from dvcpulse.stack import LocalStack

console = Console(stderr=True)
PROGRESS_SECONDS = 10.0  # between plain progress lines (output not a terminal)
DRAIN_SECONDS = 60.0  # how long the summary waits for the worker to process what was published
WORKER = "w1"
EVENTS_PER_FILING = 4.3  # submitted, 1-4 status changes, synced (seeds.simulator.lifecycles)


@dataclass
class Plan:
    """What a run publishes, and how."""

    source: Source
    description: str
    backfill: bool = False  # a file's history, judged by its own clock (dvcpulse.backfill)
    simulation: Simulation | None = None  # --until-drained: its truth goes into the summary
    run_id: str | None = None


def _file_lines(path: Path, stopping: threading.Event) -> Iterator[bytes]:
    with path.open("rb") as lines:
        yield from lines


def plan(
    *, input_file: Path | None, records: int | None, profile: str, seed: int, history_hours: float,
    speedup: float, until_drained: bool,
) -> Plan:  # fmt: skip
    """The traffic of this run (see the module docstring)."""
    if input_file is not None:
        if not input_file.is_file():
            fail(f"{input_file} does not exist")
        return Plan(partial(_file_lines, input_file), f"publishing {input_file}", backfill=True)
    run_id = new_run_id()
    per_day = PROFILES[profile].records_per_day
    if until_drained:
        now = datetime.now(UTC).replace(microsecond=0)
        count = records if records is not None else round(per_day * history_hours / 24)
        config = SimulationConfig(
            profile=profile, records=count, seed=seed, start=now - timedelta(hours=history_hours),
            days=history_hours / 24, run_id=run_id, until=now,
        )  # fmt: skip
        simulation = simulate(config)
        text = f"{count:,} simulated filings ({profile} profile) over the last {history_hours:g} h, run {run_id}"
        return Plan(lambda stopping: simulation, text, simulation=simulation, run_id=run_id)
    daily = records if records is not None else per_day
    now = time.time()
    start = datetime.fromtimestamp(now - history_hours * 3600, UTC).replace(microsecond=0)
    days = partial(day_config, profile, daily, seed, run_id, start)
    pace = "in real time" if speedup == 1 else f"{speedup:g}x faster than real time (stamped as sent)"
    text = (
        f"live traffic, {daily:,} filings a simulated day ({profile} profile, about "
        f"{daily * EVENTS_PER_FILING / 86400 * speedup:,.0f} events/s on average): the last {history_hours:g} h "
        f"at once, then {pace}; run {run_id}"
    )

    def source(stopping: threading.Event) -> AsyncIterator[bytes]:
        return paced(live_days(days), live_from=now, speedup=speedup, stopping=stopping)

    return Plan(source, text, run_id=run_id)


def up(
    records: Annotated[
        int | None,
        typer.Option(
            "--records",
            min=1,
            help="Filings per simulated day (live), or in all with --until-drained "
            "[default: the profile's national day, 120,000 for 2025; with --until-drained, its share of "
            "--history-hours].",
        ),
    ] = None,
    profile: Annotated[ProfileName, typer.Option("--profile", help="Simulator profile.")] = ProfileName.y2025,
    seed: Annotated[int, typer.Option("--seed", help="Simulator seed (each run also draws its own run id).")] = 1,
    history_hours: Annotated[
        float,
        typer.Option(
            "--history-hours",
            min=0.01,
            help="Hours of recent past simulated first and loaded at once: a whole day by default, so that the "
            "totals mix office hours and night whenever the demo starts.",
        ),
    ] = 24.0,
    speedup: Annotated[
        float,
        typer.Option(
            "--speedup",
            min=0.01,
            help="Live pace: simulated seconds per real second after the history (above 1, "
            "each event is stamped with the moment it is sent, never ahead of it).",
        ),
    ] = 1.0,
    rate: Annotated[
        float | None, typer.Option("--rate", min=0.001, help="Cap on events/s published [default: no cap].")
    ] = None,
    input_file: Annotated[
        Path | None, typer.Option("--input", help="Publish this JSONL file (its history) instead of simulating.")
    ] = None,
    until_drained: Annotated[bool, typer.Option("--until-drained", help="No live view; exit when processed.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the final summary as one JSON object.")] = False,
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help=DATA_DIR_HELP)] = None,
    timeout: Annotated[
        float, typer.Option("--timeout", help="With --until-drained: give up after this many seconds.")
    ] = 1800,
) -> None:
    """Run everything locally (an Apache Kafka broker + chdb): worker, simulator and a live terminal view."""
    settings = load_settings(data_dir)
    traffic = plan(
        input_file=input_file, records=records, profile=profile.value, seed=seed, history_hours=history_hours,
        speedup=speedup, until_drained=until_drained,
    )  # fmt: skip
    progress: IO[str] = sys.stderr if as_json else sys.stdout  # --json keeps stdout for the JSON alone
    stack = LocalStack(settings)
    run: Run | None = None
    figures: Figures | None = None
    drained = stopped = False  # stopped: by Ctrl-C or SIGTERM or, with --until-drained, once all is processed
    started = time.monotonic()
    # aiokafka logs a failed connection before raising it; the error is reported once, below, with its fix
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    console.print(f"[bold]dvcpulse up[/]: {traffic.description}", highlight=False, soft_wrap=True)
    console.print(f"data in {settings.data_dir.resolve()}", highlight=False, soft_wrap=True)
    previous_int = signal.getsignal(signal.SIGINT)
    previous_term = signal.signal(signal.SIGTERM, _interrupt)  # a supervisor's stop: the same clean path
    try:
        try:
            stack.start()
        except KafkaError:
            fail(kafka_unreachable(settings.kafka_bootstrap))
        stack.start_worker(WORKER)
        client = stack.client()
        before = read_figures(client, settings.clickhouse_database)
        console.print(
            f"kafka {stack.bootstrap} · clickhouse {stack.clickhouse_url} · worker started",
            highlight=False,
            soft_wrap=True,
        )
        feed = Feed(
            traffic.source, settings, stack.bootstrap, rate=rate, backfill=traffic.backfill,
            rejects_path=settings.data_dir / "up.rejects.jsonl",
        ).start()  # fmt: skip
        run = Run(stack, client, feed, before)
        live = not until_drained and console.is_terminal and sys.stdout.isatty()
        _watch(run, live=live, until_drained=until_drained, timeout=timeout, progress=progress)
        stopped = True
    except KeyboardInterrupt:
        stopped = True  # stop publishing, let the worker finish what was sent, then the summary
    except (BrokerError, KafkaJarsError) as error:
        fail(str(error))
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not leave processes behind
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        try:
            if run is not None:
                run.feed.stop()
                if stopped:
                    figures, drained = _drain(run)
            if stack.broker or stack.gateway or stack.workers:
                console.print("stopping …")
            stack.stop()
        finally:
            signal.signal(signal.SIGINT, previous_int)
            signal.signal(signal.SIGTERM, previous_term)
    if run is None or figures is None:
        fail("stopped before anything was published")
    result = _result(run.feed, traffic, figures, run.before, drained, time.monotonic() - started, settings.data_dir)
    if as_json:
        typer.echo(orjson.dumps(result, default=str).decode())
    else:
        _print_summary(result, settings.data_dir, drained)
    if run.feed.error is not None:
        fail(explain(run.feed.error), code=1)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@dataclass
class Run:
    """A started run: its stack, a client of its ClickHouse, its feed, and the figures before it began."""

    stack: LocalStack
    client: Client
    feed: Feed
    before: Figures

    def figures(self) -> Figures:
        return read_figures(self.client, self.stack.settings.clickhouse_database)

    def settled(self, figures: Figures) -> int:
        """Events of this run the worker is done with."""
        return figures.settled - self.before.settled

    def worker_failure(self) -> str | None:
        """Why the worker is gone, if it is (its log says more)."""
        process = self.stack.workers.get(WORKER)
        code = None if process is None else process.poll()
        if code is None:
            return None
        log = shown_path(self.stack.settings.data_dir / "logs" / f"worker-{WORKER}.log")
        return f"the worker exited with code {code}: see {log}"


def _watch(run: Run, *, live: bool, until_drained: bool, timeout: float, progress: IO[str]) -> None:
    """Refresh the figures every second until Ctrl-C (or, with --until-drained, until all is processed).

    The live view shows the last second's rates; a progress line (output not a terminal) those since the
    line before.
    """
    feed, figures = run.feed, run.before
    flow = line_flow = Flow()
    last = last_line = time.monotonic()
    deadline = last + timeout
    display = Live(live_view(flow, figures), console=console, refresh_per_second=2) if live else None
    if display is not None:
        console.print("[dim]Ctrl-C stops everything cleanly and prints a summary.[/]")
        display.start()
    try:
        while True:
            time.sleep(1.0)
            figures = run.figures()
            now = time.monotonic()
            flow = flow.advanced(feed.published, run.settled(figures), now - last)
            last = now
            if display is not None:
                display.update(live_view(flow, figures))
            elif now - last_line >= PROGRESS_SECONDS:
                line_flow = line_flow.advanced(feed.published, run.settled(figures), now - last_line)
                last_line = now
                print(progress_line(line_flow, figures), file=progress, flush=True)
            if feed.error is not None:
                fail(explain(feed.error), code=1)
            if failure := run.worker_failure():
                fail(failure, code=1)
            if until_drained and feed.done and flow.settled >= feed.published:
                return
            if until_drained and now > deadline:
                fail(f"not drained within {timeout:.0f} s ({flow.lag:,} events not processed yet)", code=1)
    finally:
        if display is not None:
            display.stop()


def _drain(run: Run) -> tuple[Figures, bool]:
    """The figures once the worker has processed what was published (waits DRAIN_SECONDS at most)."""
    figures = run.figures()
    waiting = run.feed.published - run.settled(figures)
    if waiting <= 0 or run.worker_failure():
        return figures, waiting <= 0
    console.print(
        f"waiting up to {DRAIN_SECONDS:.0f} s for the worker to process the last {waiting:,} events "
        "(Ctrl-C again to skip) …"
    )
    signal.signal(signal.SIGINT, signal.default_int_handler)  # the skip
    deadline = time.monotonic() + DRAIN_SECONDS
    try:
        while time.monotonic() < deadline and not run.worker_failure():
            time.sleep(0.5)
            figures = run.figures()
            if run.settled(figures) >= run.feed.published:
                return figures, True
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    return figures, False


def _result(
    feed: Feed, traffic: Plan, figures: Figures, before: Figures, drained: bool, seconds: float, data_dir: Path
) -> dict[str, Any]:
    """The summary: top-level figures are this run's; `all_time` is everything in the data dir."""
    run = figures.since(before)
    result: dict[str, Any] = {
        "events_in": feed.read,
        "published": feed.published,
        "rejected_by_publisher": feed.summary.rejected if feed.summary else 0,
        **run,
        "synced_online_share": share(run["synced_online"], run["synced"]),
        "drained": drained,
        "seconds": round(seconds, 1),
        "data_dir": str(data_dir.resolve()),
        "run_id": traffic.run_id,
        "all_time": {
            "processed": figures.processed,
            "dead_lettered": figures.dead_lettered,
            "duplicates": figures.duplicates,
            "late": figures.late,
            **figures.totals,
            **figures.rates,
            "last_write_age_seconds": figures.last_write_age,
        },
    }
    if traffic.simulation is not None and feed.exhausted:
        truth = traffic.simulation.truth()
        path = data_dir / f"up-{traffic.run_id}.truth.json"
        write_truth(path, truth)
        facts = ("profile", "seed", "records", "first_event_time", "options")
        result["simulation"] = {key: truth[key] for key in facts} | {"truth": str(path.resolve())}
    return result


def _print_summary(result: dict[str, Any], data_dir: Path, drained: bool) -> None:
    out = Console()
    out.print()
    for table in summary_tables(result):
        out.print(table)
    if not drained:
        out.print(
            f"[yellow]the worker had not processed every event published when this was taken "
            f"({result['published'] - result['processed'] - result['dead_lettered']:,} left)[/]"
        )
    command, where = cli_command(), shlex.quote(shown_path(data_dir))
    # plain prints: a command wrapped at the terminal's width could not be pasted back
    print(f'query it:   {command} sql --data-dir {where} "SELECT * FROM v_totals"')
    print(f"dashboard:  {command} dashboards preview --data-dir {where}", flush=True)


def register(app: typer.Typer) -> None:
    app.command("up")(up)
