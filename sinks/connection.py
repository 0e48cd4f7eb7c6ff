"""One way to get a ClickHouse client, for the embedded engine (chdb) and for a server alike.

With no CLICKHOUSE_DSN the embedded engine under the data dir is used. chdb locks its data dir to one
process, so when `dvcpulse db serve` (sinks.chdb_server) already owns it we talk to that server over
ClickHouse's HTTP interface instead; the SQL is the same either way.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Protocol

import clickhouse_connect
from clickhouse_connect.driver import options as _client_options
from clickhouse_connect.driver.client import Client

from dvcpulse.sinks.chdb_endpoint import find_running_server

log = logging.getLogger(__name__)

# clickhouse-connect imports pandas (about 80 MB resident) on the first insert, only to ask whether the data
# is a DataFrame. dvcpulse never passes DataFrames (nor asks for them), so it is told pandas is absent.
# A private module attribute (clickhouse-connect pinned below 2): tests/sinks/test_connection.py fails if
# pandas is imported anyway.
_client_options.pd = None


class ClickHouseSettings(Protocol):
    """What a connection needs from the caller's settings (dvcpulse.settings.Settings has it)."""

    clickhouse_dsn: str | None
    clickhouse_database: str

    @property
    def chdb_path(self) -> Path: ...


def resolve_dsn(settings: ClickHouseSettings) -> str:
    """The DSN this process should use: the configured one, a running gateway, or chdb in-process."""
    if settings.clickhouse_dsn:
        return settings.clickhouse_dsn
    url = find_running_server(settings.chdb_path)
    if url:
        return url
    settings.chdb_path.mkdir(parents=True, exist_ok=True)
    return f"chdb://{settings.chdb_path}"


def connect(settings: ClickHouseSettings, *, database: str | None = None, dsn: str | None = None) -> Client:
    """A clickhouse-connect client. `database=""` connects without selecting one (for migrations)."""
    target = dsn or resolve_dsn(settings)
    db = settings.clickhouse_database if database is None else database
    if target.startswith("chdb:"):
        return clickhouse_connect.get_client(dsn=target, database=db or None)
    return clickhouse_connect.get_client(dsn=target, database=db or None, compress=False, autogenerate_session_id=False)


def describe(dsn: str) -> str:
    """A DSN without its password, for messages."""
    if "@" in dsn and "://" in dsn:
        scheme, rest = dsn.split("://", 1)
        credentials, host = rest.rsplit("@", 1)
        user = credentials.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}"
    return dsn
