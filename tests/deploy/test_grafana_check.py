"""`make grafana-check`: the dashboards and alert rules through what Grafana runs, on data loaded through the
product's write path (tests/dashboards: PartitionState -> ClickHouseWriter, through `dvcpulse db serve`).

Two stages, each run when its build exists in ./.grafana (`make grafana-build`, deploy/grafana/README.md):

* driver: ClickHouse as the Grafana plugin reads it - clickhouse-go over HTTP, connected the way
  grafana-clickhouse-datasource connects (.grafana/bin/chprobe) - against the embedded gateway. Every value
  test of tests/dashboards/test_dashboards.py runs again with its client replaced by that driver, so every
  panel, variable and alert query must give the same known numbers through it.
* grafana: Grafana 11.6 with the plugin and this project's provisioning (datasource pointed at the gateway,
  dashboards, alert rules): every dashboard provisioned, every panel target answered through /api/ds/query
  with the rows the same SQL gives in ClickHouse, every alert rule loaded and evaluated. Not run yet: the
  Go module proxy refuses Grafana and the plugin (deploy/grafana/README.md).

In the ordinary suite a missing build skips (CI does not build it); `make grafana-check` sets
DVCPULSE_GRAFANA_CHECK=1, where a missing build fails.
"""

from __future__ import annotations

import base64
import json
import math
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from dvcpulse.dashboards import build, macros
from dvcpulse.settings import Settings
from dvcpulse.sinks.chdb_endpoint import find_running_server
from dvcpulse.sinks.connection import connect
from dvcpulse.sinks.migrate import migrate
from dvcpulse.stack import stop_process
from tests.dashboards import test_dashboards as dash

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".grafana"
PROBE = CACHE / "bin" / "chprobe"
GRAFANA = CACHE / "bin" / "grafana"
GRAFANA_HOME = CACHE / "src" / "grafana"
PLUGINS = CACHE / "plugins"
REQUIRED = os.environ.get("DVCPULSE_GRAFANA_CHECK") == "1"

# The value tests of tests/dashboards that take only the loaded data set.
VALUE_TESTS = (
    "test_national_stat_panels_match_the_loaded_filings",
    "test_online_rate_of_all_34_provinces_with_their_names",
    "test_services_ranked_by_online_rate_with_vietnamese_names",
    "test_per_minute_volume_adds_up_by_channel",
    "test_province_dashboard_figures",
    "test_service_dashboard_with_all_and_with_a_province_subset",
    "test_pipeline_figures",
    "test_online_rate_drop_alert",
    "test_silent_province_alert_follows_office_hours",
    "test_dead_letter_and_freshness_alerts",
    "test_every_query_runs_and_returns_its_columns",
    "test_province_variable_takes_codes_as_values_and_names_as_text",
)


def _need(path: Path, what: str) -> None:
    if path.exists():
        return
    message = f"{what} is not built ({path.relative_to(ROOT)} missing): run `make grafana-build`"
    if REQUIRED:
        pytest.fail(message)
    pytest.skip(message)


# -- the data set, served by the embedded gateway ----------------------------------------------------


