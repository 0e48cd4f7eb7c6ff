"""ClickHouse's HTTP interface over an `Engine`: the subset clickhouse-connect uses, plus plain curl.

* `GET /ping` (and `GET /` without a query) -> `Ok.`;
* `GET /?query=...` (implicitly `readonly=2`, as in ClickHouse) and `POST /` with the query in the body,
  in the `query` parameter, or both (ClickHouse concatenates `query + "\\n" + body`), or multipart form
  fields;
* `INSERT ... FORMAT <fmt>` followed by data of any size: the data is decompressed while it is read
  (Content-Encoding lz4, zstd, gzip, deflate; chunked or sized bodies), spooled to a temp file and
  loaded with `INSERT ... FROM INFILE`, like clickhouse-connect's own chdb backend does;
* `database`, `default_format`, `param_*` (server-side bound parameters) and any other parameter as a
  ClickHouse setting for that request only; HTTP transport parameters (`session_id`, `query_id`,
  `wait_end_of_query`, `compress`, ...) are accepted and ignored;
* `client_protocol_version`: a `Native` result is written in the layout of that client revision
  (sinks.native_revision: BlockInfo before each block, the custom-serialization byte after each column's
  type), as a ClickHouse server does; chdb itself only writes revision 0. clickhouse-go (Grafana's plugin)
  cannot read anything else, and clickhouse-connect switches to revision 54405 once its probe sees it;
* response headers X-ClickHouse-Query-Id, -Timezone, -Summary, -Format (only for statements that
  produce a result, which clickhouse-connect's `command` relies on), -Server-Display-Name;
* errors as HTTP 500 (4xx for a malformed request) with X-ClickHouse-Exception-Code and a
  `Code: N. DB::Exception: ...` body, which clickhouse-connect turns into `DatabaseError`.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
import re
import socket
import tempfile
import threading
import uuid
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, BinaryIO
from urllib.parse import parse_qsl, urlsplit

from dvcpulse.sinks.chdb_body import chunked_body, decoded, form_fields, sized_body
from dvcpulse.sinks.chdb_engine import (
    NOT_IMPLEMENTED,
    SYNTAX_ERROR,
    UNKNOWN_SETTING,
    Engine,
    Outcome,
    ServerError,
)
from dvcpulse.sinks.chdb_sql import InsertPlan, plan_insert, result_format
from dvcpulse.sinks.native_revision import Piece, body_size, check_revision, client_revision, is_native, reencode

log = logging.getLogger(__name__)

# The head of a request is scanned for an `INSERT ... FORMAT x` statement within this many bytes; the data
# after it is streamed to disk, anything else is treated as (small) SQL and read whole.
_HEAD_LIMIT = 64 * 1024
# Idle keep-alive connections are dropped after this long; announced in a Keep-Alive header.
_KEEP_ALIVE_S = 300
# A response body made of pieces goes out in writes of about this size (small pieces are gathered).
_WRITE_SIZE = 256 * 1024

# HTTP-level parameters of ClickHouse / clickhouse-connect that are not engine settings (or are settings
# about the HTTP transport, which has no meaning here). They are accepted and ignored.
_TRANSPORT_PARAMS = frozenset(
    {
        "query",
        "database",
        "default_format",
        "user",
        "password",
        "quota_key",
        "query_id",
        "session_id",
        "session_timeout",
        "session_check",
        "compress",
        "decompress",
        "buffer_size",
        "wait_end_of_query",
        "client_protocol_version",
        "role",
        "send_progress_in_http_headers",
        "http_headers_progress_interval_ms",
        "enable_http_compression",
        "http_zlib_compression_level",
        "cancel_http_readonly_queries_on_client_close",
    }
)
_IDENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class HttpServer(ThreadingHTTPServer):
    """Serves `engine` on `address`, one thread per connection, and can drain before it stops."""

    daemon_threads = True
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], engine: Engine) -> None:
        super().__init__(address, _Handler)
        self.engine = engine
        self.stopping = False
        self._state = threading.Condition()
        self._active = 0
        self._connections: set[socket.socket] = set()

    def track(self, sock: socket.socket, add: bool) -> None:
        with self._state:
            if add:
                self._connections.add(sock)
            else:
                self._connections.discard(sock)

    @contextlib.contextmanager
    def request_scope(self) -> Iterator[None]:
        with self._state:
            self._active += 1
        try:
            yield
        finally:
            with self._state:
                self._active -= 1
                self._state.notify_all()

    def drain(self, timeout: float) -> None:
        """Let in-flight requests finish, then hang up idle keep-alive connections."""
        self.stopping = True
        with self._state:
            if not self._state.wait_for(lambda: self._active == 0, timeout):
                log.warning("chdb server stopping with %d request(s) still running", self._active)
            connections = list(self._connections)
        for sock in connections:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "chdb-server"
    disable_nagle_algorithm = True  # header and body are separate writes; avoid the delayed-ACK stall
    timeout = _KEEP_ALIVE_S
    server: HttpServer

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, True)

    def finish(self) -> None:
        self.server.track(self.connection, False)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s - " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    # -- request handling -------------------------------------------------------------------------------

    def _serve(self, method: str) -> None:
        with self.server.request_scope():
            url = urlsplit(self.path)
            params = dict(parse_qsl(url.query, keep_blank_values=True))
            query_id = params.get("query_id") or str(uuid.uuid4())
            try:
                body = self._body_chunks()
                if url.path in ("/ping", "/replicas_status") or (
                    url.path in ("/", "") and method == "GET" and not params.get("query")
                ):
                    _drain(body)
                    self._reply(200, b"Ok.\n", {"Content-Type": "text/plain; charset=UTF-8"})
                elif url.path not in ("/", ""):
                    _drain(body)
                    raise ServerError.make(NOT_IMPLEMENTED, "UNKNOWN_HANDLER", f"There is no handle {url.path}", 404)
                else:
                    self._run(method, params, body, query_id)
            except ServerError as ex:
                self._fail(ex, query_id)
            except (BrokenPipeError, ConnectionResetError, TimeoutError):
                self.close_connection = True  # the client went away; nobody to answer
            except Exception as ex:  # a bug here must not kill the connection thread silently
                log.exception("chdb server request failed")
                self._fail(ServerError.from_engine(ex), query_id)

    def _body_chunks(self) -> Iterator[bytes]:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return chunked_body(self.rfile)
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            raise ServerError.make(SYNTAX_ERROR, "BAD_REQUEST_PARAMETER", "Bad Content-Length", 400)
        return sized_body(self.rfile, length)

    def _run(self, method: str, params: dict[str, str], raw_body: Iterator[bytes], query_id: str) -> None:
        content_type = self.headers.get("Content-Type", "")
        if content_type.lower().startswith("multipart/form-data"):
            params.update(form_fields(content_type, b"".join(raw_body)))
            raw_body = iter(())
        body = decoded(raw_body, self.headers.get("Content-Encoding", ""))

        database = params.get("database") or self.headers.get("X-ClickHouse-Database") or None
        default_format = params.get("default_format") or self.headers.get("X-ClickHouse-Format") or "TabSeparated"
        bound = {name[6:]: value for name, value in params.items() if name.startswith("param_")}
        settings = {
            name: value
            for name, value in params.items()
            if name not in _TRANSPORT_PARAMS and not name.startswith("param_")
        }
        for name in settings:
            if not _IDENT_RE.match(name):
                raise ServerError.make(UNKNOWN_SETTING, "UNKNOWN_SETTING", f"Unknown setting {name!r}")
        if method == "GET" and settings.get("readonly", "0") in ("", "0"):
            settings["readonly"] = "2"  # ClickHouse only runs read-only queries for GET

        revision = client_revision(params.get("client_protocol_version"))

        query = params.get("query", "")
        parts: Iterator[bytes] = iter(())
        if query:
            parts = iter([(query + "\n").encode() if method == "POST" else query.encode()])
        stream = itertools.chain(parts, body if method == "POST" else iter(()))
        if method == "GET":
            _drain(body)

        head, complete = _read_head(stream)
        plan = plan_insert(head, complete)
        engine = self.server.engine
        answer: bytes | list[Piece]
        if plan is None:
            sql = head if complete else head + b"".join(stream)
            if not sql.strip():
                raise ServerError.make(SYNTAX_ERROR, "SYNTAX_ERROR", "Empty query", 400)
            fmt = result_format(sql, default_format)
            native_revision = revision if is_native(fmt) else 0
            if native_revision:
                check_revision(native_revision)  # before the statement runs
            outcome = engine.execute(sql, fmt=default_format, database=database, settings=settings, params=bound)
            answer = reencode(outcome.body, native_revision) if native_revision else outcome.body
        else:
            outcome = self._insert(plan, head, stream, database, settings, bound)
            fmt = None
            answer = outcome.body
        summary = outcome.summary
        if not isinstance(answer, bytes):
            summary = {**summary, "result_bytes": str(body_size(answer))}
        headers = {
            "Content-Type": _content_type(fmt),
            "X-ClickHouse-Query-Id": query_id,
            "X-ClickHouse-Timezone": settings.get("session_timezone") or engine.timezone,
            "X-ClickHouse-Summary": json.dumps(summary, separators=(",", ":")),
        }
        if fmt:
            headers["X-ClickHouse-Format"] = fmt
        self._reply(200, answer, headers)

    def _insert(
        self,
        plan: InsertPlan,
        head: bytes,
        stream: Iterator[bytes],
        database: str | None,
        settings: dict[str, str],
        bound: dict[str, str],
    ) -> Outcome:
        # Spool outside the engine lock: a slow client must not hold up everyone else.
        spool = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed before the engine reads it
            prefix="chdb-insert-", suffix=".data", delete=False
        )
        try:
            with spool:
                spool.write(head[plan.data_start :])
                for chunk in stream:
                    spool.write(chunk)
            infile = os.fsencode(spool.name).replace(b"\\", b"\\\\").replace(b"'", b"\\'")
            sql = b"%s FROM INFILE '%s' %s FORMAT %s" % (
                plan.target.rstrip(),
                infile,
                plan.settings_clause.strip(),
                plan.fmt.encode(),
            )
            return self.server.engine.execute(
                sql, fmt="TabSeparated", database=database, settings=settings, params=bound, is_insert=True
            )
        finally:
            with contextlib.suppress(OSError):
                os.unlink(spool.name)

    # -- responses ---------------------------------------------------------------------------------------

    def _reply(self, status: int, body: bytes | Sequence[Piece], headers: dict[str, str]) -> None:
        pieces = [body] if isinstance(body, bytes) else body
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("X-ClickHouse-Server-Display-Name", "chdb")
        self.send_header("Content-Length", str(body_size(pieces)))
        if self.server.stopping:
            self.close_connection = True
        if self.close_connection:
            self.send_header("Connection", "close")
        else:
            self.send_header("Keep-Alive", f"timeout={_KEEP_ALIVE_S}")
        self.end_headers()
        _write_pieces(self.wfile, pieces)

    def _fail(self, error: ServerError, query_id: str) -> None:
        # The request body may be half read; only a fresh connection is safe after an error.
        self.close_connection = True
        version = self.server.engine.version
        text = error.message if "(version " in error.message else f"{error.message} (version {version})"
        headers = {
            "Content-Type": "text/plain; charset=UTF-8",
            "X-ClickHouse-Query-Id": query_id,
            "X-ClickHouse-Exception-Code": str(error.code),
        }
        with contextlib.suppress(OSError):
            self._reply(error.status, (text + "\n").encode("utf-8", "backslashreplace"), headers)


def _write_pieces(out: BinaryIO, pieces: Sequence[Piece]) -> None:
    """Send `pieces` in order: large ones as they are, small ones gathered into writes of ~_WRITE_SIZE."""
    pending = bytearray()
    for piece in pieces:
        if len(piece) >= _WRITE_SIZE:
            if pending:
                out.write(pending)
                pending = bytearray()
            out.write(piece)
        else:
            pending += piece
            if len(pending) >= _WRITE_SIZE:
                out.write(pending)
                pending = bytearray()
    if pending:
        out.write(pending)


def _drain(body: Iterator[bytes]) -> None:
    for _ in body:
        pass


def _read_head(stream: Iterator[bytes]) -> tuple[bytes, bool]:
    """Up to _HEAD_LIMIT bytes (more if a chunk overshoots) and whether the stream is exhausted."""
    parts: list[bytes] = []
    size = 0
    for chunk in stream:
        parts.append(chunk)
        size += len(chunk)
        if size >= _HEAD_LIMIT:
            return b"".join(parts), False
    return b"".join(parts), True


def _content_type(fmt: str | None) -> str:
    name = (fmt or "").lower()
    if name.startswith(("tabseparated", "tsv", "csv", "pretty", "vertical", "markdown")):
        return "text/plain; charset=UTF-8"
    if name.startswith("json"):
        return "application/json; charset=UTF-8"
    return "application/octet-stream"
