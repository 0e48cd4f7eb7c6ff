"""Native output in the layout of the client's protocol revision (HTTP `client_protocol_version`).

chdb writes `Native` as for revision 0 and has no way to be told another one. A ClickHouse server answering
an HTTP request that carries `client_protocol_version=R` writes R's layout instead (NativeWriter):

* R > 0: every block starts with a BlockInfo: field 1 `is_overflows` (UInt8 0), field 2 `bucket_num`
  (Int32 -1), from revision 54480 field 3 `out_of_order_buckets` (an empty list), then 0;
* R >= 54454 (custom serialization): after each column's type, one byte "has custom serialization". A
  server may write 1 (then serialization kinds follow) only for sparse/replicated columns, which chdb never
  writes at revision 0, so it is always 0 here and the data keeps its default serialization.
* R < 54405: LowCardinality columns are sent as their inner type (not done here: refused);
* R < 54337: a top-level `DateTime('tz')` column is named plain `DateTime`, which chdb does for every R,
  so for R >= 54337 such a column reaches the client without its time zone (values are the same instants);
* R >= 54492: String columns get another layout (a size stream), not written here: such a revision is
  refused (HTTP 400) before the statement runs.

clickhouse-go (Grafana's ClickHouse plugin, 54460) and clickhouse-connect (54405, once its probe sees a
BlockInfo) decode by these rules. The bytes after each column's header are unchanged, but finding where a
column ends - hence where the next header or block starts - needs walking its data by type. Types whose
data cannot be measured without their internals (AggregateFunction states, Dynamic, JSON, Object) are
refused with a ClickHouse-style NOT_IMPLEMENTED error rather than answered with misframed bytes.

`reencode` returns the new body as a list of slices of chdb's bytes and the few inserted bytes, so the
answer is never copied whole.
"""

from __future__ import annotations

import functools
import re
import struct
from collections.abc import Sequence

from dvcpulse.sinks.chdb_engine import NOT_IMPLEMENTED, ServerError

# ClickHouse's protocol revisions (src/Core/ProtocolDefines.h) that change the Native layout.
TIME_ZONE_IN_DATETIME_REVISION = 54337
LOW_CARDINALITY_REVISION = 54405
CUSTOM_SERIALIZATION_REVISION = 54454
OUT_OF_ORDER_BUCKETS_REVISION = 54480
STRING_SIZE_STREAM_REVISION = 54492
MAX_REVISION = STRING_SIZE_STREAM_REVISION - 1  # the newest layout written here

CANNOT_PARSE_NUMBER = 72
LOGICAL_ERROR = 49

_BLOCK_INFO = b"\x01\x00\x02\xff\xff\xff\xff"  # field 1: is_overflows = 0; field 2: bucket_num = -1
_OUT_OF_ORDER_BUCKETS = b"\x03\x00"  # field 3: out_of_order_buckets = [] (varint count 0)
_NO_CUSTOM_SERIALIZATION = b"\x00"

_u64 = struct.Struct("<Q").unpack_from
Piece = bytes | memoryview


def client_revision(value: str | None) -> int:
    """The `client_protocol_version` request parameter as a revision; 0 without one."""
    if value is None:
        return 0
    if not value.isascii() or not value.isdigit():
        message = f"Cannot parse client_protocol_version {value!r}: it must be a non-negative integer"
        raise ServerError.make(CANNOT_PARSE_NUMBER, "CANNOT_PARSE_NUMBER", message, 400)
    return int(value)


def is_native(fmt: str | None) -> bool:
    return (fmt or "").lower() == "native"


def check_revision(revision: int) -> None:
    """Refuse, before a statement runs, a revision whose Native layout is not written here."""
    if revision > MAX_REVISION:
        message = (
            f"Native output for client_protocol_version {revision} is not supported by the chdb gateway: "
            f"it writes the layouts of revisions up to {MAX_REVISION} (from {STRING_SIZE_STREAM_REVISION} "
            "String columns have another layout)"
        )
        raise ServerError.make(NOT_IMPLEMENTED, "NOT_IMPLEMENTED", message, 400)


def block_info(revision: int) -> bytes:
    """The BlockInfo a ClickHouse server writes before each block for `revision` (> 0)."""
    extra = _OUT_OF_ORDER_BUCKETS if revision >= OUT_OF_ORDER_BUCKETS_REVISION else b""
    return _BLOCK_INFO + extra + b"\x00"


