"""Dashboards as code, tested on real data.

A real chdb engine in a tmp dir, migrated with sinks.migrate, loaded through the product's write path
(streams.state.PartitionState -> sinks.writer.ClickHouseWriter) with filings whose numbers this module
knows. Every panel's and alert rule's SQL goes through dashboards.macros (what Grafana and the ClickHouse
plugin send) and runs on that engine; the national figures and per-province rates are compared with the
numbers computed here. Also: the dashboards' structure, the provisioning files, `check`, `push` (against a
small fake Grafana HTTP API) and `preview`.
"""

from __future__ import annotations

import json
import re
import shutil
import threading
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import pytest
import yaml
from clickhouse_connect.driver.client import Client
from typer.testing import CliRunner

from dvcpulse.cli import app
from dvcpulse.dashboards import alerts, build, index_766, macros, preview, sql
from dvcpulse.dashboards.common import DATASOURCE_TYPE, DATASOURCE_UID, FOLDER, TIMEZONE
from dvcpulse.dashboards.macros import ALL, QueryContext, Variable
from dvcpulse.models.partitioning import record_partition
from dvcpulse.seeds.reference import provinces, services, status_codes
from dvcpulse.settings import Settings, get_settings
from dvcpulse.sinks.connection import connect
from dvcpulse.sinks.contract import EventRow
from dvcpulse.sinks.migrate import migrate
from dvcpulse.sinks.writer import ClickHouseWriter
from dvcpulse.streams.internal import source_hash
from dvcpulse.streams.state import PartitionState

DB = "dvcpulse"
Q = sql.Queries(DB)
VN = ZoneInfo(TIMEZONE)
PARTITIONS = 4
RANGE = timedelta(hours=6)
OFFERED = ("full", "partial")
ROOT = Path(__file__).resolve().parents[2]

# Grafana 11 core panel plugins (public/app/plugins/panel in grafana v11).
GRAFANA_11_CORE_PANELS = frozenset(
    {
        "alertlist", "annolist", "barchart", "bargauge", "candlestick", "canvas", "dashlist", "datagrid",
        "flamegraph", "gauge", "geomap", "gettingstarted", "graph", "heatmap", "histogram", "live", "logs",
        "news", "nodeGraph", "piechart", "row", "stat", "state-timeline", "status-history", "table",
        "table-old", "text", "timeseries", "traces", "trend", "welcome", "xychart",
    }
)  # fmt: skip


# -- the filings this module loads -------------------------------------------------------------------


@dataclass(frozen=True)
class Filing:
    record_id: str
    province: str
    service: str
    channel: int
    level: str
    submitted_at: datetime
    synced_at: datetime | None
    late: bool = False

    def events(self) -> list[EventRow]:
        out = [self._event("sub", "submitted", 1, self.submitted_at)]
        out.append(self._event("st2", "status_changed", 2, self.submitted_at + timedelta(minutes=1)))
        if self.synced_at:
            out.append(self._event("syn", "synced", 2, self.synced_at))
            out.append(self._event("st10", "status_changed", 10, self.synced_at))
        return [] if self.late else out

    def _event(self, suffix: str, kind: str, status: int, at: datetime) -> EventRow:
        event_id = f"{self.record_id}-{suffix}"
        source = source_hash("dvc.filing-events", 0, zlib.crc32(event_id.encode()), -1)  # where ingest read it
        return EventRow(
            event_id, self.record_id, f"1.{self.service}", self.service, self.province, "",
            f"{self.province}.UB", self.channel, self.level, kind, status, int(at.timestamp() * 1000), None, None,
            f"hash-{self.record_id}", late=False, source=source,
        )  # fmt: skip


def _level(service: str) -> str:
    return services()[service].online_level


def make_filings(now: datetime) -> list[Filing]:
    """Known filings: a recent hour, the rest of the 6 h range, a 7-day baseline and a previous year."""
    filings: list[Filing] = []

    def add(province: str, service: str, channel: int, count: int, minutes_ago: float, spread: float) -> None:
        for n in range(count):
            at = now - timedelta(minutes=minutes_ago + spread * n / max(count, 1))
            synced = at + timedelta(minutes=1) if minutes_ago + spread * n / max(count, 1) > 10 else None
            level = "none" if service == "OTHER" else _level(service)
            filings.append(Filing(f"r{len(filings):04d}", province, service, channel, level, at, synced))

    # the last hour (5..50 minutes ago)
    add("01", "DV03", 2, 20, 5, 45)
    add("01", "DV02", 2, 10, 6, 40)
    add("01", "DV03", 1, 6, 7, 40)
    add("01", "DV02", 1, 4, 8, 40)
    add("01", "DV03", 3, 3, 9, 30)  # postal: shown apart
    add("01", "OTHER", 2, 2, 9, 30)  # not offered online: volume only
    add("79", "DV04", 2, 6, 5, 40)
    add("79", "DV02", 1, 24, 6, 44)
    add("48", "DV01", 2, 2, 12, 30)
    add("48", "DV01", 1, 3, 12, 30)
    # earlier in the 6 h range
    add("01", "DV01", 2, 10, 150, 120)
    add("01", "DV01", 1, 10, 150, 120)
    add("92", "DV02", 1, 5, 200, 60)
    # the baseline days
    add("01", "DV03", 2, 40, 2 * 1440, 3 * 1440)
    add("01", "DV03", 1, 10, 2 * 1440, 3 * 1440)
    add("79", "DV04", 2, 80, 2 * 1440, 3 * 1440)
    add("79", "DV04", 1, 20, 2 * 1440, 3 * 1440)
    add("48", "DV01", 2, 50, 2 * 1440, 3 * 1440)
    add("48", "DV01", 1, 10, 2 * 1440, 3 * 1440)
    # a previous year
    add("01", "DV05", 2, 5, 400 * 1440, 60)
    add("01", "DV05", 1, 5, 400 * 1440, 60)
    return filings


