"""A self-contained HTML rendering of a dashboard from real query results, without a Grafana server.

Each panel's SQL goes through `dashboards.macros.render` (what Grafana and the plugin send) and runs on
the given ClickHouse client. Panels are laid out on the dashboard's own 24-column grid; charts are inline
SVG (lines for time series, bars for bar charts and bar gauges, big numbers for stats). Numbers are
written the Vietnamese way (1.234.567; 72,5%).
"""

from __future__ import annotations

import html
import math
import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from clickhouse_connect.driver.client import Client

from dvcpulse.dashboards import macros
from dvcpulse.dashboards.common import TIMEZONE

VN = ZoneInfo(TIMEZONE)
ROW_PX = 34  # one grid row
COL_PX = 66  # one grid column at the 1600 px page the screenshot uses
CHROMIUM = ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome")
# Headless, and quiet on the network: a fresh profile would otherwise fetch components, sync and QUIC probes
# while it renders a local file. --no-sandbox because CI and containers often run as root.
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
)  # fmt: skip
WINDOW = "--window-size=1600,1600"
PALETTE = {"green": "#56a64b", "blue": "#3274d9", "orange": "#ff9830", "red": "#e02f44", "text": "#8e8e8e"}
SERIES_COLORS = ("#56a64b", "#3274d9", "#ff9830", "#a352cc", "#e02f44", "#8ab8ff")


@dataclass
class PanelData:
    panel: dict[str, Any]
    sql: str
    columns: list[str]
    rows: list[tuple[Any, ...]]


@dataclass
class Preview:
    html: Path
    png: Path | None
    note: str


def run_panels(
    client: Client,
    dashboard: Mapping[str, Any],
    ctx: macros.QueryContext,
    variables: Mapping[str, macros.Variable | str | Sequence[str]] | None = None,
) -> list[PanelData]:
    """Every panel's first query, expanded and executed."""
    results = []
    for panel in sorted(dashboard.get("panels", []), key=lambda p: (p["gridPos"]["y"], p["gridPos"]["x"])):
        targets = panel.get("targets") or []
        if not targets:
            continue
        query = macros.render(targets[0]["rawSql"], _panel_context(ctx, panel), variables)
        result = client.query(query)
        results.append(PanelData(panel, query, list(result.column_names), [tuple(r) for r in result.result_rows]))
    return results


