"""A small ClickHouse-HTTP-compatible gateway in front of one embedded chdb data dir.

chdb locks its data dir to a single process ("Cannot lock file .../status"), yet the stream workers, the
`dvcpulse sql` command and the live view all need the same embedded database. One process owns the dir
by running `ChdbServer`; every other process talks to it with an unchanged
`clickhouse_connect.get_client(host=..., port=...)` over the ClickHouse HTTP interface.

What is spoken (the subset clickhouse-connect uses, plus plain curl):

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
* response headers X-ClickHouse-Query-Id, -Timezone, -Summary, -Format (only for statements that
  produce a result, which clickhouse-connect's `command` relies on), -Server-Display-Name;
* errors as HTTP 500 with X-ClickHouse-Exception-Code and a `Code: N. DB::Exception: ...` body, which
  clickhouse-connect turns into `DatabaseError`.

Every request runs on a fresh chdb connection (chdb keeps `USE` and `SET` state per connection), so each
request starts from a clean session exactly like a ClickHouse HTTP request without `session_id`. An
"anchor" connection lives for the whole server lifetime: it holds the data-dir lock and keeps the engine
up between requests. Engine calls are serialised (`max_concurrency=1`) by default.

The endpoint of a running server is published in `<data dir>.endpoint.json` (a sibling of the dir, which
chdb owns) so other processes can find it with `find_running_server`.
"""

from __future__ import annotations

import argparse
import contextlib
import email.parser
import email.policy
import json
import logging
import os
import re
import signal
import socket
import tempfile
import threading
import time
import urllib.request
import uuid
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from typing import Any, BinaryIO, Protocol
from urllib.parse import parse_qsl, urlsplit

from dvcpulse.processes import pid_alive

log = logging.getLogger(__name__)

# The head of a request is scanned for an `INSERT ... FORMAT x` statement within this many bytes; the data
# after it is streamed to disk, anything else is treated as (small) SQL and read whole.
_HEAD_LIMIT = 64 * 1024
_READ_SIZE = 1024 * 1024
# Idle keep-alive connections are dropped after this long; announced in a Keep-Alive header.
_KEEP_ALIVE_S = 300
_DRAIN_TIMEOUT_S = 30.0

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
# Names of chdb's Python-side result converters: not ClickHouse formats, and not bytes on the wire.
_PYTHON_ONLY_FORMATS = frozenset({"dataframe", "arrowtable", "datastore"})
# Statements starting with these words return a result set (X-ClickHouse-Format is then sent).
_RESULT_WORDS = frozenset({"SELECT", "WITH", "SHOW", "DESCRIBE", "DESC", "EXISTS", "EXPLAIN", "CHECK", "FROM"})

_IDENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CODE_RE = re.compile(r"Code: (\d+)\.")
_TRAILING_FORMAT_RE = re.compile(rb"\bFORMAT\s+([A-Za-z_][A-Za-z0-9_]*)\s*;?\s*$", re.IGNORECASE)
# A deliberately small SQL lexer: enough to find top-level keywords while skipping quoted text and comments.
_TOKEN_RE = re.compile(
    rb"""(?P<ws>\s+)
    |(?P<comment>--[^\n]*|\#[^\n]*|/\*.*?\*/)
    |(?P<quoted>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|`(?:[^`\\]|\\.)*`)
    |(?P<word>[A-Za-z_][A-Za-z0-9_]*)
    |(?P<other>.)""",
    re.VERBOSE | re.DOTALL,
)

# ClickHouse error codes used for errors raised by the gateway itself.
_SYNTAX_ERROR = 62
_UNKNOWN_FORMAT = 73
_UNKNOWN_SETTING = 115
_NOT_IMPLEMENTED = 48
_UNKNOWN_COMPRESSION_METHOD = 236
_CANNOT_DECOMPRESS = 271
_STD_EXCEPTION = 1001


