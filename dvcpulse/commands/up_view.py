"""What `dvcpulse up` shows: the figures (read from the ClickHouse views), the live view, plain progress lines
for a pipe or a log, and the final summary, which keeps this run's figures apart from all-time ones."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from clickhouse_connect.driver.client import Client
from rich.console import Group
from rich.panel import Panel
from rich.table import Table

# A province's online rate is shown once it has this many filings that count for it: with fewer, one early
# filing makes a province "100.0 %" (or "0.0 %") and the ranking is noise.
MIN_PROVINCE_FILINGS = 50
RANKED = 5
TOTAL_KEYS = (
    "submitted", "synced", "synced_online", "synced_in_person", "synced_postal", "status_changes",
)  # fmt: skip
RATE_KEYS = ("synced_online_share", "online_rate", "full_online_rate")


@dataclass(frozen=True)
class Figures:
    """One reading of the views: pipeline counters and national totals over everything in the data dir."""

    processed: int = 0
    duplicates: int = 0
    late: int = 0
    dead_lettered: int = 0
    last_write_age: float | None = None  # None: nothing written yet
    totals: Mapping[str, int] = field(default_factory=lambda: dict.fromkeys(TOTAL_KEYS, 0))
    rates: Mapping[str, float | None] = field(default_factory=lambda: dict.fromkeys(RATE_KEYS))
    provinces: tuple[tuple[str, int, int], ...] = ()  # (name, online, base) by online rate, highest first
    taken_at: float = field(default_factory=time.monotonic)

    @property
    def settled(self) -> int:
        """Events the worker is done with: applied (duplicates and late ones included) or dead-lettered."""
        return self.processed + self.dead_lettered

    def since(self, before: Figures) -> dict[str, int]:
        """This run's share of the counters and totals (the data dir may hold earlier runs)."""
        run = {
            "processed": self.processed - before.processed,
            "dead_lettered": self.dead_lettered - before.dead_lettered,
            "duplicates": self.duplicates - before.duplicates,
            "late": self.late - before.late,
        }
        run.update({key: self.totals[key] - before.totals.get(key, 0) for key in TOTAL_KEYS})
        return run


def _written(at: Any, age: Any) -> float | None:
    """The age of the last write, or None when there is none (the view then reads 1970 as its time)."""
    if age is None or not isinstance(at, datetime) or at.year < 2000:
        return None
    return float(age)


def read_figures(client: Client, database: str) -> Figures:
    """The figures the live view and the summary show, straight from the ClickHouse views."""
    db = database
    totals = next(client.query(f"SELECT * FROM {db}.v_totals").named_results())
    pipeline = next(client.query(f"SELECT * FROM {db}.v_freshness").named_results())
    dead = client.command(f"SELECT count() FROM {db}.v_dead_letters")
    provinces = client.query(
        f"SELECT p.name AS name, sumIf(submitted, channel = 2 AND online_level != 'none') AS online, "
        f"sumIf(submitted, channel IN (1, 2) AND online_level != 'none') AS base "
        f"FROM {db}.v_counts_by_cell AS c INNER JOIN {db}.provinces AS p ON p.code = c.province_code "
        f"GROUP BY name HAVING base > 0 ORDER BY online / base DESC, name"
    ).result_rows
    return Figures(
        processed=int(pipeline.get("processed") or 0),
        duplicates=int(pipeline.get("duplicates") or 0),
        late=int(pipeline.get("late") or 0),
        dead_lettered=int(dead or 0),
        last_write_age=_written(pipeline.get("last_write_at"), pipeline.get("last_write_age_seconds")),
        totals={key: int(totals.get(key) or 0) for key in TOTAL_KEYS},
        rates={key: totals.get(key) for key in RATE_KEYS},
        provinces=tuple((str(name), int(online), int(base)) for name, online, base in provinces),
    )


def pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f} %"


def ago(seconds: float | None) -> str:
    return "–" if seconds is None else f"{seconds:,.1f} s ago"


def share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def ranked(figures: Figures) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
    """(top, bottom) provinces by online rate, among those with enough filings to rank."""
    rates = [(name, online / base) for name, online, base in figures.provinces if base >= MIN_PROVINCE_FILINGS]
    top = rates[:RANKED]
    bottom = rates[len(top) :][-RANKED:][::-1]  # never a province twice
    return top, bottom