def reencode(data: bytes, revision: int) -> list[Piece]:
    """chdb's revision-0 Native `data` in the layout of `revision`, as pieces to send in order."""
    if revision <= 0:
        return [data]
    check_revision(revision)
    info = block_info(revision)
    custom = revision >= CUSTOM_SERIALIZATION_REVISION
    view = memoryview(data)
    end = len(data)
    pieces: list[Piece] = []
    mark = pos = 0  # data[mark:pos] is read and not yet handed out
    column = ""
    try:
        while pos < end:
            pieces += (view[mark:pos], info)
            mark = pos
            columns, pos = _varint(data, pos)
            rows, pos = _varint(data, pos)
            for _ in range(columns):
                size, pos = _varint(data, pos)
                column = data[pos : pos + size].decode("utf-8", "replace")
                size, pos = _varint(data, pos + size)
                type_name = data[pos : pos + size].decode("utf-8", "replace")
                pos += size
                if custom:
                    pieces += (view[mark:pos], _NO_CUSTOM_SERIALIZATION)
                    mark = pos
                kind = _column_kind(column, type_name, revision)
                if rows:
                    if kind.prefixed:
                        pos = kind.prefix(data, pos)
                    pos = kind.data(data, pos, rows)
                if pos > end:
                    raise IndexError(f"the data ends inside column `{column}`")
    except (IndexError, ValueError, struct.error) as ex:
        message = f"Cannot read the engine's Native output at byte {pos} (column `{column}`): {ex}"
        raise ServerError.make(LOGICAL_ERROR, "LOGICAL_ERROR", message) from ex
    pieces.append(view[mark:end])
    return [piece for piece in pieces if len(piece)]


def body_size(pieces: Sequence[Piece]) -> int:
    return sum(len(piece) for piece in pieces)


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise ValueError("malformed varint")


def _column_kind(column: str, type_name: str, revision: int) -> _Kind:
    if revision < LOW_CARDINALITY_REVISION and "LowCardinality(" in type_name:
        why = f"a client below revision {LOW_CARDINALITY_REVISION} gets it as its inner type, not converted here"
        raise _refusal(column, type_name, revision, why)
    try:
        return _kind(type_name)
    except _Unsupported as ex:
        raise _refusal(column, type_name, revision, str(ex)) from None


def _refusal(column: str, type_name: str, revision: int, why: str) -> ServerError:
    message = (
        f"The chdb gateway cannot write column `{column}` of type {type_name} as Native for "
        f"client_protocol_version {revision}: {why}"
    )
    return ServerError.make(NOT_IMPLEMENTED, "NOT_IMPLEMENTED", message)


# -- column data, by type -------------------------------------------------------------------------------


class _Unsupported(Exception):
    pass


class _Kind:
    """How one type's column is laid out in Native: an optional state prefix, then the data of n rows."""

    prefixed = False  # whether the column starts with a serialization state prefix

    def prefix(self, buf: bytes, pos: int) -> int:
        return pos

    def data(self, buf: bytes, pos: int, rows: int) -> int:
        raise NotImplementedError


class _Fixed(_Kind):
    def __init__(self, width: int) -> None:
        self.width = width

    def data(self, buf: bytes, pos: int, rows: int) -> int:
        return pos + rows * self.width


class _String(_Kind):
    def data(self, buf: bytes, pos: int, rows: int) -> int:
        for _ in range(rows):
            size = buf[pos]
            if size < 0x80:
                pos += 1 + size
            else:
                size, pos = _varint(buf, pos)
                pos += size
        return pos


class _Wrapping(_Kind):
    """A type around one inner type, whose state prefix is the inner type's."""

    def __init__(self, inner: _Kind) -> None:
        self.inner = inner
        self.prefixed = inner.prefixed

    def prefix(self, buf: bytes, pos: int) -> int:
        return self.inner.prefix(buf, pos)


class _Nullable(_Wrapping):
    def data(self, buf: bytes, pos: int, rows: int) -> int:
        return self.inner.data(buf, pos + rows, rows)  # the null map: one byte a row


class _Array(_Wrapping):
    """Array, Map and Nested: each row's end offset as UInt64, then the elements of all rows (if any)."""

    def data(self, buf: bytes, pos: int, rows: int) -> int:
        (elements,) = _u64(buf, pos + 8 * (rows - 1))
        pos += 8 * rows
        return self.inner.data(buf, pos, elements) if elements else pos