@dataclass
class Served:
    settings: Settings
    url: str  # the gateway, http://127.0.0.1:PORT
    loaded: dash.Loaded


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    if not PROBE.exists() and not GRAFANA.exists():
        _need(PROBE, "the driver probe")
    settings = Settings(data_dir=tmp_path_factory.mktemp("grafana-check"))
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    log = (settings.data_dir / "gateway.log").open("wb")
    gateway = subprocess.Popen(
        [sys.executable, "-m", "dvcpulse", "db", "serve", "--data-dir", str(settings.data_dir)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while (url := find_running_server(settings.chdb_path)) is None:
            assert gateway.poll() is None, f"dvcpulse db serve exited; see {log.name}"
            assert time.monotonic() < deadline, "the gateway did not start within 60 s"
            time.sleep(0.2)
        admin = connect(settings, database="")
        migrate(admin, dash.DB)
        admin.close()
        client = connect(settings)
        now = datetime.now(UTC).replace(microsecond=0)
        filings = dash.make_filings(now)
        dash.load(client, now, filings)
        events = sum(len(f.events()) for f in filings) + 1  # + the duplicate dash.load sends
        yield Served(settings, url, dash.Loaded(client, settings, now, filings, events))
        client.close()
    finally:
        stop_process(gateway, timeout=40)
        log.close()


# -- stage 1: the plugin's driver ---------------------------------------------------------------------


@dataclass
class Answer:
    """The part of a clickhouse-connect QueryResult that the dashboard tests read."""

    column_names: tuple[str, ...]
    result_rows: list[tuple[Any, ...]]


def _python_value(value: Any, column_type: str) -> Any:
    if value == "NaN" or value in ("+Inf", "-Inf"):
        return float(value.replace("Inf", "inf"))
    bare = column_type.removeprefix("LowCardinality(").removeprefix("Nullable(")
    if value is not None and bare.startswith("DateTime"):
        moment = datetime.fromtimestamp(value / 1000, UTC)
        return moment if "'" in bare else moment.replace(tzinfo=None)  # clickhouse-connect's convention
    return value


class DriverClient:
    """`client.query(sql)` through .grafana/bin/chprobe (clickhouse-go as the plugin connects)."""

    def __init__(self, url: str, database: str) -> None:
        self.address = url.removeprefix("http://")
        self.database = database

    def run(self, queries: list[str]) -> list[dict[str, Any]]:
        done = subprocess.run(
            [str(PROBE), self.address, self.database],
            input=json.dumps(queries),
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        return [json.loads(line) for line in done.stdout.splitlines()]

    def query(self, sql: str) -> Answer:
        (answer,) = self.run([sql])
        if "error" in answer:
            raise AssertionError(f"the plugin's driver failed: {answer['error']}\nSQL: {sql}")
        types = answer["types"]
        rows = [tuple(_python_value(v, t) for v, t in zip(row, types, strict=True)) for row in answer["rows"]]
        return Answer(tuple(answer["columns"]), rows)


@pytest.fixture(scope="module")
def driver(served: Served) -> DriverClient:
    _need(PROBE, "the driver probe")
    return DriverClient(served.url, dash.DB)


def test_the_plugin_driver_reads_from_the_gateway(driver: DriverClient) -> None:
    answer = driver.query("SELECT displayName() AS name, toNullable(1.5) AS x, now64(3) AS at")
    assert answer.column_names == ("name", "x", "at") and answer.result_rows[0][1] == 1.5


@pytest.mark.parametrize("name", VALUE_TESTS)
def test_dashboard_values_through_the_plugin_driver(name: str, served: Served, driver: DriverClient) -> None:
    loaded = dash.Loaded(driver, served.settings, served.loaded.now, served.loaded.filings, served.loaded.event_count)  # type: ignore[arg-type]
    getattr(dash, name)(loaded)


# -- stage 2: Grafana ---------------------------------------------------------------------------------

ADMIN = ("admin", "grafana-check")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _provisioning(target: Path, gateway: str) -> None:
    """This project's provisioning, with its two deployment values for here: the gateway's port (the
    committed file says 8123, ClickHouse's) and the dashboards folder (the committed file names the path
    docker-compose mounts)."""
    source = ROOT / "dashboards" / "provisioning"
    shutil.copytree(source, target)
    datasources = target / "datasources" / "clickhouse.yaml"
    document = yaml.safe_load(datasources.read_text(encoding="utf-8"))
    document["datasources"][0]["jsonData"]["port"] = int(gateway.rsplit(":", 1)[1])
    datasources.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    providers = target / "dashboards" / "dvcpulse.yaml"
    document = yaml.safe_load(providers.read_text(encoding="utf-8"))
    document["providers"][0]["options"]["path"] = str(ROOT / "dashboards" / build.JSON_DIR)
    providers.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")


class Grafana:
    def __init__(self, url: str) -> None:
        self.url = url
        token = base64.b64encode(":".join(ADMIN).encode()).decode()
        self.headers = {"Authorization": f"Basic {token}", "Content-Type": "application/json"}

    def call(self, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, headers=self.headers)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            raise AssertionError(f"{path}: HTTP {error.code}: {error.read().decode(errors='replace')}") from None

    def wait(self, what: str, probe: Any, timeout: float) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if result := probe():
                    return result
            except (AssertionError, OSError):
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"Grafana: {what} not within {timeout:.0f} s")
            time.sleep(1)


@pytest.fixture(scope="module")
def grafana(served: Served, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Grafana]:
    _need(GRAFANA, "Grafana's server")
    _need(PLUGINS / "grafana-clickhouse-datasource" / "plugin.json", "the ClickHouse plugin")
    work = tmp_path_factory.mktemp("grafana")
    _provisioning(work / "provisioning", served.url)
    port = _free_port()
    env = dict(
        os.environ,
        GF_PATHS_DATA=str(work / "data"),
        GF_PATHS_LOGS=str(work / "logs"),
        GF_PATHS_PLUGINS=str(PLUGINS),
        GF_PATHS_PROVISIONING=str(work / "provisioning"),
        GF_SERVER_HTTP_ADDR="127.0.0.1",
        GF_SERVER_HTTP_PORT=str(port),
        GF_SECURITY_ADMIN_USER=ADMIN[0],
        GF_SECURITY_ADMIN_PASSWORD=ADMIN[1],
        GF_PLUGINS_ALLOW_LOADING_UNSIGNED_PLUGINS="grafana-clickhouse-datasource",
        GF_PLUGINS_PREINSTALL_DISABLED="true",  # no plugin downloads: no network here
        GF_ANALYTICS_REPORTING_ENABLED="false",
        GF_ANALYTICS_CHECK_FOR_UPDATES="false",
        GF_ANALYTICS_CHECK_FOR_PLUGIN_UPDATES="false",
        GF_NEWS_NEWS_FEED_ENABLED="false",
        # what dashboards/provisioning/datasources/clickhouse.yaml expands
        CLICKHOUSE_HOST="127.0.0.1",
        CLICKHOUSE_GRAFANA_PASSWORD="unused-by-the-gateway",
    )
    log = (work / "grafana.out").open("wb")
    process = subprocess.Popen(
        [str(GRAFANA), "server", "--homepath", str(GRAFANA_HOME)], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    api = Grafana(f"http://127.0.0.1:{port}")
    try:
        api.wait("/api/health", lambda: api.call("/api/health").get("database") == "ok", 180)
        yield api
    finally:
        stop_process(process)
        log.close()


def test_grafana_provisions_every_dashboard(grafana: Grafana) -> None:
    for uid, dashboard in build.dashboards().items():
        found = grafana.wait(f"dashboard {uid}", lambda uid=uid: grafana.call(f"/api/dashboards/uid/{uid}"), 60)
        assert found["meta"]["provisioned"] is True and found["meta"]["folderTitle"] == "dvcpulse", uid
        assert [p["id"] for p in found["dashboard"]["panels"]] == [p["id"] for p in dashboard["panels"]], uid


def test_grafana_reaches_the_gateway_through_the_datasource(grafana: Grafana) -> None:
    health = grafana.call(f"/api/datasources/uid/{dash.DATASOURCE_UID}/health")
    assert health["status"] == "OK", health


def _frames_as_rows(frames: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """Field name -> every value, over all frames (a wide time series splits a long table into fields)."""
    columns: dict[str, list[Any]] = {}
    for frame in frames:
        fields = frame["schema"]["fields"]
        for field, values in zip(fields, frame["data"]["values"], strict=True):
            columns.setdefault(field["name"], []).extend(values)
    return columns


def _same(expected: Any, got: Any) -> bool:
    if isinstance(expected, datetime):
        return got == int(expected.replace(tzinfo=expected.tzinfo or UTC).timestamp() * 1000)
    if isinstance(expected, float) and isinstance(got, int | float):
        return math.isclose(expected, got, rel_tol=1e-9, abs_tol=1e-9)
    return expected == got


def test_every_panel_query_answers_through_grafana(grafana: Grafana, served: Served) -> None:
    ctx = dash.context()
    millis = {"from": str(int(ctx.start.timestamp() * 1000)), "to": str(int(ctx.end.timestamp() * 1000))}
    problems = []
    for uid, dashboard in build.dashboards().items():
        variables = dash.SERVICE_VARIABLES if uid == "dvcpulse-service" else dash.VARIABLES
        for panel in dashboard["panels"]:
            for target in panel.get("targets", []):
                # what the frontend sends: dashboard variables interpolated, the plugin's macros left to it
                query = dict(target, rawSql=macros.interpolate(target["rawSql"], variables), intervalMs=60_000)
                answer = grafana.call("/api/ds/query", {**millis, "queries": [query]})["results"][target["refId"]]
                where = f"{uid} panel {panel['id']} ({panel['title']})"
                if answer.get("error") or answer.get("status", 200) != 200:
                    problems.append(f"{where}: {answer.get('error')}")
                    continue
                reference = served.loaded.client.query(macros.render(target["rawSql"], ctx, variables))
                got = _frames_as_rows(answer.get("frames", []))
                if target["format"] == 1:  # table: the same rows
                    for i, name in enumerate(reference.column_names):
                        want = [row[i] for row in reference.result_rows]
                        if len(got.get(name, [])) != len(want) or not all(map(_same, want, got[name])):
                            problems.append(f"{where}: column {name}: {got.get(name)} != {want}")
                else:  # time series: every numeric column adds up to the same
                    for i, name in enumerate(reference.column_names):
                        want = [row[i] for row in reference.result_rows]
                        if want and all(isinstance(v, int | float) for v in want):
                            total = sum(v or 0 for values in (got.get(name, []),) for v in values)
                            if not math.isclose(total, sum(want), rel_tol=1e-6, abs_tol=1e-6):
                                problems.append(f"{where}: {name} adds up to {total}, not {sum(want)}")
    assert problems == []


def test_every_alert_rule_is_loaded_and_evaluates(grafana: Grafana) -> None:
    document = yaml.safe_load((ROOT / "dashboards" / build.RULES_FILE).read_text(encoding="utf-8"))
    titles = {rule["title"] for group in document["groups"] for rule in group["rules"]}

    def evaluated() -> dict[str, dict[str, Any]] | None:
        groups = grafana.call("/api/prometheus/grafana/api/v1/rules")["data"]["groups"]
        rules = {rule["name"]: rule for group in groups for rule in group["rules"]}
        done = titles <= set(rules) and all(rules[t].get("lastEvaluation", "").startswith("2") for t in titles)
        return rules if done else None

    rules = grafana.wait("every rule evaluated once", evaluated, 150)  # rules run every minute
    assert {t: (rules[t]["health"], rules[t].get("lastError", "")) for t in titles} == {t: ("ok", "") for t in titles}
    firing = {"dvcpulse-dead-letters", "dvcpulse-freshness"}  # 2 dead letters in 15 min; newest event minutes old
    by_uid = {rule["uid"]: rule["title"] for group in document["groups"] for rule in group["rules"]}
    states = {uid: rules[by_uid[uid]]["state"].lower() for uid in firing}
    assert all(state in ("pending", "firing", "alerting") for state in states.values()), states


def test_the_check_covers_every_dashboard_and_rule() -> None:
    """Runs everywhere: what the Grafana stage iterates over is what the dashboard tests know."""
    assert set(VALUE_TESTS) <= {name for name in dir(dash) if name.startswith("test_")}
    targets = [t for d in build.dashboards().values() for p in d["panels"] for t in p.get("targets", [])]
    assert targets and all(t["format"] in (0, 1) for t in targets)
    assert dash.DATASOURCE_UID == "dvcpulse-clickhouse"