LATE = "late-0001"


def load(client: Client, now: datetime, filings: list[Filing]) -> None:
    """Apply the filings per records-topic partition in time order, then write with the product's writer."""
    states = {p: PartitionState(partition=p) for p in range(PARTITIONS)}
    events = sorted((e for f in filings for e in f.events()), key=lambda e: (e.event_time_ms, e.event_id))
    offsets = Counter[int]()
    for event in events:
        p = record_partition(event.record_id, PARTITIONS)
        states[p].apply_message(offsets[p], [event])
        offsets[p] += 1
    # the portal re-sends an event (another source offset: a duplicate, ignored) ...
    resent = events[-1]._replace(source=source_hash("dvc.filing-events", 1, 999_999, -1))
    p = record_partition(resent.record_id, PARTITIONS)
    states[p].apply_message(offsets[p], [resent])
    offsets[p] += 1
    # ... and an event that ingest judged beyond the lateness horizon (history only)
    old = now - timedelta(days=30)
    late = Filing(LATE, "79", "DV04", 2, "full", old, None)._event("sub", "submitted", 1, old)._replace(late=True)
    p = record_partition(LATE, PARTITIONS)
    states[p].apply_message(offsets[p], [late])
    writer = ClickHouseWriter(client, DB)
    writer.write([state.take_changes() for state in states.values()])
    writer.write_dead_letters(
        [
            ["dvc.filing-events", 0, 10, -1, "invalid_province", "[]", "{}", now - timedelta(minutes=5)],
            ["dvc.filing-events", 1, 11, 2, "invalid_province", "[]", "{}", now - timedelta(minutes=4)],
            ["dvc.filing-events", 0, 12, -1, "malformed_json", "[]", "{", now - timedelta(hours=2)],
        ]
    )
    stats = [
        [now - timedelta(minutes=3), "w1", "dvc.filing-events", 0, 100, 150, 50],
        [now - timedelta(minutes=1), "w1", "dvc.filing-events", 0, 130, 150, 20],
        [now - timedelta(minutes=1), "w1", "dvc.filing-events", 1, 95, 100, 5],
        [now - timedelta(minutes=2), "w1", "dvcpulse.events", 0, 10, 17, 7],
    ]
    client.insert(f"{DB}.worker_stats", stats, ["at", "worker", "topic", "partition", "position", "end_offset", "lag"])


@dataclass
class Loaded:
    client: Client
    settings: Settings
    now: datetime
    filings: list[Filing]
    event_count: int


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loaded]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("dashboards"))
    admin = connect(settings, database="")  # the database does not exist yet
    migrate(admin, DB)
    admin.close()
    client = connect(settings)
    now = datetime.now(UTC).replace(microsecond=0)
    filings = make_filings(now)
    load(client, now, filings)
    try:
        yield Loaded(client, settings, now, filings, sum(len(f.events()) for f in filings) + 1)
    finally:
        client.close()


# -- expected numbers, computed from the filings ----------------------------------------------------


def _minute(at: datetime) -> datetime:
    return at.replace(second=0, microsecond=0)


def in_range(at: datetime, ctx: QueryContext) -> bool:
    """$__timeFilter(minute): whole seconds, both ends included, on the minute bucket."""
    start = ctx.start.replace(microsecond=0)
    end = ctx.end.replace(microsecond=0)
    return start <= _minute(at) <= end


def rate(filings: list[Filing], levels: tuple[str, ...] = OFFERED) -> float | None:
    online = sum(1 for f in filings if f.channel == 2 and f.level in levels)
    both = sum(1 for f in filings if f.channel in (1, 2) and f.level in levels)
    return online / both if both else None


def context(now: datetime | None = None) -> QueryContext:
    """The dashboards' default range (now-6h .. now). The plugin truncates `to` to the second and the
    fixture may have written its rows (processed_at) within this very second, hence the extra second."""
    return macros.last(RANGE, now=now or datetime.now(UTC) + timedelta(seconds=1))


def run(client: Client, query: str, ctx: QueryContext, variables: dict[str, Any] | None = None) -> list[dict]:
    result = client.query(macros.render(query, ctx, variables))
    return [dict(zip(result.column_names, row, strict=True)) for row in result.result_rows]


def one(client: Client, query: str, ctx: QueryContext, variables: dict[str, Any] | None = None) -> dict:
    (row,) = run(client, query, ctx, variables)
    return row


# -- national figures --------------------------------------------------------------------------------