class ServerError(Exception):
    """A failed request, rendered the way ClickHouse renders exceptions over HTTP."""

    def __init__(self, code: int, message: str, status: int = 500) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status

    @classmethod
    def from_engine(cls, ex: BaseException) -> ServerError:
        text = str(ex).strip()
        start = text.find("Code: ")
        if start >= 0:
            text = text[start:]
            match = _CODE_RE.match(text)
            if match:
                return cls(int(match.group(1)), text)
        return cls(
            _STD_EXCEPTION, f"Code: {_STD_EXCEPTION}. DB::Exception: {text or type(ex).__name__}. (STD_EXCEPTION)"
        )

    @classmethod
    def make(cls, code: int, name: str, message: str, status: int = 500) -> ServerError:
        return cls(code, f"Code: {code}. DB::Exception: {message}. ({name})", status)


# ---------------------------------------------------------------------------------------------------------
# The engine
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Outcome:
    body: bytes
    summary: dict[str, str]


def _quote_ident(name: str) -> str:
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def _quote_literal(value: str) -> str:
    # Quoting every value is safe: ClickHouse converts a string literal to the setting's own type.
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _chdb() -> Any:
    """chdb, imported on first use: it maps a few hundred MB, which clients of the gateway must not pay."""
    import chdb

    return chdb