@dataclass
class Flow:
    """This run's flow so far: events in (published) and out (settled by the worker), with their rates."""

    published: int = 0
    settled: int = 0
    rate_in: float = 0.0
    rate_out: float = 0.0

    @property
    def lag(self) -> int:
        return max(self.published - self.settled, 0)

    def advanced(self, published: int, settled: int, seconds: float) -> Flow:
        seconds = max(seconds, 1e-6)
        return replace(
            self,
            published=published,
            settled=settled,
            rate_in=(published - self.published) / seconds,
            rate_out=(settled - self.settled) / seconds,
        )


def live_view(flow: Flow, figures: Figures) -> Group:
    """The terminal view: this run's flow, then the totals and provinces of everything in the data dir."""
    pipeline = Table.grid(padding=(0, 3))
    pipeline.add_row("events in", f"{flow.published:,}", f"{flow.rate_in:,.0f}/s")
    pipeline.add_row("processed", f"{flow.settled:,}", f"{flow.rate_out:,.0f}/s")
    pipeline.add_row("lag", f"{flow.lag:,}", "")
    pipeline.add_row("dead letters", f"{figures.dead_lettered:,}", f"duplicates {figures.duplicates:,}")
    pipeline.add_row("last write", ago(figures.last_write_age), f"late {figures.late:,}")
    totals, rates = figures.totals, figures.rates
    national = Table.grid(padding=(0, 3))
    national.add_row("đồng bộ (synced)", f"{totals['synced']:,}", "")
    national.add_row("trực tuyến (online)", f"{totals['synced_online']:,}", pct(rates["synced_online_share"]))
    full = f"toàn trình {pct(rates['full_online_rate'])}"
    national.add_row("tỷ lệ trực tuyến (766)", pct(rates["online_rate"]), full)
    top, bottom = ranked(figures)
    provinces = Table("cao nhất / top", "", "thấp nhất / bottom", "", box=None)
    for index in range(max(len(top), len(bottom), 1)):
        left = top[index] if index < len(top) else ("–", None)
        right = bottom[index] if index < len(bottom) else ("–", None)
        provinces.add_row(left[0], pct(left[1]), right[0], pct(right[1]))
    caption = f"ranked once a province has {MIN_PROVINCE_FILINGS} filings"
    return Group(
        Panel(pipeline, title="pipeline (this run)"),
        Panel(national, title="Toàn quốc (all data)"),
        Panel(provinces, title="tỉnh/thành theo tỷ lệ trực tuyến", subtitle=caption),
    )


def progress_line(flow: Flow, figures: Figures) -> str:
    """One plain line for a pipe or a log (`make up | tee log`), where a live view cannot redraw."""
    return (
        f"{time.strftime('%H:%M:%S')} events in {flow.published:,} ({flow.rate_in:,.0f}/s) · "
        f"processed {flow.settled:,} ({flow.rate_out:,.0f}/s) · lag {flow.lag:,} · "
        f"dead letters {figures.dead_lettered:,} · last write {ago(figures.last_write_age)} · "
        f"synced {figures.totals['synced']:,}, online {pct(figures.rates['synced_online_share'])}"
    )


def summary_tables(result: Mapping[str, Any]) -> list[Table]:
    """The human summary of `result` (see up._result): this run, then everything in the data dir."""
    run = Table(title=f"this run ({result['seconds']:,.1f} s)", show_header=False, title_justify="left")
    run.add_column(justify="left")
    run.add_column(justify="right")
    run.add_row("events published", f"{result['published']:,}")
    run.add_row("events processed", f"{result['processed']:,}")
    if result.get("rejected_by_publisher"):
        run.add_row("lines rejected by the publisher", f"{result['rejected_by_publisher']:,}")
    for key in ("dead_lettered", "duplicates", "late"):
        run.add_row(key.replace("_", " "), f"{result[key]:,}")
    run.add_row("filings submitted", f"{result['submitted']:,}")
    run.add_row("filings synced", f"{result['synced']:,}")
    run.add_row("synced online", f"{result['synced_online']:,}  ({pct(result['synced_online_share'])})")
    everything = result["all_time"]
    total = Table(title=f"all data in {result['data_dir']}", show_header=False, title_justify="left")
    total.add_column(justify="left")
    total.add_column(justify="right")
    total.add_row("events processed", f"{everything['processed']:,}")
    total.add_row("filings synced", f"{everything['synced']:,}")
    total.add_row("synced online", f"{everything['synced_online']:,}  ({pct(everything['synced_online_share'])})")
    total.add_row("online rate (766)", pct(everything["online_rate"]))
    total.add_row("full-process online rate", pct(everything["full_online_rate"]))
    return [run, total]