def test_national_stat_panels_match_the_loaded_filings(loaded: Loaded) -> None:
    ctx = context()
    synced = [f for f in loaded.filings if f.synced_at]
    this_year = datetime.now(VN).year
    assert one(loaded.client, Q.national_synced, ctx) == {"synced_records": len(synced)}
    assert one(loaded.client, Q.national_synced_online, ctx) == {
        "synced_online_records": sum(1 for f in synced if f.channel == 2)
    }
    ytd = [f for f in synced if f.synced_at.astimezone(VN).year == this_year]
    assert len(ytd) < len(synced), "the previous year's filings must not count year to date"
    assert one(loaded.client, Q.national_synced_ytd, ctx) == {
        "synced_ytd": len(ytd),
        "synced_online_ytd": sum(1 for f in ytd if f.channel == 2),
    }
    window = [f for f in loaded.filings if in_range(f.submitted_at, ctx)]
    assert one(loaded.client, Q.national_online_rate, ctx)["online_rate"] == pytest.approx(rate(window))
    assert one(loaded.client, Q.national_full_online_rate, ctx)["full_online_rate"] == pytest.approx(
        rate(window, ("full",))
    )
    assert one(loaded.client, Q.national_postal, ctx) == {"postal": sum(1 for f in window if f.channel == 3)}
    freshness = one(loaded.client, Q.freshness, ctx)["newest_event_age_seconds"]
    newest = max(
        at for f in loaded.filings for at in (f.submitted_at + timedelta(minutes=1), f.synced_at) if at is not None
    )
    assert freshness == pytest.approx((datetime.now(UTC) - newest).total_seconds(), abs=30)


def test_online_rate_of_all_34_provinces_with_their_names(loaded: Loaded) -> None:
    ctx = context()
    rows = run(loaded.client, Q.national_province_rates, ctx)
    names = {p.code: p.name for p in provinces().values()}
    assert sorted(r["province"] for r in rows) == sorted(names.values())
    window = [f for f in loaded.filings if in_range(f.submitted_at, ctx)]
    got = {r["province"]: r["online_rate"] for r in rows}
    for code, name in names.items():
        expected = rate([f for f in window if f.province == code])
        assert got[name] == (pytest.approx(expected) if expected is not None else None), name
    rated = [r["online_rate"] for r in rows if r["online_rate"] is not None]
    assert rated == sorted(rated, reverse=True) and len(rated) == 4


def test_services_ranked_by_online_rate_with_vietnamese_names(loaded: Loaded) -> None:
    ctx = context()
    rows = run(loaded.client, Q.national_service_rates, ctx)
    window = [f for f in loaded.filings if in_range(f.submitted_at, ctx) and f.level in OFFERED]
    expected = {
        services()[code].name_vi: rate([f for f in window if f.service == code]) for code in {f.service for f in window}
    }
    assert {r["service"]: r["online_rate"] for r in rows} == pytest.approx(expected)
    assert [r["online_rate"] for r in rows] == sorted((r["online_rate"] for r in rows), reverse=True)


def test_per_minute_volume_adds_up_by_channel(loaded: Loaded) -> None:
    ctx = context()
    rows = run(loaded.client, Q.national_volume, ctx)
    window = [f for f in loaded.filings if in_range(f.submitted_at, ctx)]
    for column, channel in (("online", 2), ("in_person", 1), ("postal", 3)):
        assert sum(r[column] for r in rows) == sum(1 for f in window if f.channel == channel)
    assert [r["time"] for r in rows] == sorted(r["time"] for r in rows)


# -- province and service dashboards -----------------------------------------------------------------


def test_province_dashboard_figures(loaded: Loaded) -> None:
    ctx = context()
    variables = {"province": "79"}
    mine = [f for f in loaded.filings if f.province == "79"]
    synced = [f for f in mine if f.synced_at]
    assert one(loaded.client, Q.province_synced, ctx, variables) == {
        "synced_records": len(synced),
        "synced_online_records": sum(1 for f in synced if f.channel == 2),
    }
    window = [f for f in mine if in_range(f.submitted_at, ctx)]
    assert one(loaded.client, Q.province_online_rate, ctx, variables)["online_rate"] == pytest.approx(rate(window))
    trend = run(loaded.client, Q.province_trend, ctx, variables)
    baseline_window = [f for f in mine if ctx.end - timedelta(days=7) <= f.submitted_at < ctx.end - timedelta(hours=1)]
    (baseline,) = {r["baseline_7d"] for r in trend}
    assert baseline == pytest.approx(rate(baseline_window))
    services_rows = run(loaded.client, Q.province_service_rates, ctx, variables)
    assert {r["service"] for r in services_rows} == {services()[f.service].name_vi for f in window}