class _Tuple(_Kind):
    """Each element's column in turn; an empty Tuple() writes one byte a row."""

    def __init__(self, elements: list[_Kind]) -> None:
        self.elements = elements
        self.prefixed = any(element.prefixed for element in elements)

    def prefix(self, buf: bytes, pos: int) -> int:
        for element in self.elements:
            pos = element.prefix(buf, pos)
        return pos

    def data(self, buf: bytes, pos: int, rows: int) -> int:
        if not self.elements:
            return pos + rows
        for element in self.elements:
            pos = element.data(buf, pos, rows)
        return pos


class _LowCardinality(_Kind):
    """Prefix: the keys' serialization version (UInt64 1). Data: UInt64 flags (low byte: index width 1/2/4/8;
    bit 9: keys follow; bit 8: a shared dictionary, never used in Native), UInt64 count and the keys (of the
    dictionary type: Nullable removed), UInt64 row count and one index a row."""

    prefixed = True
    _GLOBAL_DICTIONARY = 1 << 8
    _ADDITIONAL_KEYS = 1 << 9
    _WIDTHS = (1, 2, 4, 8)

    def __init__(self, keys: _Kind) -> None:
        self.keys = keys

    def prefix(self, buf: bytes, pos: int) -> int:
        (version,) = _u64(buf, pos)
        if version != 1:
            raise ValueError(f"LowCardinality keys serialization version {version}")
        return pos + 8

    def data(self, buf: bytes, pos: int, rows: int) -> int:
        (flags,) = _u64(buf, pos)
        pos += 8
        if flags & self._GLOBAL_DICTIONARY or (flags & 0xFF) >= len(self._WIDTHS):
            raise ValueError(f"LowCardinality flags {flags:#x}")
        if flags & self._ADDITIONAL_KEYS:
            (keys,) = _u64(buf, pos)
            pos += 8
            if keys:
                pos = self.keys.data(buf, pos, keys)
        (indexes,) = _u64(buf, pos)
        if indexes != rows:
            raise ValueError(f"LowCardinality with {indexes} indexes for {rows} rows")
        return pos + 8 + indexes * self._WIDTHS[flags & 0xFF]


class _Variant(_Kind):
    """Prefix: the discriminators' mode (UInt64 0, basic) and each variant's prefix. Data: one discriminator
    byte a row (255: NULL), then each variant's rows, in the order of the type's variants."""

    prefixed = True

    def __init__(self, variants: list[_Kind]) -> None:
        self.variants = variants

    def prefix(self, buf: bytes, pos: int) -> int:
        (mode,) = _u64(buf, pos)
        if mode != 0:
            raise ValueError(f"Variant discriminators in mode {mode}")
        pos += 8
        for variant in self.variants:
            pos = variant.prefix(buf, pos)
        return pos

    def data(self, buf: bytes, pos: int, rows: int) -> int:
        discriminators = buf[pos : pos + rows]
        pos += rows
        for index, variant in enumerate(self.variants):
            count = discriminators.count(index)
            if count:
                pos = variant.data(buf, pos, count)
        return pos


_WIDTHS = {
    "Nothing": 1,  # one placeholder byte a row
    "Bool": 1,
    "UInt8": 1,
    "Int8": 1,
    "Enum8": 1,
    "UInt16": 2,
    "Int16": 2,
    "Enum16": 2,
    "Date": 2,
    "BFloat16": 2,
    "UInt32": 4,
    "Int32": 4,
    "Float32": 4,
    "Date32": 4,
    "DateTime": 4,
    "Time": 4,
    "IPv4": 4,
    "UInt64": 8,
    "Int64": 8,
    "Float64": 8,
    "DateTime64": 8,
    "Time64": 8,
    "UInt128": 16,
    "Int128": 16,
    "UUID": 16,
    "IPv6": 16,
    "UInt256": 32,
    "Int256": 32,
    "Decimal32": 4,
    "Decimal64": 8,
    "Decimal128": 16,
    "Decimal256": 32,
}
_INTERVALS = ("Nanosecond", "Microsecond", "Millisecond", "Second", "Minute", "Hour", "Day", "Week", "Month")
_INTERVALS += ("Quarter", "Year")
for _unit in _INTERVALS:
    _WIDTHS["Interval" + _unit] = 8  # Int64
