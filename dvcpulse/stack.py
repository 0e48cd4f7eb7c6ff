"""A whole local stack as processes: Kafka broker, chdb gateway, workers. Used by `dvcpulse up` and tests.

Every part runs as it would for a user (the `dvcpulse` console command in child processes), so the tests
exercise the product's own start-up, configuration and shutdown paths.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

from clickhouse_connect.driver.client import Client

from dvcpulse.embedded_broker import EmbeddedBroker
from dvcpulse.settings import Settings
from dvcpulse.sinks.chdb_endpoint import find_running_server
from dvcpulse.sinks.connection import connect
from dvcpulse.sinks.migrate import migrate
from dvcpulse.topics import ensure_topics

log = logging.getLogger(__name__)


def stop_process(process: subprocess.Popen, *, kill: bool = False, timeout: float = 30.0) -> None:
    """SIGTERM (or SIGKILL), then SIGKILL if it has not exited within `timeout`; waits for the exit."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@dataclass
class LocalStack:
    """Broker + ClickHouse gateway + workers under one data dir. Settings name topics, app id, etc."""

    settings: Settings
    broker_port: int | None = None
    broker: EmbeddedBroker | None = None
    gateway: subprocess.Popen | None = None
    clickhouse_url: str = ""
    workers: dict[str, subprocess.Popen] = field(default_factory=dict)
    log_dir: Path | None = None

    @property
    def bootstrap(self) -> str:
        if self.settings.kafka_bootstrap:
            return self.settings.kafka_bootstrap
        assert self.broker is not None, "stack not started"
        return self.broker.bootstrap

    def child_env(self, **extra: str) -> dict[str, str]:
        """Environment for dvcpulse child processes: this stack's Kafka and ClickHouse, and its settings."""
        env = {
            **os.environ,
            **self.settings.as_environment(),
            "KAFKA_BOOTSTRAP": self.bootstrap,
            "CLICKHOUSE_DSN": self.clickhouse_url,
            "DVCPULSE_WEB_PORT": "0",
        }
        env.update(extra)
        return env

    def _command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "dvcpulse", *args]

    def _log(self, name: str):
        directory = self.log_dir or self.settings.data_dir / "logs"
        directory.mkdir(parents=True, exist_ok=True)
        return open(directory / f"{name}.log", "ab")

    def start(self, *, migrate_schema: bool = True) -> Self:
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        if not self.settings.kafka_bootstrap:
            self.broker = EmbeddedBroker(self.settings.broker_dir, self.broker_port).start()
        asyncio.run(ensure_topics(self.settings, self.bootstrap))
        if self.settings.clickhouse_dsn:
            self.clickhouse_url = self.settings.clickhouse_dsn
        else:
            self.clickhouse_url = self._start_gateway()
        if migrate_schema:
            client = connect(self.settings, database="", dsn=self.clickhouse_url)
            migrate(client, self.settings.clickhouse_database)
            client.close()
        return self

    def _start_gateway(self, timeout: float = 60.0) -> str:
        path = self.settings.chdb_path
        running = find_running_server(path)
        if running:
            return running
        path.mkdir(parents=True, exist_ok=True)
        self.gateway = subprocess.Popen(
            self._command("db", "serve", "--data-dir", str(self.settings.data_dir)),
            env=self.child_env(CLICKHOUSE_DSN=""),
            stdout=self._log("clickhouse"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while (url := find_running_server(path)) is None:
            if self.gateway.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"chdb gateway did not start (see {self.settings.data_dir}/logs/clickhouse.log)")
            time.sleep(0.1)
        return url

    def client(self) -> Client:
        return connect(self.settings, dsn=self.clickhouse_url)

    def start_worker(self, worker_id: str = "w1", *extra_args: str) -> subprocess.Popen:
        process = subprocess.Popen(
            self._command("worker", "--no-migrate", *extra_args),
            env=self.child_env(DVCPULSE_WORKER_ID=worker_id),
            stdout=self._log(f"worker-{worker_id}"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.workers[worker_id] = process
        return process

    def stop_worker(self, worker_id: str, *, kill: bool = False) -> None:
        process = self.workers.pop(worker_id, None)
        if process is not None:
            stop_process(process, kill=kill)

    def stop(self) -> None:
        for worker_id in list(self.workers):
            self.stop_worker(worker_id)
        if self.gateway is not None:
            stop_process(self.gateway)
            self.gateway = None
        if self.broker is not None:
            self.broker.stop()
            self.broker = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def processed_events(client: Client, database: str) -> int:
    """Events the `ingest` agent has applied (duplicates included), from the partition checkpoints."""
    return int(client.command(f"SELECT sum(processed) FROM {database}.v_pipeline") or 0)


def wait_until_processed(client: Client, database: str, expected: int, timeout: float, poll: float = 0.5) -> int:
    deadline = time.monotonic() + timeout
    seen = processed_events(client, database)
    while seen < expected and time.monotonic() < deadline:
        time.sleep(poll)
        seen = processed_events(client, database)
    return seen