def test_service_dashboard_with_all_and_with_a_province_subset(loaded: Loaded) -> None:
    ctx = context()
    every = tuple(provinces())
    window = [f for f in loaded.filings if f.service == "DV02" and in_range(f.submitted_at, ctx)]
    for chosen in (Variable(ALL, options=every), Variable(("79", "92"))):
        variables = {"service": "DV02", "province": chosen}
        picked = [f for f in window if f.province in chosen.current()]
        assert one(loaded.client, Q.service_received, ctx, variables) == {"received": len(picked)}
        assert one(loaded.client, Q.service_online_rate, ctx, variables)["online_rate"] == pytest.approx(rate(picked))
        mix = {r["status_name"]: r["transitions"] for r in run(loaded.client, Q.service_status_mix, ctx, variables)}
        names = {s.code: s.name_vi for s in status_codes().values()}
        expected = Counter(names[2] for f in picked if in_range(f.submitted_at + timedelta(minutes=1), ctx))
        expected.update(names[10] for f in picked if f.synced_at and in_range(f.synced_at, ctx))
        assert mix == dict(expected)
    by_province = run(loaded.client, Q.service_province_rates, ctx, {"service": "DV02"})
    assert len(by_province) == 34


# -- pipeline dashboard ------------------------------------------------------------------------------


def test_pipeline_figures(loaded: Loaded) -> None:
    ctx = context()
    assert one(loaded.client, Q.pipeline_dead_letters, ctx) == {"dead_letters": 3}
    by_reason = Counter()
    for row in run(loaded.client, Q.pipeline_dead_letters_by_reason, ctx):
        by_reason[row["reason"]] += row["dead_letters"]
    assert by_reason == {"invalid_province": 2, "malformed_json": 1}
    assert one(loaded.client, Q.pipeline_lag_now, ctx) == {"lag_messages": 20 + 5 + 7}
    assert one(loaded.client, Q.pipeline_late_total, ctx) == {"late_events": 1}
    late = run(loaded.client, Q.pipeline_late_events, ctx)
    assert sum(r["late_events"] for r in late) == 1
    per_second = run(loaded.client, Q.pipeline_events_per_second, ctx)
    interval = macros.expand_macros("$__interval_s", ctx)
    assert round(sum(r["events_per_second"] for r in per_second) * int(interval)) == loaded.event_count
    partitions = run(loaded.client, Q.pipeline_partitions, ctx)
    assert sum(r["duplicates"] for r in partitions) == 1


# -- alert rules -------------------------------------------------------------------------------------


def _rule_sql(uid: str) -> str:
    document = yaml.safe_load((ROOT / "dashboards" / build.RULES_FILE).read_text(encoding="utf-8"))
    (rule,) = [r for g in document["groups"] for r in g["rules"] if r["uid"] == uid]
    return rule["data"][0]["model"]["rawSql"]


def _threshold(uid: str) -> float:
    document = alerts.provisioning(DB)
    (rule,) = [r for g in document["groups"] for r in g["rules"] if r["uid"] == uid]
    return rule["data"][2]["model"]["conditions"][0]["evaluator"]["params"][0]


def test_online_rate_drop_alert(loaded: Loaded) -> None:
    now = datetime.now(UTC)
    rows = run(loaded.client, _rule_sql("dvcpulse-online-rate-drop"), context(now))
    expected = {}
    for code in {f.province for f in loaded.filings}:
        mine = [f for f in loaded.filings if f.province == code]
        hour = [f for f in mine if f.submitted_at >= now - timedelta(hours=1)]
        week = [f for f in mine if now - timedelta(days=7) <= f.submitted_at < now - timedelta(hours=1)]
        enough = sum(f.channel in (1, 2) and f.level in OFFERED for f in hour) >= sql.DEFAULT_MIN_FILINGS_1H
        if enough and sum(f.channel in (1, 2) and f.level in OFFERED for f in week) >= sql.DEFAULT_MIN_FILINGS_BASELINE:
            expected[code] = round((rate(week) - rate(hour)) * 100, 2)
    assert {r["province_code"]: r["drop_points"] for r in rows} == pytest.approx(expected, abs=0.011)
    assert set(expected) == {"01", "79"}, "48 has too few filings in the last hour to be judged"
    firing = {r["province_code"] for r in rows if r["drop_points"] > _threshold("dvcpulse-online-rate-drop")}
    assert firing == {"79"}


def test_silent_province_alert_follows_office_hours(loaded: Loaded) -> None:
    def office_hours() -> bool:
        local = datetime.now(VN)
        return local.isoweekday() <= 5 and 8 * 60 <= local.hour * 60 + local.minute < 17 * 60

    office = office_hours()
    rows = run(loaded.client, _rule_sql("dvcpulse-province-silent"), context())
    if office_hours() != office:
        pytest.skip("the query ran across an office-hours boundary")
    active = {f.province for f in loaded.filings if f.submitted_at >= loaded.now - timedelta(days=7)}
    assert len(rows) == 34
    assert {r["province_code"] for r in rows if r["silent"]} == (set(provinces()) - active if office else set())


@pytest.mark.parametrize(
    ("local", "expected"),
    [
        ("2026-11-23 08:00:00", 1),  # Monday, 30 minutes after opening
        ("2026-11-23 07:59:59", 0),  # the window would reach back before 07:30
        ("2026-11-27 16:59:59", 1),  # Friday afternoon
        ("2026-11-27 17:00:00", 0),
        ("2026-11-28 10:00:00", 0),  # Saturday
        ("2026-11-29 10:00:00", 0),  # Sunday
    ],
)
def test_office_hours_condition(loaded: Loaded, local: str, expected: int) -> None:
    moment = f"toDateTime('{local}', '{TIMEZONE}')"
    (row,) = loaded.client.query(f"SELECT toUInt8({sql.working_hours(moment)})").result_rows
    assert row[0] == expected


