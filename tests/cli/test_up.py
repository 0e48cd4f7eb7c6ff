"""`dvcpulse up --until-drained --json` in a clean environment (its own broker, chdb, worker): totals equal to the
ground truth, nothing from the future, nothing left in the working directory, new filings on every run, and the
overview's preview rendered by headless Chromium with no empty panel."""

from __future__ import annotations

import html
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from dvcpulse.dashboards.preview import WINDOW, find_chromium, run_chromium
from dvcpulse.seeds.simulator import write_simulation

pytestmark = pytest.mark.integration

RECORDS = 3_000
HOURS = "6"  # the preview's default time range, so every simulated event is in it


@dataclass(frozen=True)
class Run:
    summary: dict[str, Any]
    stderr: str
    cwd: Path
    data_dir: Path


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "CLICKHOUSE_", "DVCPULSE_", "APP_"))}


def _up(cwd: Path, data_dir: Path, records: int) -> Run:
    done = subprocess.run(
        [sys.executable, "-m", "dvcpulse", "up", "--records", str(records), "--history-hours", HOURS,
         "--until-drained", "--json", "--data-dir", str(data_dir)],
        env=_env(), cwd=cwd, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return Run(orjson.loads(done.stdout.splitlines()[-1]), done.stderr, cwd, data_dir)


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    cwd = tmp_path_factory.mktemp("up")
    yield _up(cwd, cwd / "data", RECORDS)


def test_until_drained_prints_totals_equal_to_ground_truth(first_run: Run, tmp_path: Path) -> None:
    summary = first_run.summary
    simulation = summary["simulation"]
    options = simulation["options"]
    assert options["run_id"] == summary["run_id"]
    truth = write_simulation(
        tmp_path / "expected.jsonl", records=RECORDS, seed=simulation["seed"], profile=simulation["profile"],
        start=options["start"], days=options["days"], run_id=options["run_id"], until=options["until"],
    )  # fmt: skip
    assert orjson.loads(Path(simulation["truth"]).read_bytes()) == truth
    totals = truth["totals"]
    assert summary["published"] == summary["processed"] == truth["valid_events"]
    assert summary["dead_lettered"] == 0 and summary["duplicates"] == 0 and summary["late"] == 0
    assert summary["drained"] is True
    for key in ("submitted", "synced", "synced_online", "synced_in_person", "synced_postal", "status_changes"):
        assert summary[key] == summary["all_time"][key] == totals[key], key
    assert summary["synced_online_share"] == pytest.approx(truth["synced_online_share"])
    # the demo's times are the current time: nothing after the moment the run began
    assert truth["last_event_time"] <= options["until"]
    assert datetime.fromisoformat(options["until"]) <= datetime.now(UTC)
    # nothing left in the working directory but the documented data dir (Faust's own folder included)
    assert sorted(p.name for p in first_run.cwd.iterdir()) == ["data"]
    # the data stays queryable after the stack has stopped
    query = subprocess.run(
        [sys.executable, "-m", "dvcpulse", "sql", "--data-dir", str(first_run.data_dir), "--format", "json",
         "SELECT synced FROM v_totals"],
        env=_env(), cwd=first_run.cwd, capture_output=True, timeout=120, check=True,
    )  # fmt: skip
    assert orjson.loads(query.stdout) == [{"synced": totals["synced"]}]


def test_the_overview_preview_has_no_empty_panel(first_run: Run, tmp_path: Path) -> None:
    chromium = find_chromium()
    if chromium is None:
        pytest.fail("headless Chromium is needed: apt-get install -y chromium (.ci/run installs it)")
    out = tmp_path / "toan-quoc.html"
    done = subprocess.run(
        [sys.executable, "-m", "dvcpulse", "dashboards", "preview", "--data-dir", str(first_run.data_dir),
         "--out", str(out)],
        env=_env(), cwd=tmp_path, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    png = out.with_suffix(".png")
    assert png.stat().st_size > 50_000, done.stdout  # a rendered page, not a blank one
    keep = os.environ.get("DVCPULSE_KEEP_PREVIEW")  # a place to look at the PNG afterwards
    if keep:
        shutil.copy(png, keep)
    panels = _rendered_panels(chromium, out)
    assert len(panels) == 11, panels
    for panel in panels:
        where = f"panel {panel['id']} {panel['title']!r}: {panel}"
        assert not panel["empty"] and panel["height"] > 20, where
        if panel["type"] == "stat":
            assert panel["text"] not in ("", "–"), where
        elif panel["type"] == "timeseries":
            assert panel["points"] >= 2 and panel["nonzero"], where
        else:
            assert panel["bars"] >= 1, where


# Appended to the page: after layout, each panel's rendered content, as JSON in <pre id="check"> (dump-dom).
CHECK = """<script>
const panels = [...document.querySelectorAll("section.panel")].map((panel) => {
  const title = panel.querySelector("h2");
  const body = [...panel.children].filter((element) => element !== title);
  const lines = [...panel.querySelectorAll("polyline")].map((l) => l.getAttribute("points").trim().split(/\\s+/));
  return {
    id: panel.dataset.panelId, type: panel.dataset.type, title: title.textContent,
    empty: panel.querySelector(".empty") !== null,
    height: Math.max(0, ...body.map((element) => element.getBoundingClientRect().height)),
    text: body.map((element) => element.textContent.trim()).join(" "),
    points: Math.max(0, ...lines.map((points) => points.filter(Boolean).length)),
    nonzero: lines.some((points) => new Set(points.map((p) => p.split(",")[1])).size > 1),
    bars: [...panel.querySelectorAll("rect")].filter((r) => r.getBoundingClientRect().width > 0).length,
  };
});
const pre = document.createElement("pre");
pre.id = "check";
pre.textContent = JSON.stringify(panels);
document.body.append(pre);
</script>"""


def _rendered_panels(chromium: str, page: Path) -> list[dict[str, Any]]:
    checked = page.with_name("checked.html")
    checked.write_text(page.read_text(encoding="utf-8").replace("</body>", CHECK + "</body>"), encoding="utf-8")
    dom = run_chromium(chromium, "--dump-dom", WINDOW, checked.resolve().as_uri(), timeout=120).stdout.decode()
    start = dom.index('<pre id="check">') + len('<pre id="check">')
    text = dom[start : dom.index("</pre>", start)]
    return orjson.loads(html.unescape(text))


def test_a_second_run_makes_new_filings_and_reports_them_apart(first_run: Run) -> None:
    second = _up(first_run.cwd, first_run.data_dir, 1_000).summary
    assert second["run_id"] != first_run.summary["run_id"]
    assert second["submitted"] == 1_000  # every filing is new: no record id of the first run came back
    assert second["all_time"]["submitted"] == RECORDS + 1_000
    assert second["processed"] == second["published"]
    assert second["all_time"]["processed"] == first_run.summary["processed"] + second["processed"]