_DURATION = re.compile(r"(\d+)(ms|s|m|h|d)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def _panel_context(ctx: macros.QueryContext, panel: Mapping[str, Any]) -> macros.QueryContext:
    """Grafana never uses an interval below the panel's minimum interval ("1m", "5m", ...)."""
    match = _DURATION.fullmatch(str(panel.get("interval") or ""))
    if not match:
        return ctx
    minimum = timedelta(seconds=int(match[1]) * _UNIT_SECONDS[match[2]])
    return replace(ctx, interval=max(ctx.interval, minimum))


# -- number formatting -------------------------------------------------------------------------------


def _grouped(value: float, decimals: int) -> str:
    text = f"{value:,.{decimals}f}"
    return text.replace(",", " ").replace(".", ",").replace(" ", ".")


def format_value(value: Any, unit: str | None, decimals: int | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if unit == "percentunit":
        return f"{_grouped(float(value) * 100, 1 if decimals is None else decimals)}%"
    if unit == "s":
        return f"{_grouped(float(value), 1 if decimals is None else decimals)} giây"
    if isinstance(value, int) or (decimals is None and float(value).is_integer()):
        return _grouped(float(value), 0)
    return _grouped(float(value), 2 if decimals is None else decimals)


# -- panel helpers -----------------------------------------------------------------------------------


def _defaults(panel: Mapping[str, Any]) -> dict[str, Any]:
    return panel.get("fieldConfig", {}).get("defaults", {})


def _overrides(panel: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Field name -> {property id: value} for by-name overrides."""
    out: dict[str, dict[str, Any]] = {}
    for override in panel.get("fieldConfig", {}).get("overrides", []):
        if override.get("matcher", {}).get("id") == "byName":
            props = {p["id"]: p.get("value") for p in override.get("properties", [])}
            out.setdefault(override["matcher"]["options"], {}).update(props)
    return out


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _numeric_columns(data: PanelData) -> list[str]:
    return [
        name
        for i, name in enumerate(data.columns)
        if any(_is_number(row[i]) for row in data.rows) or all(row[i] is None for row in data.rows)
    ]


def _value_field(data: PanelData) -> str | None:
    """The field a stat or bar gauge shows: reduceOptions.fields (a /^name$/ regex) or the first number."""
    pattern = data.panel.get("options", {}).get("reduceOptions", {}).get("fields", "")
    match = re.fullmatch(r"/\^(\w+)\$/", pattern or "")
    if match and match[1] in data.columns:
        return match[1]
    hidden = {name for name, props in _overrides(data.panel).items() if (props.get("custom.hideFrom") or {}).get("viz")}
    numbers = [name for name in _numeric_columns(data) if name not in hidden and name != "time"]
    return numbers[0] if numbers else None


def _color(name: str | None, fallback: str) -> str:
    return PALETTE.get(name or "", name or fallback) if name else fallback


# -- renderers ---------------------------------------------------------------------------------------


def _stat(data: PanelData) -> str:
    field = _value_field(data)
    value = None
    if field and data.rows:
        values = [row[data.columns.index(field)] for row in data.rows]
        non_null = [v for v in values if v is not None]
        value = non_null[-1] if non_null else None
    defaults = _defaults(data.panel)
    text = format_value(value, defaults.get("unit"), defaults.get("decimals"))
    steps = defaults.get("thresholds", {}).get("steps", [])
    color = _color(steps[0].get("color") if steps else None, "#3274d9")
    for step in steps[1:]:
        if _is_number(value) and step.get("value") is not None and value >= step["value"]:
            color = _color(step.get("color"), color)
    return f'<div class="big" style="color:{color}">{html.escape(text)}</div>'


def _as_vn(value: Any) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(VN)


def _box(panel: Mapping[str, Any], reserved: int) -> tuple[int, int]:
    """SVG size in CSS pixels of the panel's grid cell, less what the title (and legend) take."""
    pos = panel["gridPos"]
    return pos["w"] * COL_PX - 28, pos["h"] * (ROW_PX + 8) - 8 - reserved


def _ticks(peak: float) -> list[float]:
    """0 and 4-6 round steps covering peak (1, 2, 2.5 or 5 times a power of ten)."""
    raw = max(peak, 1e-9) / 4
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if raw <= m * magnitude)
    return [k * step for k in range(math.ceil(peak / step - 1e-9) + 1)] or [0.0, step]


def _lines(data: PanelData, ctx: macros.QueryContext) -> str:
    if "time" not in data.columns or not data.rows:
        return '<div class="empty">Không có dữ liệu</div>'
    overrides = _overrides(data.panel)
    width, height = _box(data.panel, reserved=58)
    left, bottom, top = 56, 24, 8
    t_index = data.columns.index("time")
    times = [_as_vn(row[t_index]).timestamp() for row in data.rows]
    start, end = ctx.start.timestamp(), ctx.end.timestamp()
    series = [c for c in _numeric_columns(data) if c != "time"]
    values = [
        float(row[data.columns.index(c)]) for c in series for row in data.rows if _is_number(row[data.columns.index(c)])
    ]
    unit = _defaults(data.panel).get("unit")
    ticks = _ticks(max([*values, 1.0 if unit != "percentunit" else 0.01]))
    peak = ticks[-1]
    decimals = 0 if unit == "percentunit" or ticks[1] >= 1 else 1

    def x(t: float) -> float:
        return left + (t - start) / max(end - start, 1) * (width - left - 8)

    def y(v: float) -> float:
        return top + (1 - v / peak) * (height - top - bottom)

    parts = [f'<svg viewBox="0 0 {width} {height}" class="chart" role="img">']
    for value in ticks:
        parts.append(f'<line x1="{left}" x2="{width - 8}" y1="{y(value):.1f}" y2="{y(value):.1f}" class="grid"/>')
        parts.append(f'<text x="{left - 6}" y="{y(value) + 4:.1f}" class="tick" text-anchor="end">')
        parts.append(f"{html.escape(format_value(value, unit, decimals))}</text>")
    for k in range(7):
        t = start + (end - start) * k / 6
        label = datetime.fromtimestamp(t, tz=VN).strftime("%H:%M")
        anchor = "start" if k == 0 else "end" if k == 6 else "middle"
        parts.append(f'<text x="{x(t):.1f}" y="{height - 6}" class="tick" text-anchor="{anchor}">{label}</text>')
    legend = []
    for i, name in enumerate(series):
        props = overrides.get(name, {})
        color = _color((props.get("color") or {}).get("fixedColor"), SERIES_COLORS[i % len(SERIES_COLORS)])
        index = data.columns.index(name)
        points = " ".join(
            f"{x(t):.1f},{y(float(row[index])):.1f}"
            for t, row in zip(times, data.rows, strict=True)
            if _is_number(row[index])
        )
        parts.append(f'<polyline points="{points}" fill="none" stroke="{color}" stroke-width="1.5"/>')
        label = html.escape(props.get("displayName") or name)
        legend.append(f'<span class="key"><i style="background:{color}"></i>{label}</span>')
    parts.append("</svg>")
    return "".join(parts) + f'<div class="legend">{"".join(legend)}</div>'


def _bars(data: PanelData) -> str:
    label_field = data.panel.get("options", {}).get("xField") or next(
        (c for i, c in enumerate(data.columns) if data.rows and isinstance(data.rows[0][i], str)), None
    )
    field = _value_field(data)
    if not label_field or not field or not data.rows:
        return '<div class="empty">Không có dữ liệu</div>'
    defaults = _defaults(data.panel)
    unit, decimals = defaults.get("unit"), defaults.get("decimals")
    li, vi = data.columns.index(label_field), data.columns.index(field)
    values = [row[vi] for row in data.rows]
    peak = float(defaults.get("max") or max([float(v) for v in values if _is_number(v)] + [1]))
    width, _ = _box(data.panel, reserved=34)
    bar_h, gap, label_w = 16, 4, min(300, width // 2)
    height = len(data.rows) * (bar_h + gap) + gap
    parts = [f'<svg viewBox="0 0 {width} {height}" class="bars" role="img">']
    for n, row in enumerate(data.rows):
        top = gap + n * (bar_h + gap)
        value = row[vi]
        length = 0.0 if not _is_number(value) else max(float(value), 0) / peak * (width - label_w - 64)
        hue = 0 if not _is_number(value) else round(120 * min(max(float(value) / peak, 0), 1))
        parts.append(
            f'<text x="{label_w - 8}" y="{top + bar_h - 5}" class="label" text-anchor="end">'
            f"{html.escape(str(row[li]))}</text>"
            f'<rect x="{label_w}" y="{top}" width="{length:.1f}" height="{bar_h}" fill="hsl({hue},60%,45%)"/>'
            f'<text x="{label_w + length + 6:.1f}" y="{top + bar_h - 5}" class="value">'
            f"{html.escape(format_value(value, unit, decimals))}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _table(data: PanelData) -> str:
    names = {name: props.get("displayName", name) for name, props in _overrides(data.panel).items()}
    head = "".join(f"<th>{html.escape(names.get(c, c))}</th>" for c in data.columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>" for row in data.rows[:50])
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


RENDERERS = {"stat": _stat, "barchart": _bars, "bargauge": _bars, "table": _table}

CSS = "\n".join(
    (
        'body{font-family:Inter,Roboto,"Segoe UI",Arial,sans-serif;background:#111217;color:#ccccdc;margin:16px}',
        "h1{font-size:22px;margin:0 0 4px} .sub{color:#8e8e8e;font-size:13px;margin-bottom:14px}",
        f".grid24{{display:grid;grid-template-columns:repeat(24,1fr);grid-auto-rows:{ROW_PX}px;gap:8px}}",
        ".panel{background:#181b1f;border:1px solid #2c3235;border-radius:4px;padding:8px 10px;overflow:hidden}",
        ".panel h2{font-size:14px;font-weight:500;margin:0 0 6px;color:#d8d9da}",
        ".big{font-size:40px;font-weight:600;text-align:center;margin-top:6px}",
        ".chart,.bars{width:100%;height:auto} .grid{stroke:#2c3235} .tick{fill:#8e8e8e;font-size:12px}",
        ".label{fill:#ccccdc;font-size:13px} .value{fill:#ccccdc;font-size:12px}",
        ".legend{font-size:12px} .key{margin-right:14px}",
        ".key i{display:inline-block;width:14px;height:4px;margin-right:5px;vertical-align:middle}",
        ".empty{color:#8e8e8e;text-align:center;margin-top:20px}",
        "table{font-size:12px;border-collapse:collapse;width:100%}",
        "td,th{border-bottom:1px solid #2c3235;padding:2px 6px;text-align:left}",
    )
)


def render_html(dashboard: Mapping[str, Any], results: Sequence[PanelData], ctx: macros.QueryContext) -> str:
    start, end = ctx.start.astimezone(VN), ctx.end.astimezone(VN)
    boxes = []
    for data in results:
        pos = data.panel["gridPos"]
        kind = data.panel["type"]
        body = _lines(data, ctx) if kind == "timeseries" else RENDERERS.get(kind, _table)(data)
        style = f"grid-column:{pos['x'] + 1}/span {pos['w']};grid-row:{pos['y'] + 1}/span {pos['h']}"
        boxes.append(
            f'<section class="panel" data-panel-id="{data.panel["id"]}" data-type="{kind}" style="{style}">'
            f"<h2>{html.escape(data.panel['title'])}</h2>{body}</section>"
        )
    title = html.escape(dashboard["title"])
    return (
        f'<!doctype html><html lang="vi"><head><meta charset="utf-8"><title>{title} — xem trước</title>'
        f"<style>{CSS}</style></head><body><h1>{title} — bản xem trước</h1>"
        f'<div class="sub">Khoảng thời gian: {start:%d/%m/%Y %H:%M} – {end:%d/%m/%Y %H:%M} (giờ Việt Nam, '
        f"{TIMEZONE}); dữ liệu thật từ ClickHouse, cùng câu lệnh SQL với Grafana.</div>"
        f'<div class="grid24">{"".join(boxes)}</div></body></html>\n'
    )


def find_chromium() -> str | None:
    for candidate in CHROMIUM:
        found = shutil.which(candidate)
        if found:
            return found
    return None


def run_chromium(browser: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
    """Headless Chromium with a throwaway profile (two runs never share or lock one)."""
    with tempfile.TemporaryDirectory(prefix="dvcpulse-chromium-") as profile:
        command = [browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args]
        return subprocess.run(command, check=True, capture_output=True, timeout=timeout)


def screenshot(html_path: Path, png_path: Path, *, chromium: str | None = None) -> str:
    """PNG via headless Chromium when there is one; returns what happened, for the user."""
    browser = chromium or find_chromium()
    if not browser:
        return "no headless Chromium found (looked for /usr/bin/chromium and on PATH): PNG skipped"
    try:
        run_chromium(browser, f"--screenshot={png_path.resolve()}", WINDOW, html_path.resolve().as_uri())
    except (OSError, subprocess.SubprocessError) as error:
        return f"Chromium could not take the screenshot: {error}"
    return f"PNG written to {png_path}"


def write_preview(
    client: Client,
    dashboard: Mapping[str, Any],
    out: Path,
    *,
    ctx: macros.QueryContext | None = None,
    png: bool = True,
) -> Preview:
    ctx = ctx or macros.last(timedelta(hours=6))
    results = run_panels(client, dashboard, ctx)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_html(dashboard, results, ctx), encoding="utf-8")
    if not png:
        return Preview(out, None, "PNG not requested")
    png_path = out.with_suffix(".png")
    png_path.unlink(missing_ok=True)  # never report a stale image as this run's
    note = screenshot(out, png_path)
    return Preview(out, png_path if png_path.exists() else None, note)