def test_dead_letter_and_freshness_alerts(loaded: Loaded) -> None:
    ctx = context()
    dead = one(loaded.client, _rule_sql("dvcpulse-dead-letters"), ctx)
    assert dead == {"dead_letters_15m": 2} and dead["dead_letters_15m"] > _threshold("dvcpulse-dead-letters")
    age = one(loaded.client, _rule_sql("dvcpulse-freshness"), ctx)["age_seconds"]
    assert age > _threshold("dvcpulse-freshness") == 60  # the newest loaded event is minutes old


# -- Chỉ số 766 --------------------------------------------------------------------------------------


def test_766_dashboard_figures(loaded: Loaded) -> None:
    """1.4 (synced / received this month) of a province, its points, the ranking by total, and the on-time
    alert, which has nothing to judge: these filings state no due date."""
    vn = ZoneInfo(TIMEZONE)
    month = loaded.now.astimezone(vn).date().replace(day=1)
    variables = {"province": "79", "period_kind": "month", "period": month.isoformat()}
    ctx = context()
    periods = run(loaded.client, Q.index_periods, ctx, variables)
    assert periods[0]["code"] == month.isoformat() and periods[0]["name"] == month.strftime("%m/%Y")
    received = [f for f in loaded.filings if f.province == "79" and not f.late
                and f.submitted_at.astimezone(vn).date().replace(day=1) == month]  # fmt: skip
    synced = sum(1 for f in received if f.synced_at)
    indicators = {r["code"]: r for r in run(loaded.client, Q.index_province_indicators, ctx, variables)}
    assert len(indicators) == 12 and len(received) > 0
    sync = indicators["1.4"]
    assert (sync["indicator_numerator"], sync["indicator_denominator"]) == (synced, len(received))
    assert sync["indicator_points"] == pytest.approx(6 * synced / len(received))
    assert indicators["2.1"]["indicator_denominator"] == 0 and indicators["2.1"]["records_unjudged"] > 0
    groups = run(loaded.client, Q.index_province_groups, ctx, variables)
    assert [g["group_name"] for g in groups][:2] == ["Công khai, minh bạch", "Dịch vụ công trực tuyến"]
    ranking = run(loaded.client, Q.index_ranking, ctx, variables)
    totals = [r["total_points"] for r in ranking]
    assert totals == sorted(totals, reverse=True)
    mine = next(r for r in ranking if r["province"] == provinces()["79"].name)
    assert mine["ckmb"] == pytest.approx(sync["indicator_points"])
    total = one(loaded.client, Q.index_province_total, ctx, variables)
    assert mine["total_points"] == pytest.approx(total["total_points"])
    not_derivable = run(loaded.client, Q.index_not_derivable, ctx, variables)
    assert {r["code"] for r in not_derivable} == {"1.1", "1.2", "1.3", "3.1", "3.2", "MX6", "3.5a", "ECC", "4.5a",
                                                  "5.1", "5.2", "5.3"}  # fmt: skip
    assert run(loaded.client, _rule_sql("dvcpulse-766-on-time-low"), ctx) == []


# -- every query of every panel, variable and rule ---------------------------------------------------

EXPECTED_COLUMNS: dict[str, tuple[str, ...]] = {
    "province_options": ("code", "name"),
    "service_options": ("code", "name_vi"),
    "national_synced": ("synced_records",),
    "national_synced_online": ("synced_online_records",),
    "national_synced_ytd": ("synced_ytd", "synced_online_ytd"),
    "national_online_rate": ("online_rate",),
    "national_full_online_rate": ("full_online_rate",),
    "national_postal": ("postal",),
    "national_volume": ("time", "online", "in_person", "postal"),
    "national_province_rates": ("province", "online", "in_person", "online_rate"),
    "national_service_rates": ("service", "online", "in_person", "online_rate"),
    "freshness": ("newest_event_age_seconds",),
    "province_synced": ("synced_records", "synced_online_records"),
    "province_online_rate": ("online_rate",),
    "province_full_online_rate": ("full_online_rate",),
    "province_postal": ("postal",),
    "province_volume": ("time", "online", "in_person", "postal"),
    "province_service_rates": ("service", "online", "in_person", "online_rate"),
    "province_trend": ("time", "online_rate", "baseline_7d"),
    "service_received": ("received",),
    "service_online_rate": ("online_rate",),
    "service_province_rates": ("province", "online", "in_person", "online_rate"),
    "service_volume": ("time", "online", "in_person", "postal"),
    "service_status_mix": ("status_name", "transitions"),
    "pipeline_events_per_second": ("time", "events_per_second"),
    "pipeline_events_last_5m": ("events_per_second",),
    "pipeline_dead_letters": ("dead_letters",),
    "pipeline_dead_letters_by_reason": ("time", "reason", "dead_letters"),
    "pipeline_dead_letter_list": (
        "received_at", "source_topic", "source_partition", "source_offset", "reason", "errors",
    ),
    "pipeline_late_total": ("late_events",),
    "pipeline_late_events": ("time", "late_events"),
    "pipeline_lag": ("time", "topic", "lag_messages"),
    "pipeline_lag_now": ("lag_messages",),
    "pipeline_last_write": ("last_write_age_seconds",),
    "pipeline_partitions": (
        "kafka_partition", "events_offset", "watermark", "processed", "duplicates", "late", "updated_at",
    ),
    "index_period_kinds": ("code", "name"),
    "index_periods": ("code", "name"),
    "index_ranking": (
        "province", "total_points", "ckmb", "tdgq", "clgq", "tttt", "mdsh", "mdhl", "scored_max",
    ),
    "index_province_total": ("total_points", "scored_max_points"),
    "index_province_groups": ("group_name", "group_points", "group_scored_max", "group_max", "not_scored"),
    "index_province_indicators": (
        "code", "indicator_name", "derivation", "indicator_numerator", "indicator_denominator", "records_unjudged",
        "indicator_ratio", "indicator_target", "indicator_points", "indicator_max",
    ),
    "index_drilldown": (
        "service", "procedure", "code", "cell_numerator", "cell_denominator", "cell_unjudged", "cell_ratio",
    ),
    "index_not_derivable": ("code", "indicator_name", "indicator_max", "reason"),
    "alert_online_rate_drop": ("province_code", "province", "drop_points"),
    "alert_province_silent": ("province_code", "province", "silent"),
    "alert_dead_letters": ("dead_letters_15m",),
    "alert_freshness": ("age_seconds",),
    "alert_on_time_low": ("province_code", "province", "shortfall_points"),
}  # fmt: skip
VARIABLES = {"province": "79", "service": "DV02", "period_kind": "month", "period": "2025-09-01"}
SERVICE_VARIABLES = {"service": "DV02", "province": Variable(ALL, options=tuple(provinces()))}


