"""`dvcpulse up`: the whole system on one machine, no Docker: broker, ClickHouse, worker, simulator, live view."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table

from dvcpulse.commands.common import DATA_DIR_HELP, fail, load_settings
from dvcpulse.embedded_broker import BrokerError
from dvcpulse.kafka_jars import KafkaJarsError
from dvcpulse.publisher import PublishSummary, publish_lines
from dvcpulse.seeds.simulator import PROFILES, SimulationConfig, simulate
from dvcpulse.stack import LocalStack, processed_events

console = Console(stderr=True)


@dataclass
class Feed:
    """Publishes the simulator's (or a file's) lines in a background thread and counts them."""

    lines: Iterator[bytes]
    stack: LocalStack
    rate: float | None
    read: int = 0
    summary: PublishSummary | None = None
    error: BaseException | None = None
    simulation: Any = None
    thread: threading.Thread = field(init=False)
    stopping: threading.Event = field(default_factory=threading.Event)
    exhausted: bool = False  # every line of the input was handed to the publisher

    def _counted(self) -> Iterator[bytes]:
        for line in self.lines:
            if self.stopping.is_set():
                return  # publish_lines then flushes what it has and returns its summary
            self.read += 1
            yield line
        self.exhausted = True

    def _run(self) -> None:
        settings = self.stack.settings
        try:
            self.summary = asyncio.run(
                publish_lines(
                    self._counted(),
                    settings=settings,
                    bootstrap=self.stack.bootstrap,
                    topic=settings.events_topic,
                    rate=self.rate,
                    rejects_path=settings.data_dir / "up.rejects.jsonl",
                )
            )
        except BaseException as error:  # reported by the main thread
            self.error = error

    def start(self) -> Feed:
        self.thread = threading.Thread(target=self._run, name="dvcpulse-feed", daemon=True)
        self.thread.start()
        return self

    @property
    def done(self) -> bool:
        return not self.thread.is_alive()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop feeding and wait for the publisher to flush, before the broker goes away."""
        self.stopping.set()
        self.thread.join(timeout)


def snapshot(stack: LocalStack) -> dict[str, Any]:
    """The figures the live view and the summary show, straight from the ClickHouse views."""
    client = stack.client()
    db = stack.settings.clickhouse_database
    totals = next(client.query(f"SELECT * FROM {db}.v_totals").named_results())
    pipeline = next(client.query(f"SELECT * FROM {db}.v_freshness").named_results())
    dead = client.command(f"SELECT count() FROM {db}.v_dead_letters")
    provinces = client.query(
        f"SELECT p.name AS name, sumIf(submitted, channel = 2 AND online_level != 'none') AS online, "
        f"sumIf(submitted, channel IN (1, 2) AND online_level != 'none') AS base "
        f"FROM {db}.v_counts_by_cell AS c INNER JOIN {db}.provinces AS p ON p.code = c.province_code "
        f"GROUP BY name HAVING base > 0 ORDER BY online / base DESC, name"
    ).result_rows
    rates = [(name, online / base) for name, online, base in provinces]
    return {
        "processed": int(pipeline["processed"] or 0),
        "duplicates": int(pipeline["duplicates"] or 0),
        "late": int(pipeline["late"] or 0),
        "dead_lettered": int(dead or 0),
        "freshness_seconds": pipeline["last_write_age_seconds"],
        "submitted": int(totals["submitted"]),
        "synced": int(totals["synced"]),
        "synced_online": int(totals["synced_online"]),
        "synced_in_person": int(totals["synced_in_person"]),
        "synced_postal": int(totals["synced_postal"]),
        "synced_online_share": totals["synced_online_share"],
        "online_rate": totals["online_rate"],
        "full_online_rate": totals["full_online_rate"],
        "status_changes": int(totals["status_changes"]),
        "top_provinces": rates[:5],
        "bottom_provinces": rates[-5:][::-1],
    }


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def render(feed: Feed, figures: dict[str, Any], rates: tuple[float, float], processed_before: int) -> Group:
    """The live view; flow figures are this run's, totals are everything in ClickHouse (the data dir)."""
    published = feed.read
    processed = figures["processed"] - processed_before
    lag = max(published - processed - (feed.summary.rejected if feed.summary else 0), 0)
    flow = Table.grid(padding=(0, 3))
    flow.add_row("events in", f"{published:,}", f"{rates[0]:,.0f}/s")
    flow.add_row("processed", f"{processed:,}", f"{rates[1]:,.0f}/s")
    flow.add_row("lag", f"{lag:,}", "")
    flow.add_row("dead letters", f"{figures['dead_lettered']:,}", f"duplicates {figures['duplicates']:,}")
    fresh = figures["freshness_seconds"]
    flow.add_row("last write", "—" if fresh is None else f"{fresh:.1f}s ago", f"late {figures['late']:,}")
    national = Table.grid(padding=(0, 3))
    national.add_row("đồng bộ (synced)", f"{figures['synced']:,}")
    national.add_row("trực tuyến (online)", f"{figures['synced_online']:,}", _pct(figures["synced_online_share"]))
    full = f"toàn trình {_pct(figures['full_online_rate'])}"
    national.add_row("tỷ lệ trực tuyến (766)", _pct(figures["online_rate"]), full)
    ranks = Table("cao nhất / top", "", "thấp nhất / bottom", "", box=None)
    for (top, top_rate), (bottom, bottom_rate) in zip(
        figures["top_provinces"], figures["bottom_provinces"], strict=False
    ):
        ranks.add_row(top, _pct(top_rate), bottom, _pct(bottom_rate))
    return Group(
        Panel(flow, title="pipeline"),
        Panel(national, title="Toàn quốc"),
        Panel(ranks, title="tỉnh/thành theo tỷ lệ trực tuyến"),
    )


