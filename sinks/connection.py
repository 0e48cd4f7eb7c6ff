"""One way to get a ClickHouse client, for the embedded engine (chdb) and for a server alike.

Which ClickHouse a process uses (`resolve_dsn`, `connect`):

- `CLICKHOUSE_DSN` set: exactly that, `http(s)://…` (a server) or `chdb:///path` (an explicit single-process
  use: this process opens that data dir in-process and owns it while it runs). Nothing is guessed.
- `CLICKHOUSE_DSN` unset (embedded mode): the data dir `DVCPULSE_DATA_DIR/chdb` belongs to the gateway,
  `dvcpulse db serve` (sinks.chdb_server), and other processes reach it over ClickHouse's HTTP interface at
  the URL the gateway publishes (sinks.chdb_endpoint). chdb locks a data dir to one process ("Cannot lock
  file …/chdb/status"), so a process that opened it would keep the gateway from (re)starting; hence:

  * a long-running process (the worker: it calls `require_gateway()` at start) never opens the data dir:
    with no gateway it waits for one, with one log line saying so and one when it is found, for as long
    as it takes. Its client (`GatewayClient`) follows the gateway across restarts (a restarted gateway may
    listen on another port): after a failed call it looks the endpoint up again, and while there is none it
    fails fast with `GatewayUnavailable` (an `OperationalError`) so the caller's retry decides what next.
  * a short command (`dvcpulse sql`, `db migrate`, `dashboards preview`, the default) uses the gateway when
    one runs, and otherwise may open the data dir in-process, e.g. to query a stopped run's data. It does so
    only after checking that no gateway runs; opening the engine then takes the data dir's lock (chdb's own,
    on `…/chdb/status`), which fails if a gateway took it meanwhile: the command then waits briefly for that
    gateway's endpoint and uses it instead. While such a command runs, a gateway cannot start (it says so).
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from contextlib import suppress
from pathlib import Path
from typing import Any, Protocol, cast

import clickhouse_connect
from clickhouse_connect.driver import options as _client_options
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import OperationalError, ProgrammingError

from dvcpulse.sinks.chdb_endpoint import find_running_server

log = logging.getLogger(__name__)

# clickhouse-connect imports pandas (about 80 MB resident) on the first insert, only to ask whether the data
# is a DataFrame. dvcpulse never passes DataFrames (nor asks for them), so it is told pandas is absent.
# A private module attribute (clickhouse-connect pinned below 2): tests/sinks/test_connection.py fails if
# pandas is imported anyway.
_client_options.pd = None

GATEWAY_WAIT_MAX_DELAY = 5.0  # seconds between looks for the gateway's endpoint while waiting for it
LOCAL_OPEN_GATEWAY_WAIT = 30.0  # a short command that lost the data dir's lock to a gateway waits this long
_gateway_required = threading.Event()


class _QuietDriverFailures(logging.Filter):
    """clickhouse-connect logs a bare "Unexpected Http Driver Exception" warning on every failed request,
    then raises an OperationalError saying what failed; while ClickHouse is down that is a line per attempt.
    The exception is reported by whoever handles it (see streams.io_thread), so the bare line is dropped."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != "Unexpected Http Driver Exception"


logging.getLogger("clickhouse_connect.driver._backend.http_sync").addFilter(_QuietDriverFailures())


class GatewayUnavailable(OperationalError):
    """No gateway serves the embedded data dir (it is stopped or restarting)."""


class ClickHouseSettings(Protocol):
    """What a connection needs from the caller's settings (dvcpulse.settings.Settings has it)."""

    clickhouse_dsn: str | None
    clickhouse_database: str

    @property
    def chdb_path(self) -> Path: ...


def require_gateway() -> None:
    """Declare this process long-running: in embedded mode it never opens the data dir, it waits for the gateway."""
    _gateway_required.set()


def gateway_required() -> bool:
    return _gateway_required.is_set()


def embedded(settings: ClickHouseSettings) -> bool:
    """Embedded mode: no CLICKHOUSE_DSN, the data dir under DVCPULSE_DATA_DIR served by the gateway."""
    return not settings.clickhouse_dsn


def target_description(settings: ClickHouseSettings) -> str:
    """Which ClickHouse this process uses, for logs (no password)."""
    if settings.clickhouse_dsn:
        return describe(settings.clickhouse_dsn)
    return f"the chdb gateway of {settings.chdb_path} (dvcpulse db serve)"


def _no_gateway_message(settings: ClickHouseSettings) -> str:
    path = settings.chdb_path
    return (
        f"no chdb gateway serves {path}: start it with `dvcpulse db serve --data-dir {path.parent}` "
        f"(`dvcpulse up` runs one), or set CLICKHOUSE_DSN=chdb://{path} for a single-process run that owns "
        "the data dir"
    )