def _queries_in_use() -> list[tuple[str, str, str]]:
    """(where, SQL, dashboard uid or 'alerts') for every panel target, variable query and alert rule."""
    found = []
    for uid, dashboard in build.dashboards().items():
        for panel in dashboard["panels"]:
            for target in panel.get("targets", []):
                found.append((f"{uid} panel {panel['id']}", target["rawSql"], uid))
        for variable in dashboard.get("templating", {}).get("list", []):
            found.append((f"{uid} variable {variable['name']}", variable["query"], uid))
    document = yaml.safe_load((ROOT / "dashboards" / build.RULES_FILE).read_text(encoding="utf-8"))
    for group in document["groups"]:
        for rule in group["rules"]:
            found.append((f"rule {rule['uid']}", rule["data"][0]["model"]["rawSql"], "alerts"))
    return found


def test_every_query_in_use_is_a_named_query_and_every_named_query_is_used() -> None:
    named = Q.statements()
    assert set(named) == set(EXPECTED_COLUMNS)
    by_text = {text: name for name, text in named.items()}
    used = [(where, text) for where, text, _ in _queries_in_use()]
    assert [where for where, text in used if text not in by_text] == []
    assert set(named) == {by_text[text] for _, text in used}


def test_every_query_reads_the_database_it_is_given() -> None:
    assert build.DATABASE == DB == Settings.model_fields["clickhouse_database"].default
    for name, text in sql.Queries("elsewhere").statements().items():
        databases = re.findall(r"\b(?:FROM|JOIN)\s+(\w+)\.", text)
        assert databases and set(databases) == {"elsewhere"}, name
    committed, elsewhere = build.artefacts(), build.artefacts(database="elsewhere")
    assert {path: text.replace("elsewhere.", f"{DB}.") for path, text in elsewhere.items()} == committed


def test_every_query_runs_and_returns_its_columns(loaded: Loaded) -> None:
    ctx = context()
    by_text = {text: name for name, text in Q.statements().items()}
    for where, text, uid in _queries_in_use():
        variables = SERVICE_VARIABLES if uid == "dvcpulse-service" else VARIABLES
        rendered = macros.render(text, ctx, variables)
        assert "$" not in rendered, f"{where}: unexpanded macro or variable in {rendered}"
        loaded.client.query(rendered)  # runs
        described = loaded.client.query(f"DESCRIBE TABLE ({rendered})").result_rows
        assert tuple(row[0] for row in described) == EXPECTED_COLUMNS[by_text[text]], where


# -- structure ---------------------------------------------------------------------------------------


def _overlap(a: dict[str, int], b: dict[str, int]) -> bool:
    return (
        a["x"] < b["x"] + b["w"] and b["x"] < a["x"] + a["w"] and a["y"] < b["y"] + b["h"] and b["y"] < a["y"] + a["h"]
    )