class _Engine:
    """The chdb engine of one data dir, shared by all request threads."""

    def __init__(self, path: Path, max_concurrency: int) -> None:
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be >= 1")
        self.path = path
        self.version = ""
        self.timezone = "UTC"
        self._slots = threading.BoundedSemaphore(max_concurrency)
        # Opening/closing chdb connections touches process-wide engine state; keep it single-threaded.
        self._handle_lock = threading.Lock()
        self._anchor: Any = None

    def open(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        try:
            self._anchor = _chdb().connect(str(self.path))
        except Exception as ex:
            raise RuntimeError(f"cannot open the chdb data dir {self.path}: {ex}") from ex
        row = self._anchor.query("SELECT version(), timezone()", "TabSeparated").bytes().decode()
        self.version, self.timezone = row.rstrip("\n").split("\t")

    def close(self) -> None:
        anchor, self._anchor = self._anchor, None
        if anchor is not None:
            with self._handle_lock, contextlib.suppress(Exception):
                anchor.close()

    def execute(
        self,
        sql: bytes,
        *,
        fmt: str,
        database: str | None,
        settings: dict[str, str],
        params: dict[str, str],
        is_insert: bool = False,
    ) -> _Outcome:
        if fmt.lower() in _PYTHON_ONLY_FORMATS:
            raise ServerError.make(_UNKNOWN_FORMAT, "UNKNOWN_FORMAT", f"Unknown output format {fmt}")
        with self._slots:
            if self._anchor is None:
                raise ServerError.make(_STD_EXCEPTION, "STD_EXCEPTION", "The chdb server is shutting down", 503)
            with self._handle_lock:
                try:
                    conn = _chdb().connect(str(self.path))
                except Exception as ex:
                    raise ServerError.from_engine(ex) from ex
            try:
                if database:
                    conn.query(f"USE {_quote_ident(database)}", "TabSeparated")
                if settings:
                    # One SET for all of them; `readonly` goes last so it cannot block the others.
                    ordered = sorted(settings.items(), key=lambda item: item[0] == "readonly")
                    assignments = ", ".join(f"{name} = {_quote_literal(value)}" for name, value in ordered)
                    conn.query(f"SET {assignments}", "TabSeparated")
                started = time.perf_counter_ns()
                result = conn.query(sql, fmt, params=params)
                elapsed = time.perf_counter_ns() - started
                body = (result.bytes() if result is not None else b"") or b""
                return _Outcome(body, _summary(result, body, elapsed, is_insert))
            except ServerError:
                raise
            except Exception as ex:
                raise ServerError.from_engine(ex) from ex
            finally:
                with self._handle_lock, contextlib.suppress(Exception):
                    conn.close()


def _summary(result: Any, body: bytes, elapsed_ns: int, is_insert: bool) -> dict[str, str]:
    def stat(name: str) -> int:
        try:
            return int(getattr(result, name)())
        except Exception:
            return 0

    read_rows, read_bytes = stat("rows_read"), stat("bytes_read")
    written_rows, written_bytes = stat("rows_written"), stat("bytes_written")
    if is_insert and not written_rows:
        # An INFILE insert may only report what it read, which is exactly what it wrote.
        written_rows, written_bytes = read_rows, read_bytes
    return {
        "read_rows": str(read_rows),
        "read_bytes": str(read_bytes),
        "written_rows": str(written_rows),
        "written_bytes": str(written_bytes),
        "result_bytes": str(len(body)),
        "elapsed_ns": str(elapsed_ns),
    }


# ---------------------------------------------------------------------------------------------------------
# Request bodies: framing, compression, INSERT detection
# ---------------------------------------------------------------------------------------------------------


def _sized_body(rfile: BinaryIO, length: int) -> Iterator[bytes]:
    while length > 0:
        chunk = rfile.read(min(length, _READ_SIZE))
        if not chunk:
            raise ServerError.make(_CANNOT_DECOMPRESS, "CANNOT_READ_ALL_DATA", "Request body ended early", 400)
        length -= len(chunk)
        yield chunk


def _chunked_body(rfile: BinaryIO) -> Iterator[bytes]:
    while True:
        line = rfile.readline(65537)
        try:
            size = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise ServerError.make(33, "CANNOT_READ_ALL_DATA", "Malformed chunked request body", 400) from None
        if size == 0:
            while rfile.readline(65537) not in (b"\r\n", b"\n", b""):  # trailers
                pass
            return
        yield from _sized_body(rfile, size)
        rfile.readline()  # the CRLF closing the chunk


class _Decompressor(Protocol):
    eof: bool
    unused_data: bytes

    def decompress(self, data: bytes) -> bytes: ...


def _decompressor_factory(encoding: str) -> Callable[[], _Decompressor] | None:
    """A factory of streaming decompressors for a Content-Encoding; None for identity."""
    if encoding in ("", "identity", "none"):
        return None
    if encoding == "gzip":
        return lambda: zlib.decompressobj(wbits=31)
    if encoding == "deflate":
        return lambda: zlib.decompressobj(wbits=47)  # zlib or gzip header, auto-detected
    if encoding == "lz4":
        with contextlib.suppress(ImportError):
            import lz4.frame

            return lz4.frame.LZ4FrameDecompressor
    if encoding == "zstd":
        with contextlib.suppress(ImportError):
            try:
                from compression import zstd  # type: ignore[import-not-found]  # Python 3.14+
            except ImportError:
                from backports import zstd  # type: ignore[import-not-found,no-redef]
            return zstd.ZstdDecompressor
    raise ServerError.make(
        _UNKNOWN_COMPRESSION_METHOD, "UNKNOWN_COMPRESSION_METHOD", f"Unsupported Content-Encoding {encoding!r}", 415
    )


def _decoded(chunks: Iterable[bytes], encoding: str) -> Iterator[bytes]:
    """Decompress a body incrementally. clickhouse-connect compresses every insert block as its own
    lz4/zstd frame, so a finished frame is followed by a fresh decompressor for the next one."""
    factory = _decompressor_factory(encoding.strip().lower())
    if factory is None:
        yield from chunks
        return
    decompressor, pending = factory(), False
    try:
        for chunk in chunks:
            data = chunk
            while data:
                out = decompressor.decompress(data)
                pending = True
                if out:
                    yield out
                if decompressor.eof:
                    data, decompressor, pending = decompressor.unused_data, factory(), False
                else:
                    data = b""
    except ServerError:
        raise
    except Exception as ex:
        raise ServerError.make(
            _CANNOT_DECOMPRESS, "CANNOT_DECOMPRESS", f"Cannot decode {encoding} body: {ex}", 400
        ) from ex
    if pending:
        raise ServerError.make(_CANNOT_DECOMPRESS, "CANNOT_DECOMPRESS", f"Truncated {encoding} body", 400)


@dataclass(frozen=True)
class _InsertPlan:
    """`INSERT <target> [SETTINGS ...] FORMAT <fmt>` followed by data at `data_start`."""

    target: bytes
    settings_clause: bytes
    fmt: str
    data_start: int


def _significant_tokens(sql: bytes) -> Iterator[re.Match[bytes]]:
    for match in _TOKEN_RE.finditer(sql):
        if match.lastgroup not in ("ws", "comment"):
            yield match


def _first_word(sql: bytes) -> str:
    for match in _significant_tokens(sql):
        if match.lastgroup == "word":
            return match.group().decode().upper()
        if match.group() != b"(":
            return ""
    return ""


def _plan_insert(head: bytes, complete: bool) -> _InsertPlan | None:
    """Find a top-level `INSERT ... FORMAT name` at the start of `head`; None if this is any other
    statement (VALUES / SELECT inserts included: those are ordinary SQL with their data inline)."""
    tokens = _significant_tokens(head)
    first = next(tokens, None)
    if first is None or first.group().upper() != b"INSERT":
        return None
    depth, settings_at = 0, -1
    for token in tokens:
        text = token.group()
        if token.lastgroup == "other":
            depth += {b"(": 1, b")": -1}.get(text, 0)
            if text == b";":
                return None
            continue
        if token.lastgroup != "word" or depth:
            continue
        word = text.upper()
        if word in (b"VALUES", b"SELECT", b"WITH", b"FROM"):
            return None
        if word == b"SETTINGS" and settings_at < 0:
            settings_at = token.start()
        elif word == b"FORMAT":
            name = next(tokens, None)
            if name is None or name.lastgroup != "word" or (name.end() == len(head) and not complete):
                return None
            # ClickHouse's rule: data starts after the first newline, or after the blanks otherwise.
            pos = name.end()
            while pos < len(head) and head[pos] in b" \t\f":
                pos += 1
            if head.startswith(b"\r", pos):
                pos += 1
            if head.startswith(b"\n", pos):
                pos += 1
            cut = settings_at if settings_at >= 0 else token.start()
            return _InsertPlan(head[:cut], head[cut : token.start()], name.group().decode(), pos)
    return None


def _parse_multipart(content_type: str, body: bytes) -> dict[str, str]:
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    fields: dict[str, str] = {}
    for part in message.iter_parts():
        if part.get_filename():
            raise ServerError.make(_NOT_IMPLEMENTED, "NOT_IMPLEMENTED", "External data is not supported by chdb_server")
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes):
            fields[name] = payload.decode("utf-8")
    return fields


