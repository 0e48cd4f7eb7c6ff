"""deploy/scripts/verify_grafana.py, the `verify` service: picks a runnable panel and waits until Grafana
answers its query with data (against a small fake Grafana)."""

from __future__ import annotations

import http.server
import json
import threading
import typing
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.deploy.compose_helpers import DEPLOY, ROOT, environment, load_module


@pytest.fixture(scope="module")
def verify() -> ModuleType:
    return load_module(DEPLOY / "scripts" / "verify_grafana.py")


def _target(sql: str, uid: str = "dvcpulse-clickhouse", **extra: Any) -> dict[str, Any]:
    return {"refId": "A", "datasource": {"type": "grafana-clickhouse-datasource", "uid": uid}, "rawSql": sql, **extra}


def test_verify_picks_a_runnable_panel(verify: ModuleType, tmp_path: Path) -> None:
    dashboard = {
        "title": "D",
        "templating": {"list": [
            {"name": "province", "current": {"value": "01"}},
            {"name": "service", "current": {"value": "$__all"}},
        ]},
        "panels": [
            {"title": "other source", "targets": [_target("SELECT 1", uid="prometheus")]},
            {"title": "hidden", "targets": [_target("SELECT 2", hide=True)]},
            {"title": "all services", "targets": [_target("SELECT 3 WHERE s IN ($service)")]},
            {"type": "row", "title": "row", "panels": [
                {"title": "one province",
                 "targets": [_target("SELECT 4 WHERE p = '${province}' AND $__timeFilter(t)")]},
                {"title": "plain", "datasource": {"uid": "dvcpulse-clickhouse"},
                 "targets": [{"refId": "B", "rawSql": "SELECT 5"}]},
            ]},
        ],
    }  # fmt: skip
    (tmp_path / "d.json").write_text(json.dumps(dashboard))
    found = verify.candidates(tmp_path)
    assert [(c.panel, c.sql) for c in found] == [
        ("plain", "SELECT 5"),
        ("one province", "SELECT 4 WHERE p = '01' AND $__timeFilter(t)"),
    ]
    assert found[0].query["datasource"] == {"type": "grafana-clickhouse-datasource", "uid": "dvcpulse-clickhouse"}


def test_verify_counts_only_rows_with_data(verify: ModuleType) -> None:
    def answer(*columns: list[Any]) -> dict[str, Any]:
        return {"results": {"A": {"status": 200, "frames": [{"data": {"values": list(columns)}}]}}}

    assert verify.data_rows(answer([0], [None]), "A") == 0  # a count over nothing is not data
    assert verify.data_rows(answer([], []), "A") == 0
    assert verify.data_rows(answer([1700000000000, 1700000060000], [0, 12]), "A") == 2
    with pytest.raises(verify.VerifyError, match="boom"):
        verify.data_rows({"results": {"A": {"error": "boom", "status": 400}}}, "A")


class FakeGrafana(http.server.BaseHTTPRequestHandler):
    answers: typing.ClassVar[list[tuple[int, dict[str, Any]]]] = []
    requests: typing.ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
        status, answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def fake_grafana() -> Iterator[tuple[str, type[FakeGrafana]]]:
    handler = type("Handler", (FakeGrafana,), {"answers": [], "requests": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()


def test_verify_waits_for_data_then_passes(
    verify: ModuleType, fake_grafana: tuple[str, type[FakeGrafana]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, handler = fake_grafana
    empty = {"results": {"A": {"status": 200, "frames": [{"data": {"values": [[0]]}}]}}}
    full = {"results": {"A": {"status": 200, "frames": [{"data": {"values": [[42]]}}]}}}
    handler.answers.extend([(200, empty), (500, {"message": "plugin starting"}), (200, full)])
    (tmp_path / "d.json").write_text(
        json.dumps({"title": "D", "panels": [{"title": "P", "targets": [_target("SELECT 42")]}]})
    )
    for key, value in {
        "GRAFANA_URL": url, "GRAFANA_USER": "admin", "GRAFANA_PASSWORD": "pw", "VERIFY_DASHBOARDS": str(tmp_path),
        "VERIFY_TIMEOUT_SECONDS": "20", "VERIFY_INTERVAL_SECONDS": "0.05",
    }.items():  # fmt: skip
        monkeypatch.setenv(key, value)
    assert verify.main() == 0
    assert len(handler.requests) == 3
    request = handler.requests[-1]
    assert request["path"] == "/api/ds/query" and request["auth"] == "Basic YWRtaW46cHc="
    assert request["body"]["queries"][0]["rawSql"] == "SELECT 42"
    assert request["body"]["queries"][0]["datasource"]["uid"] == "dvcpulse-clickhouse"


def test_verify_fails_when_the_query_keeps_failing(
    verify: ModuleType, fake_grafana: tuple[str, type[FakeGrafana]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, handler = fake_grafana
    handler.answers.append((400, {"results": {"A": {"error": "Unknown table dvcpulse.v_totals", "status": 400}}}))
    (tmp_path / "d.json").write_text(json.dumps({"panels": [{"title": "P", "targets": [_target("SELECT 1")]}]}))
    for key, value in {"GRAFANA_URL": url, "VERIFY_DASHBOARDS": str(tmp_path), "VERIFY_TIMEOUT_SECONDS": "0.3",
                       "VERIFY_INTERVAL_SECONDS": "0.05", "GRAFANA_USER": ""}.items():  # fmt: skip
        monkeypatch.setenv(key, value)
    assert verify.main() == 1
    assert handler.requests and handler.requests[0]["auth"] is None


def test_the_provisioned_dashboards_give_verify_a_panel_to_run(verify: ModuleType, services: dict[str, Any]) -> None:
    found = verify.candidates(ROOT / "dashboards" / "json")
    assert found, "no panel with a runnable SQL query on dvcpulse-clickhouse in dashboards/json"
    assert environment(services["verify"])["VERIFY_DASHBOARDS"] == "/dashboards"
