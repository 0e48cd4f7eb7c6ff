"""The chdb engine of one data dir, running each statement on its own connection.

chdb keeps `USE` and `SET` state per connection, so every statement gets a fresh one and starts from a
clean session, like a ClickHouse HTTP request without `session_id`. An "anchor" connection lives from
`open` to `close`: it holds the data-dir lock and keeps the engine up between statements.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# ClickHouse error codes for errors raised by the gateway itself.
SYNTAX_ERROR = 62
UNKNOWN_FORMAT = 73
UNKNOWN_SETTING = 115
NOT_IMPLEMENTED = 48
CANNOT_READ_ALL_DATA = 33
UNKNOWN_COMPRESSION_METHOD = 236
CANNOT_DECOMPRESS = 271
STD_EXCEPTION = 1001

_CODE_RE = re.compile(r"Code: (\d+)\.")
# Names of chdb's Python-side result converters: not ClickHouse formats, and not bytes on the wire.
_PYTHON_ONLY_FORMATS = frozenset({"dataframe", "arrowtable", "datastore"})


class ServerError(Exception):
    """A failed request: a ClickHouse error code, its `Code: N. DB::Exception: ...` text, an HTTP status."""

    def __init__(self, code: int, message: str, status: int = 500) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status

    @classmethod
    def from_engine(cls, ex: BaseException) -> ServerError:
        """The engine's own error as ClickHouse reports it; anything else as STD_EXCEPTION."""
        text = str(ex).strip()
        start = text.find("Code: ")
        if start >= 0:
            text = text[start:]
            match = _CODE_RE.match(text)
            if match:
                return cls(int(match.group(1)), text)
        return cls(STD_EXCEPTION, f"Code: {STD_EXCEPTION}. DB::Exception: {text or type(ex).__name__}. (STD_EXCEPTION)")

    @classmethod
    def make(cls, code: int, name: str, message: str, status: int = 500) -> ServerError:
        return cls(code, f"Code: {code}. DB::Exception: {message}. ({name})", status)


@dataclass(frozen=True)
class Outcome:
    """A statement's result bytes and its X-ClickHouse-Summary counters."""

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


class Engine:
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
        """Take the data dir (created if missing) and read the engine's version and time zone."""
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
    ) -> Outcome:
        """Run one statement in `database` with `settings` and bound `params`; errors as ServerError."""
        if fmt.lower() in _PYTHON_ONLY_FORMATS:
            raise ServerError.make(UNKNOWN_FORMAT, "UNKNOWN_FORMAT", f"Unknown output format {fmt}")
        with self._slots:
            if self._anchor is None:
                raise ServerError.make(STD_EXCEPTION, "STD_EXCEPTION", "The chdb server is shutting down", 503)
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
                return Outcome(body, _summary(result, body, elapsed, is_insert))
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
