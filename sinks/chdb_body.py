"""HTTP request bodies as ClickHouse's HTTP interface reads them: framing, Content-Encoding, form fields.

A default clickhouse-connect client compresses its inserts (lz4, else zstd; gzip on request; `raw_insert`
passes any encoding through), and sends the query and bound parameters as multipart form fields once the
parameters outgrow the URL (or with `form_encode_query_params=True`).
"""

from __future__ import annotations

import contextlib
import email.parser
import email.policy
import zlib
from collections.abc import Callable, Iterable, Iterator
from typing import BinaryIO, Protocol

from dvcpulse.sinks.chdb_engine import (
    CANNOT_DECOMPRESS,
    CANNOT_READ_ALL_DATA,
    NOT_IMPLEMENTED,
    UNKNOWN_COMPRESSION_METHOD,
    ServerError,
)

_READ_SIZE = 1024 * 1024


def sized_body(rfile: BinaryIO, length: int) -> Iterator[bytes]:
    """A body of Content-Length `length`, in chunks."""
    while length > 0:
        chunk = rfile.read(min(length, _READ_SIZE))
        if not chunk:
            raise ServerError.make(CANNOT_DECOMPRESS, "CANNOT_READ_ALL_DATA", "Request body ended early", 400)
        length -= len(chunk)
        yield chunk


def chunked_body(rfile: BinaryIO) -> Iterator[bytes]:
    """A `Transfer-Encoding: chunked` body, de-chunked."""
    while True:
        line = rfile.readline(65537)
        try:
            size = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise ServerError.make(
                CANNOT_READ_ALL_DATA, "CANNOT_READ_ALL_DATA", "Malformed chunked request body", 400
            ) from None
        if size == 0:
            while rfile.readline(65537) not in (b"\r\n", b"\n", b""):  # trailers
                pass
            return
        yield from sized_body(rfile, size)
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
        UNKNOWN_COMPRESSION_METHOD, "UNKNOWN_COMPRESSION_METHOD", f"Unsupported Content-Encoding {encoding!r}", 415
    )


def decoded(chunks: Iterable[bytes], encoding: str) -> Iterator[bytes]:
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
        message = f"Cannot decode {encoding} body: {ex}"
        raise ServerError.make(CANNOT_DECOMPRESS, "CANNOT_DECOMPRESS", message, 400) from ex
    if pending:
        raise ServerError.make(CANNOT_DECOMPRESS, "CANNOT_DECOMPRESS", f"Truncated {encoding} body", 400)


def form_fields(content_type: str, body: bytes) -> dict[str, str]:
    """The text fields of a multipart/form-data body; file parts (external data) are refused."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    fields: dict[str, str] = {}
    for part in message.iter_parts():
        if part.get_filename():
            raise ServerError.make(NOT_IMPLEMENTED, "NOT_IMPLEMENTED", "External data is not supported by chdb_server")
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes):
            fields[name] = payload.decode("utf-8")
    return fields