def wait_for_gateway(settings: ClickHouseSettings, timeout: float | None = None) -> str:
    """The gateway's URL once its endpoint answers; waits (forever without a timeout), logging once."""
    path = settings.chdb_path
    url = find_running_server(path)
    if url:
        return url
    started = time.monotonic()
    log.warning("%s; waiting for it (this process never opens the data dir itself)", _no_gateway_message(settings))
    delay = 0.2
    while (url := find_running_server(path)) is None:
        if timeout is not None and time.monotonic() - started >= timeout:
            raise GatewayUnavailable(f"{_no_gateway_message(settings)} (waited {timeout:.0f}s)")
        time.sleep(delay)
        delay = min(delay * 2, GATEWAY_WAIT_MAX_DELAY)
    log.warning("chdb gateway of %s found at %s after %.0fs", path, url, time.monotonic() - started)
    return url


def resolve_dsn(settings: ClickHouseSettings) -> str:
    """The DSN this process should use: the configured one, the gateway, or (short commands with no gateway
    running) chdb in-process. A process that `require_gateway()`d waits for the gateway instead."""
    if settings.clickhouse_dsn:
        return settings.clickhouse_dsn
    url = find_running_server(settings.chdb_path)
    if url:
        return url
    if gateway_required():
        return wait_for_gateway(settings)
    settings.chdb_path.mkdir(parents=True, exist_ok=True)
    return f"chdb://{settings.chdb_path}"


def _http_client(url: str, database: str) -> Client:
    return clickhouse_connect.get_client(
        dsn=url, database=database or None, compress=False, autogenerate_session_id=False
    )


def connect(settings: ClickHouseSettings, *, database: str | None = None, dsn: str | None = None) -> Client:
    """A clickhouse-connect client. `database=""` connects without selecting one (for migrations)."""
    db = settings.clickhouse_database if database is None else database
    if dsn is None and embedded(settings) and (gateway_required() or find_running_server(settings.chdb_path)):
        return cast(Client, GatewayClient(settings, db))
    target = dsn or resolve_dsn(settings)
    if not target.startswith("chdb:"):
        return _http_client(target, db)
    try:
        return clickhouse_connect.get_client(dsn=target, database=db or None)
    except ProgrammingError as error:
        own = embedded(settings) and target == f"chdb://{settings.chdb_path}"
        if not own or "Unable to open the chdb engine" not in str(error):
            raise
    # A gateway took the data dir's lock between our look and our open: use it.
    log.warning("%s is locked by another process; using its gateway", settings.chdb_path)
    return _http_client(wait_for_gateway(settings, timeout=LOCAL_OPEN_GATEWAY_WAIT), db)


class GatewayClient:
    """A client of the embedded data dir's gateway that follows it across restarts.

    Calls are those of a clickhouse-connect client. After a call fails for want of a connection, the next one
    looks the gateway's endpoint up again (a restarted gateway may listen elsewhere); with no gateway, calls
    fail at once with `GatewayUnavailable`. Only the first connection waits for the gateway (when the
    process `require_gateway()`d), so retries stay with the caller, who knows what is at stake.
    """

    def __init__(self, settings: ClickHouseSettings, database: str) -> None:
        self._settings = settings
        self._database = database
        self._client: Client | None = None
        self.url = ""
        delay = 0.2
        while True:
            url = resolve_dsn(settings) if gateway_required() else find_running_server(settings.chdb_path)
            if url is None:
                raise GatewayUnavailable(_no_gateway_message(settings))
            try:
                self._open(url)
                return
            except OperationalError:  # it went away between the look and the connection
                if not gateway_required():
                    raise
                time.sleep(delay)
                delay = min(delay * 2, GATEWAY_WAIT_MAX_DELAY)

    def _open(self, url: str) -> Client:
        client = _http_client(url, self._database)
        if self.url and url != self.url:
            log.warning("chdb gateway of %s is now at %s (was %s)", self._settings.chdb_path, url, self.url)
        self._client, self.url = client, url
        return client

    def _current(self) -> Client:
        if self._client is not None:
            return self._client
        url = find_running_server(self._settings.chdb_path)
        if url is None:
            raise GatewayUnavailable(_no_gateway_message(self._settings))
        return self._open(url)

    def _forget(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with suppress(Exception):
                client.close()

    def close(self) -> None:
        self._forget()

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._current(), name)
        if not callable(value):
            return value

        @functools.wraps(value)
        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return value(*args, **kwargs)
            except OperationalError:
                self._forget()  # look the gateway up again before the next call
                raise

        return call


def describe(dsn: str) -> str:
    """A DSN without its password, for messages."""
    if "@" in dsn and "://" in dsn:
        scheme, rest = dsn.split("://", 1)
        credentials, host = rest.rsplit("@", 1)
        user = credentials.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}"
    return dsn
