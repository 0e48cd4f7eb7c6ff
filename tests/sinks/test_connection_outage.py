"""The connection rule for the embedded data dir, and the worker's retry while ClickHouse is unreachable.

A real HTTP server answering `/ping` stands in for the gateway where only its endpoint matters; opening chdb
in-process is tried in child processes only (chdb holds one data dir per process).
"""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError

from dvcpulse.settings import Settings
from dvcpulse.sinks import connection
from dvcpulse.sinks.chdb_endpoint import write_endpoint
from dvcpulse.sinks.connection import GatewayUnavailable, resolve_dsn, target_description, wait_for_gateway
from dvcpulse.streams import io_thread


@pytest.fixture()
def required(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This process as a worker: it `require_gateway()`d."""
    event = threading.Event()
    monkeypatch.setattr(connection, "_gateway_required", event)
    connection.require_gateway()
    yield


def _settings(tmp_path: Path, dsn: str | None = None) -> Settings:
    (tmp_path / "data").mkdir(exist_ok=True)
    return Settings(data_dir=tmp_path / "data", clickhouse_dsn=dsn)


def test_an_explicit_dsn_is_used_as_is(tmp_path: Path, required: None) -> None:
    assert resolve_dsn(_settings(tmp_path, "http://u:secret@ch:8123/db")) == "http://u:secret@ch:8123/db"
    assert target_description(_settings(tmp_path, "http://u:secret@ch:8123/db")) == "http://u:***@ch:8123/db"
    assert resolve_dsn(_settings(tmp_path, "chdb:///srv/chdb")) == "chdb:///srv/chdb"  # single-process use


def test_a_running_gateway_is_used(tmp_path: Path, ping_url: str) -> None:
    settings = _settings(tmp_path)
    write_endpoint(settings.chdb_path, ping_url)
    assert resolve_dsn(settings) == ping_url


def test_a_short_command_may_open_a_stopped_data_dir(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    assert not connection.gateway_required()
    assert resolve_dsn(settings) == f"chdb://{settings.chdb_path}"


def test_a_worker_waits_for_the_gateway_and_says_so_once(
    tmp_path: Path, ping_url: str, required: None, caplog: pytest.LogCaptureFixture
) -> None:
    settings = _settings(tmp_path)
    publisher = threading.Timer(1.5, write_endpoint, (settings.chdb_path, ping_url))
    publisher.start()
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger=connection.__name__):
        assert resolve_dsn(settings) == ping_url
    assert time.monotonic() - started >= 1.4
    messages = [r.getMessage() for r in caplog.records]
    assert sum("no chdb gateway serves" in m for m in messages) == 1
    assert sum("found at" in m for m in messages) == 1
    assert not settings.chdb_path.exists(), "the data dir is never created, let alone opened, by a worker"


def test_waiting_can_be_bounded(tmp_path: Path) -> None:
    with pytest.raises(GatewayUnavailable, match="dvcpulse db serve"):
        wait_for_gateway(_settings(tmp_path), timeout=0.5)


def test_a_worker_client_fails_fast_while_the_gateway_is_away(tmp_path: Path, required: None) -> None:
    """A gateway-following client with no gateway raises at once; the caller's retry decides what next."""
    client = connection.GatewayClient.__new__(connection.GatewayClient)
    client._settings, client._database, client._client, client.url = _settings(tmp_path), "dvcpulse", None, ""
    with pytest.raises(GatewayUnavailable):
        client.command("SELECT 1")
    assert io_thread.unreachable(GatewayUnavailable("x"))


def test_a_short_command_uses_the_gateway_that_holds_the_lock(tmp_path: Path) -> None:
    """The race of `db migrate` (resolve, then connect): the gateway took the data dir in between."""
    data = tmp_path / "data"
    (data / "chdb").mkdir(parents=True)
    gateway = subprocess.Popen(
        [sys.executable, "-m", "dvcpulse", "db", "serve", "--data-dir", str(data)],
        env={**_clean_env(), "CLICKHOUSE_DSN": ""},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not (data / "chdb.endpoint.json").exists():
            assert gateway.poll() is None and time.monotonic() < deadline, "the gateway did not start"
            time.sleep(0.1)
        code = (
            "from pathlib import Path\n"
            "from dvcpulse.settings import Settings\n"
            "from dvcpulse.sinks.connection import connect\n"
            f"s = Settings(data_dir=Path({str(data)!r}))\n"
            "c = connect(s, database='', dsn=f'chdb://{s.chdb_path}')\n"
            "print(c.command('SELECT 41 + 1'), type(c).__module__)\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", code], env=_clean_env(), capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.split() == ["42", "clickhouse_connect.driver.httpclient"]
        assert "using its gateway" in done.stderr
        assert gateway.poll() is None
    finally:
        gateway.terminate()
        gateway.wait(timeout=60)


def _clean_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith(("CLICKHOUSE_", "DVCPULSE_"))}


@pytest.fixture()
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    monkeypatch.setattr(io_thread, "FIRST_DELAY", 0.001)
    monkeypatch.setattr(io_thread, "MAX_DELAY", 0.002)
    exits: list[int] = []

    def fake_exit(code: int) -> None:
        exits.append(code)
        raise SystemExit(code)

    monkeypatch.setattr(io_thread.os, "_exit", fake_exit)
    monkeypatch.setattr(io_thread.logging, "shutdown", lambda: None)
    return exits


def test_an_outage_is_waited_out_with_one_line_each_way(
    fast_retries: list[int], caplog: pytest.LogCaptureFixture
) -> None:
    calls = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) <= 50:  # far beyond WRITE_ATTEMPTS
            raise OperationalError("Error HTTPConnectionPool(...): Connection refused")
        return "written"

    with caplog.at_level(logging.WARNING, logger=io_thread.__name__):
        assert io_thread.with_retries("flush", flaky) == "written"
    assert fast_retries == []
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2, messages
    assert "unreachable" in messages[0] and "nothing is acknowledged" in messages[0]
    assert "answers again" in messages[1] and "51 attempts" in messages[1]


def test_errors_clickhouse_answers_exit_after_a_bound_without_ack(fast_retries: list[int]) -> None:
    def refused() -> None:
        raise DatabaseError("Code: 60. Unknown table")

    with pytest.raises(SystemExit):
        io_thread.with_retries("flush", refused)
    assert fast_retries == [io_thread.EXIT_UNWRITABLE]


def test_a_stop_during_an_outage_exits_without_ack(
    fast_retries: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    stopping = threading.Event()
    stopping.set()
    monkeypatch.setattr(io_thread, "_stopping", stopping)

    def down() -> None:
        raise OperationalError("Connection refused")

    with pytest.raises(SystemExit):
        io_thread.with_retries("flush", down)
    assert fast_retries == [io_thread.EXIT_UNWRITABLE]