# Geo types: their own names over Tuple / Array layouts.
_ALIASES = {
    "Point": "Tuple(Float64, Float64)",
    "Ring": "Array(Point)",
    "LineString": "Array(Point)",
    "Polygon": "Array(Ring)",
    "MultiLineString": "Array(LineString)",
    "MultiPolygon": "Array(Polygon)",
}
_REFUSED = {
    "AggregateFunction": "aggregate function states have no length prefix",
    "Dynamic": "Dynamic columns are not measured here",
    "JSON": "JSON columns are not measured here",
    "Object": "Object columns are not measured here",
}
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NAMED_ELEMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\s+(?=\S)")


@functools.lru_cache(maxsize=512)
def _kind(type_name: str) -> _Kind:
    name, args = _parse(type_name)
    if name in _WIDTHS:  # DateTime('tz'), DateTime64(3, 'tz'), Enum8('a' = 1), Decimal32(2), ... too
        return _Fixed(_WIDTHS[name])
    if name == "Decimal":
        precision = int(args[0]) if args and args[0].isdigit() else 0
        if not 1 <= precision <= 76:
            raise _Unsupported(f"Decimal precision {args[:1]}")
        return _Fixed(4 if precision <= 9 else 8 if precision <= 18 else 16 if precision <= 38 else 32)
    if name == "String":
        return _String()
    if name == "FixedString":
        if len(args) != 1 or not args[0].isdigit():
            raise _Unsupported("FixedString without a size")
        return _Fixed(int(args[0]))
    if name in _ALIASES and not args:
        return _kind(_ALIASES[name])
    if name == "Nullable" and len(args) == 1:
        return _Nullable(_kind(args[0]))
    if name == "Array" and len(args) == 1:
        return _Array(_kind(args[0]))
    if name == "Map" and len(args) == 2:
        return _Array(_Tuple([_kind(args[0]), _kind(args[1])]))
    if name == "Tuple":
        return _Tuple([_kind(_element_type(arg)) for arg in args])
    if name == "Nested" and args:
        return _Array(_Tuple([_kind(_element_type(arg)) for arg in args]))
    if name == "LowCardinality" and len(args) == 1:
        inner, inner_args = _parse(args[0])
        keys = inner_args[0] if inner == "Nullable" and len(inner_args) == 1 else args[0]
        return _LowCardinality(_kind(keys))
    if name == "Variant" and args:
        return _Variant([_kind(arg) for arg in args])
    if name == "SimpleAggregateFunction" and len(args) == 2:
        return _kind(args[1])  # stored as its argument type
    raise _Unsupported(_REFUSED.get(name, f"type {name} is not supported"))


def _parse(type_name: str) -> tuple[str, list[str]]:
    """`Name` or `Name(arg, ...)` as ClickHouse prints a type: the name and its top-level arguments."""
    text = type_name.strip()
    match = _IDENT.match(text)
    if match is None:
        raise _Unsupported(f"cannot read type {type_name!r}")
    rest = text[match.end() :]
    if not rest:
        return match.group(), []
    if not (rest.startswith("(") and rest.endswith(")")):
        raise _Unsupported(f"cannot read type {type_name!r}")
    return match.group(), _arguments(rest[1:-1], type_name)


def _arguments(inner: str, type_name: str) -> list[str]:
    args: list[str] = []
    depth = start = i = 0
    while i < len(inner):
        char = inner[i]
        if char in "'`\"":
            i = _after_quoted(inner, i, type_name)
            continue
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                raise _Unsupported(f"unbalanced parentheses in type {type_name!r}")
        elif char == "," and depth == 0:
            args.append(inner[start:i].strip())
            start = i + 1
        i += 1
    if depth:
        raise _Unsupported(f"unbalanced parentheses in type {type_name!r}")
    last = inner[start:].strip()
    if last or args:
        args.append(last)
    return args


def _after_quoted(text: str, i: int, type_name: str) -> int:
    """The index after the quoted string (', ` or ", backslash escapes) that starts at i."""
    quote = text[i]
    i += 1
    while i < len(text):
        if text[i] == "\\":
            i += 2
        elif text[i] == quote:
            return i + 1
        else:
            i += 1
    raise _Unsupported(f"unterminated quote in type {type_name!r}")


def _element_type(arg: str) -> str:
    """The type of a Tuple / Nested element, `name Type` (name back-quoted if need be) or just `Type`."""
    if arg.startswith("`"):
        return arg[_after_quoted(arg, 0, arg) :].strip()
    named = _NAMED_ELEMENT.match(arg)
    return arg[named.end() :] if named else arg