@pytest.mark.parametrize("uid", [module.UID for module in build.DASHBOARD_MODULES])
def test_dashboard_structure(uid: str) -> None:
    dashboard = build.dashboards()[uid]
    assert dashboard["uid"] == uid and "id" not in dashboard
    expected_refresh = {"5m"} if uid == index_766.UID else {"5s", "10s"}  # (766: costly queries, a monthly index)
    assert dashboard["timezone"] == TIMEZONE and dashboard["refresh"] in expected_refresh
    assert re.search(r"[^\x00-\x7f]", dashboard["title"]), "Vietnamese title with diacritics"
    # English text may hold "–", "…" or "°" (not ASCII); what it may not hold is a letter only Vietnamese uses here.
    vietnamese = re.compile(
        "[À-ÃÈ-ÊÌÍÒ-ÕÙÚÝà-ãè-êìíò-õùúýĂăĐđĨĩŨũƠơƯư\u1ea0-\u1ef9]"  # ă â đ ê ô ơ ư and the tone-marked letters
        "|[\u0300-\u0303\u0306\u0309\u031b\u0323]"  # the same marks, decomposed
    )
    assert not vietnamese.search(dashboard["description"]), "descriptions are in English: no Vietnamese letters"
    panels = dashboard["panels"]
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)) and all(isinstance(i, int) for i in ids)
    for panel in panels:
        pos = panel["gridPos"]
        assert all(isinstance(pos[k], int) for k in "xywh"), panel["title"]
        assert pos["x"] >= 0 and pos["y"] >= 0 and pos["w"] > 0 and pos["h"] > 0 and pos["x"] + pos["w"] <= 24
        assert panel["type"] in GRAFANA_11_CORE_PANELS
        assert re.search(r"[^\x00-\x7f]", panel["title"]), panel["title"]
        assert not vietnamese.search(panel["description"]), f"{panel['title']}: English description, no Vietnamese"
        assert panel["datasource"] == {"type": DATASOURCE_TYPE, "uid": DATASOURCE_UID}
        for target in panel["targets"]:
            assert target["datasource"] == {"type": DATASOURCE_TYPE, "uid": DATASOURCE_UID}
            assert target["editorType"] == "sql" and target["format"] in (0, 1)
    for a, b in ((a, b) for i, a in enumerate(panels) for b in panels[i + 1 :]):
        assert not _overlap(a["gridPos"], b["gridPos"]), (a["title"], b["title"])
    defined = {v["name"] for v in dashboard.get("templating", {}).get("list", [])}
    for variable in dashboard.get("templating", {}).get("list", []):
        assert variable["datasource"]["uid"] == DATASOURCE_UID
    used = {
        name
        for panel in panels
        for target in panel["targets"]
        for match in macros.VARIABLE_REGEX.finditer(target["rawSql"])
        if not (name := match.group(1) or match.group(2) or match.group(4)).startswith("__")
    }
    assert used <= defined, f"undefined variables: {used - defined}"


def test_province_variable_takes_codes_as_values_and_names_as_text(loaded: Loaded) -> None:
    (variable,) = build.dashboards()["dvcpulse-province"]["templating"]["list"]
    assert variable["name"] == "province" and variable["type"] == "query"
    rows = run(loaded.client, variable["query"], context())
    assert [(r["code"], r["name"]) for r in rows] == sorted((p.code, p.name) for p in provinces().values())
    assert variable["current"] == {"selected": True, "text": provinces()["01"].name, "value": "01"}


def test_provisioning_files_parse_and_agree() -> None:
    folder = ROOT / "dashboards" / "provisioning"
    datasources = yaml.safe_load((folder / "datasources" / "clickhouse.yaml").read_text(encoding="utf-8"))
    (source,) = datasources["datasources"]
    assert datasources["apiVersion"] == 1
    assert (source["uid"], source["type"]) == (DATASOURCE_UID, DATASOURCE_TYPE)
    json_data = source["jsonData"]
    assert (json_data["protocol"], json_data["port"], json_data["defaultDatabase"]) == ("http", 8123, DB)
    assert json_data["username"] == "grafana"
    assert source["secureJsonData"]["password"] == "${CLICKHOUSE_GRAFANA_PASSWORD}"
    providers = yaml.safe_load((folder / "dashboards" / "dvcpulse.yaml").read_text(encoding="utf-8"))
    (provider,) = providers["providers"]
    assert (provider["type"], provider["folder"]) == ("file", FOLDER)
    assert provider["options"]["path"].startswith("/var/lib/grafana/dashboards/")
    committed = sorted(p.stem for p in (ROOT / "dashboards" / build.JSON_DIR).glob("*.json"))
    assert committed == sorted(build.dashboards()), "the provider serves dashboards/json"
    rules = yaml.safe_load((ROOT / "dashboards" / build.RULES_FILE).read_text(encoding="utf-8"))
    assert rules["apiVersion"] == 1
    (group,) = rules["groups"]
    assert group["folder"] == FOLDER and group["interval"] == "1m"
    assert len(group["rules"]) == 5 and len({r["uid"] for r in group["rules"]}) == 5
    for rule in group["rules"]:
        query, reduce, threshold = rule["data"]
        assert query["datasourceUid"] == DATASOURCE_UID == query["model"]["datasource"]["uid"]
        assert (reduce["model"]["type"], threshold["model"]["type"]) == ("reduce", "threshold")
        assert reduce["datasourceUid"] == threshold["datasourceUid"] == "__expr__"
        assert rule["condition"] == "C" and rule["title"] and rule["annotations"]["summary"]


def test_rate_drop_threshold_is_configurable_in_the_build() -> None:
    document = alerts.provisioning(DB, alerts.AlertConfig(rate_drop_points=15))
    (rule,) = [r for r in document["groups"][0]["rules"] if r["uid"] == "dvcpulse-online-rate-drop"]
    assert rule["data"][2]["model"]["conditions"][0]["evaluator"] == {"params": [15], "type": "gt"}


