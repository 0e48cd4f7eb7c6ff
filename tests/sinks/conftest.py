"""A migrated database on the real ClickHouse engine in-process (chdb), one per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import clickhouse_connect
import pytest
from clickhouse_connect.driver.client import Client

from dvcpulse.sinks.migrate import migrate

DB = "sinktest"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[Client]:
    """A chdb client whose database DB holds every migration."""
    engine = clickhouse_connect.get_client(dsn=f"chdb://{tmp_path / 'chdb'}")
    migrate(engine, DB)
    try:
        yield engine
    finally:
        engine.close()