# ---------------------------------------------------------------------------------------------------------
# HTTP
# ---------------------------------------------------------------------------------------------------------


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], engine: _Engine, spool_dir: Path | None) -> None:
        super().__init__(address, _Handler)
        self.engine = engine
        self.spool_dir = spool_dir
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
    server: _HttpServer

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
                    self._drain(body)
                    self._reply(200, b"Ok.\n", {"Content-Type": "text/plain; charset=UTF-8"})
                elif url.path not in ("/", ""):
                    self._drain(body)
                    raise ServerError.make(_NOT_IMPLEMENTED, "UNKNOWN_HANDLER", f"There is no handle {url.path}", 404)
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
            return _chunked_body(self.rfile)
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            raise ServerError.make(_SYNTAX_ERROR, "BAD_REQUEST_PARAMETER", "Bad Content-Length", 400)
        return _sized_body(self.rfile, length)

    def _drain(self, body: Iterator[bytes]) -> None:
        for _ in body:
            pass

    def _run(self, method: str, params: dict[str, str], raw_body: Iterator[bytes], query_id: str) -> None:
        content_type = self.headers.get("Content-Type", "")
        if content_type.lower().startswith("multipart/form-data"):
            params.update(_parse_multipart(content_type, b"".join(raw_body)))
            raw_body = iter(())
        body = _decoded(raw_body, self.headers.get("Content-Encoding", ""))

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
                raise ServerError.make(_UNKNOWN_SETTING, "UNKNOWN_SETTING", f"Unknown setting {name!r}")
        if method == "GET" and settings.get("readonly", "0") in ("", "0"):
            settings["readonly"] = "2"  # ClickHouse only runs read-only queries for GET

        query = params.get("query", "")
        parts: Iterator[bytes] = iter(())
        if query:
            parts = iter([(query + "\n").encode() if method == "POST" else query.encode()])
        stream = _chain(parts, body if method == "POST" else iter(()))
        if method == "GET":
            self._drain(body)

        head, complete = _read_head(stream)
        plan = _plan_insert(head, complete)
        engine = self.server.engine
        if plan is None:
            sql = head if complete else head + b"".join(stream)
            if not sql.strip():
                raise ServerError.make(_SYNTAX_ERROR, "SYNTAX_ERROR", "Empty query", 400)
            outcome = engine.execute(sql, fmt=default_format, database=database, settings=settings, params=bound)
            trailing = _TRAILING_FORMAT_RE.search(sql)
            if trailing:
                result_format: str | None = trailing.group(1).decode()
            else:
                result_format = default_format if _first_word(sql) in _RESULT_WORDS else None
        else:
            outcome = self._insert(plan, head, stream, database, settings, bound)
            result_format = None
        headers = {
            "Content-Type": _content_type(result_format),
            "X-ClickHouse-Query-Id": query_id,
            "X-ClickHouse-Timezone": settings.get("session_timezone") or engine.timezone,
            "X-ClickHouse-Summary": json.dumps(outcome.summary, separators=(",", ":")),
        }
        if result_format:
            headers["X-ClickHouse-Format"] = result_format
        self._reply(200, outcome.body, headers)

    def _insert(
        self,
        plan: _InsertPlan,
        head: bytes,
        stream: Iterator[bytes],
        database: str | None,
        settings: dict[str, str],
        bound: dict[str, str],
    ) -> _Outcome:
        # Spool outside the engine lock: a slow client must not hold up everyone else.
        spool = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed before the engine reads it
            prefix="chdb-insert-", suffix=".data", dir=self.server.spool_dir, delete=False
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

    def _reply(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("X-ClickHouse-Server-Display-Name", "chdb")
        self.send_header("Content-Length", str(len(body)))
        if self.server.stopping:
            self.close_connection = True
        if self.close_connection:
            self.send_header("Connection", "close")
        else:
            self.send_header("Keep-Alive", f"timeout={_KEEP_ALIVE_S}")
        self.end_headers()
        self.wfile.write(body)

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


def _chain(first: Iterator[bytes], rest: Iterator[bytes]) -> Iterator[bytes]:
    yield from first
    yield from rest


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


# ---------------------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------------------


def endpoint_file(path: Path) -> Path:
    """Where the server for data dir `path` publishes its URL: `<path>.endpoint.json`, next to the dir."""
    path = Path(path).resolve()
    return path.with_name(path.name + ".endpoint.json")


class ChdbServer:
    """Owns one chdb data dir while running and serves it over the ClickHouse HTTP interface."""

    def __init__(
        self,
        path: Path,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        max_concurrency: int = 1,
        spool_dir: Path | None = None,
    ) -> None:
        self.path = Path(path).resolve()
        self.host = host
        self.port = port
        self._engine = _Engine(self.path, max_concurrency)
        self._spool_dir = spool_dir
        self._httpd: _HttpServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("the chdb server is not running")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._httpd is not None

    def start(self) -> None:
        with self._lock:
            if self._httpd is not None:
                raise RuntimeError("the chdb server is already running")
            other = find_running_server(self.path)
            if other:  # chdb's own lock error would be much less helpful
                raise RuntimeError(f"the chdb data dir {self.path} is already served at {other}")
            self._engine.open()
            try:
                httpd = _HttpServer((self.host, self.port), self._engine, self._spool_dir)
            except BaseException:
                self._engine.close()
                raise
            self.port = httpd.server_address[1]
            self._httpd = httpd
            self._thread = threading.Thread(
                target=httpd.serve_forever, kwargs={"poll_interval": 0.2}, name="chdb-server", daemon=True
            )
            self._thread.start()
            _write_endpoint(endpoint_file(self.path), {"url": self.url, "pid": os.getpid(), "path": str(self.path)})
            log.info("chdb server for %s listening on %s", self.path, self.url)

    def stop(self) -> None:
        with self._lock:
            httpd, self._httpd = self._httpd, None
            if httpd is None:
                return
            _remove_endpoint(endpoint_file(self.path), os.getpid())
            httpd.shutdown()  # stop accepting; returns once serve_forever has left its loop
            httpd.server_close()
            httpd.drain(_DRAIN_TIMEOUT_S)
            if self._thread is not None:
                self._thread.join(timeout=5)
            self._engine.close()
            log.info("chdb server for %s stopped", self.path)

    def __enter__(self) -> ChdbServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _write_endpoint(target: Path, info: dict[str, Any]) -> None:
    temp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    temp.write_text(json.dumps(info), encoding="utf-8")
    os.replace(temp, target)  # readers never see a half-written file


def _read_endpoint(target: Path) -> dict[str, Any] | None:
    try:
        info = json.loads(target.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def _remove_endpoint(target: Path, pid: int | None = None, expected: dict[str, Any] | None = None) -> None:
    """Remove the endpoint file unless it now belongs to someone else (another pid or content)."""
    info = _read_endpoint(target)
    if info is None or (pid is not None and info.get("pid") != pid) or (expected is not None and info != expected):
        return
    with contextlib.suppress(FileNotFoundError):
        target.unlink()


def _ping(url: str, timeout: float = 2.0) -> bool:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never route localhost via a proxy
    try:
        with opener.open(f"{url}/ping", timeout=timeout) as response:
            return response.status == 200 and response.read() == b"Ok.\n"
    except (OSError, ValueError):
        return False


def find_running_server(path: Path) -> str | None:
    """The URL of the live server owning data dir `path`, or None (a stale endpoint file is removed)."""
    target = endpoint_file(path)
    info = _read_endpoint(target)
    if info is None:
        return None
    url, pid = info.get("url"), info.get("pid")
    if isinstance(url, str) and isinstance(pid, int) and pid_alive(pid) and _ping(url):
        return url
    _remove_endpoint(target, expected=info)
    return None


def serve_forever(path: Path, host: str = "127.0.0.1", port: int = 0, *, max_concurrency: int = 1) -> None:
    """Run a server in the foreground until SIGTERM or SIGINT, then stop it cleanly."""
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    server = ChdbServer(path, host, port, max_concurrency=max_concurrency)
    try:
        server.start()
        print(f"chdb server for {server.path} listening on {server.url}", flush=True)
        while not stop.wait(0.5):  # a timed wait keeps the main thread responsive to signals
            pass
    finally:
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sinks.chdb_server", description=__doc__.split("\n", 1)[0])
    parser.add_argument("--path", type=Path, required=True, help="chdb data dir to own")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="TCP port (default: any free port)")
    parser.add_argument("--max-concurrency", type=int, default=1, help="engine calls run at once (default 1)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        serve_forever(args.path, args.host, args.port, max_concurrency=args.max_concurrency)
    except (RuntimeError, OSError) as ex:  # data dir taken, port in use: a message, not a traceback
        raise SystemExit(f"chdb server: {ex}") from None


if __name__ == "__main__":
    main()