# -- build, check, push, preview ---------------------------------------------------------------------


def test_committed_files_equal_the_build_and_check_catches_drift(tmp_path: Path) -> None:
    assert build.artefacts() == build.artefacts(), "the build is deterministic"
    assert build.differences() == []
    runner = CliRunner()
    assert runner.invoke(app, ["dashboards", "check"]).exit_code == 0
    copy = tmp_path / "dashboards"
    shutil.copytree(ROOT / "dashboards", copy, ignore=shutil.ignore_patterns("__pycache__"))
    target = copy / build.JSON_DIR / "dvcpulse-overview.json"
    data = json.loads(target.read_text(encoding="utf-8"))
    data["panels"][0]["title"] = "sửa tay"
    target.write_text(json.dumps(data), encoding="utf-8")
    result = runner.invoke(app, ["dashboards", "check", "--root", str(copy)])
    assert result.exit_code == 1 and "differs: json/dvcpulse-overview.json" in result.output
    out = tmp_path / "built"
    assert runner.invoke(app, ["dashboards", "build", "--out", str(out)]).exit_code == 0
    assert build.differences(out) == []


def test_the_cli_builds_for_the_configured_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DVCPULSE_CLICKHOUSE_DATABASE", "elsewhere")
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        assert runner.invoke(app, ["dashboards", "build", "--out", str(tmp_path)]).exit_code == 0
        assert build.differences(tmp_path, "elsewhere") == []
        assert runner.invoke(app, ["dashboards", "check", "--root", str(tmp_path)]).exit_code == 0
        assert runner.invoke(app, ["dashboards", "check"]).exit_code == 1, "the committed files read dvcpulse"
    finally:
        get_settings.cache_clear()


class _FakeGrafana(BaseHTTPRequestHandler):
    """Just enough of Grafana's HTTP API for `push`: folders and POST /api/dashboards/db."""

    requests: ClassVar[list[tuple[str, str, dict[str, Any] | None, str | None]]] = []

    def _reply(self, body: Any) -> None:
        payload = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:
        self.requests.append(("GET", self.path, None, self.headers.get("Authorization")))
        self._reply([{"uid": "other", "title": "Khác"}] if self.path.startswith("/api/folders") else {})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.requests.append(("POST", self.path, body, self.headers.get("Authorization")))
        if self.path == "/api/folders":
            self._reply({"uid": body["uid"], "title": body["title"]})
        else:
            uid = body["dashboard"]["uid"]
            self._reply({"status": "success", "uid": uid, "url": f"/d/{uid}/x", "version": 1})

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_push_creates_the_folder_and_overwrites_dashboards() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeGrafana)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _FakeGrafana.requests = []
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        result = CliRunner().invoke(app, ["dashboards", "push", "--url", url, "--token", "glsa_test"])
    finally:
        server.shutdown()
        server.server_close()
    assert result.exit_code == 0, result.output
    assert all(auth == "Bearer glsa_test" for *_, auth in _FakeGrafana.requests)
    posts = [(path, body) for method, path, body, _ in _FakeGrafana.requests if method == "POST"]
    assert posts[0] == ("/api/folders", {"title": FOLDER, "uid": FOLDER})
    pushed = {body["dashboard"]["uid"]: body for path, body in posts[1:] if path == "/api/dashboards/db"}
    assert set(pushed) == set(build.dashboards())
    assert all(body["overwrite"] is True and body["folderUid"] == FOLDER for body in pushed.values())
    assert "pushed /d/dvcpulse-overview/x" in result.output


def test_preview_renders_the_national_figures(loaded: Loaded, tmp_path: Path) -> None:
    out = tmp_path / "preview" / "toan-quoc.html"
    result = CliRunner().invoke(
        app, ["dashboards", "preview", "--data-dir", str(loaded.settings.data_dir), "--out", str(out), "--no-png"]
    )
    assert result.exit_code == 0, result.output
    page = out.read_text(encoding="utf-8")
    synced = [f for f in loaded.filings if f.synced_at]
    window = [f for f in loaded.filings if in_range(f.submitted_at, context())]
    online_share = f"{rate(window) * 100:.1f}%".replace(".", ",")
    full_share = f"{rate(window, ('full',)) * 100:.1f}%".replace(".", ",")
    for figure in (str(len(synced)), str(sum(1 for f in synced if f.channel == 2)), online_share, full_share):
        assert f">{figure}<" in page, figure
    assert "Toàn quốc" in page and "Thành phố Hồ Chí Minh" in page and "<polyline" in page
    assert page.count('class="panel"') == len(build.dashboards()["dvcpulse-overview"]["panels"])


def test_preview_says_why_there_is_no_png(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    page = tmp_path / "p.html"
    page.write_text("<html></html>", encoding="utf-8")
    monkeypatch.setattr(preview, "find_chromium", lambda: None)
    assert "no headless Chromium found" in preview.screenshot(page, tmp_path / "p.png")
    assert "could not take the screenshot" in preview.screenshot(page, tmp_path / "p.png", chromium="/nonexistent")
