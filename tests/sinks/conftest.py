"""A migrated database on the real ClickHouse engine in-process (chdb), and a stand-in gateway that answers
/ping, one per test."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
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


class _Pong(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"Ok.\n" if self.path == "/ping" else b""
        self.send_response(200 if body else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture()
def ping_url() -> Iterator[str]:
    """The URL of a server that answers /ping as the chdb gateway does (and nothing else)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Pong)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