def up(
    records: Annotated[
        int | None, typer.Option("--records", help="Filings to simulate [default: a national day].")
    ] = None,
    profile: Annotated[str, typer.Option("--profile", help=f"Simulator profile: {', '.join(PROFILES)}.")] = "2025",
    seed: Annotated[int, typer.Option("--seed")] = 1,
    speedup: Annotated[float, typer.Option("--speedup", help="Simulated seconds per real second (live mode).")] = 60.0,
    rate: Annotated[
        float | None, typer.Option("--rate", help="Events/s to publish [default: realistic x speed-up].")
    ] = None,
    input_file: Annotated[
        Path | None, typer.Option("--input", help="Process this JSONL file instead of simulating.")
    ] = None,
    until_drained: Annotated[bool, typer.Option("--until-drained", help="No live view; exit when processed.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the final summary as one JSON object.")] = False,
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help=DATA_DIR_HELP)] = None,
    timeout: Annotated[float, typer.Option("--timeout", help="With --until-drained: give up after this long.")] = 1800,
) -> None:
    """Run everything locally (an Apache Kafka broker + chdb): worker, simulator and a live terminal view."""
    settings = load_settings(data_dir)
    simulation = None
    if input_file is not None:
        if not input_file.exists():
            fail(f"{input_file} does not exist")
        lines: Iterator[bytes] = (line for line in input_file.open("rb"))
        publish_rate = rate
    else:
        start = (datetime.now(tz=UTC) - timedelta(days=1)).replace(microsecond=0)
        config = SimulationConfig(profile=profile, records=records, seed=seed, start=start.isoformat())
        simulation = simulate(config)
        lines = iter(simulation)
        events_per_day = config.record_count * 4.3  # ~4.3 events per filing
        publish_rate = rate or (None if until_drained else max(events_per_day / 86400 * speedup, 1.0))
    started = time.monotonic()
    stack = LocalStack(settings)
    feed: Feed | None = None
    console.print(f"[bold]dvcpulse up[/]: data in {settings.data_dir.resolve()}")
    try:
        stack.start()
        stack.start_worker("w1")
        console.print(f"kafka {stack.bootstrap} · clickhouse {stack.clickhouse_url} · worker started")
        feed = Feed(lines, stack, publish_rate).start()
        feed.simulation = simulation
        figures = _wait_drained(stack, feed, timeout) if until_drained else _live(stack, feed)
    except KeyboardInterrupt:
        if feed is not None:
            feed.stop()
        figures = snapshot(stack) if stack.clickhouse_url else {}
    except (BrokerError, KafkaJarsError) as error:
        fail(str(error))
    finally:
        console.print("stopping …")
        if feed is not None:
            feed.stop()
        stack.stop()
    if feed is None:
        fail("stopped before anything was published")
    _report(figures, feed, simulation, time.monotonic() - started, settings.data_dir, as_json)


def _wait_drained(stack: LocalStack, feed: Feed, timeout: float) -> dict[str, Any]:
    client = stack.client()
    db = stack.settings.clickhouse_database
    deadline = time.monotonic() + timeout
    while not feed.done or processed_events(client, db) < (feed.summary.events if feed.summary else 0):
        if feed.error is not None:
            raise feed.error
        if time.monotonic() > deadline:
            fail(f"not drained within {timeout:.0f}s", code=1)
        time.sleep(0.5)
    if feed.error is not None:
        raise feed.error
    return snapshot(stack)


def _live(stack: LocalStack, feed: Feed) -> dict[str, Any]:
    figures = snapshot(stack)
    before = figures["processed"]
    last = (time.monotonic(), feed.read, figures["processed"])
    rates = (0.0, 0.0)
    console.print("[dim]Ctrl-C stops everything cleanly and prints a summary.[/]")
    with Live(render(feed, figures, rates, before), console=console, refresh_per_second=2) as live:
        while True:
            time.sleep(1.0)
            figures = snapshot(stack)
            now = time.monotonic()
            elapsed = max(now - last[0], 1e-6)
            rates = ((feed.read - last[1]) / elapsed, (figures["processed"] - last[2]) / elapsed)
            last = (now, feed.read, figures["processed"])
            live.update(render(feed, figures, rates, before))
            if feed.error is not None:
                raise feed.error


def _report(
    figures: dict[str, Any], feed: Feed, simulation: Any, seconds: float, data_dir: Path, as_json: bool
) -> None:
    summary = feed.summary
    result = {
        "events_in": feed.read,
        "published": summary.events if summary else None,
        "rejected_by_publisher": summary.rejected if summary else None,
        **{k: v for k, v in figures.items() if k not in {"top_provinces", "bottom_provinces"}},
        "seconds": round(seconds, 1),
        "data_dir": str(data_dir.resolve()),
    }
    if simulation is not None and feed.exhausted:
        result["simulation"] = {
            k: simulation.truth()[k] for k in ("profile", "seed", "records", "first_event_time", "options")
        }
    if as_json:
        typer.echo(orjson.dumps(result, default=str).decode())
        return
    table = Table(title="dvcpulse summary", show_header=False)
    for key, value in result.items():
        if key != "simulation":
            table.add_row(key, _pct(value) if key.endswith(("share", "rate")) else f"{value}")
    Console().print(table)
    typer.echo(f'query it: dvcpulse sql --data-dir {data_dir} "SELECT * FROM v_totals"')


def register(app: typer.Typer) -> None:
    app.command("up")(up)
