"""Native output in the layout of the client's protocol revision (sinks.native_revision, through the gateway).

The engine is the real one (a `ChdbServer` on a tmp data dir); nothing is mocked. Three independent checks
of the re-encoder:

* an oracle built without walking any column data: a one-column query's block is its header and then its
  data up to the end, so the expected re-encoding of a many-column query (and of a stream of blocks) is
  assembled from one-column queries of the same expressions, with the BlockInfo and the per-column byte
  the revision calls for;
* clickhouse-connect's own decoder, which reads revision 54405 (BlockInfo) as it reads revision 0, gives the
  same rows for both layouts;
* clickhouse-go (the Grafana plugin's driver, revision 54460) through .grafana/bin/chprobe, when built.
"""

from __future__ import annotations

import json
import math
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import clickhouse_connect
import pytest
from clickhouse_connect import common as client_common
from clickhouse_connect.driver.client import Client

from dvcpulse.sinks.chdb_server import ChdbServer
from dvcpulse.sinks.native_revision import (
    MAX_REVISION,
    block_info,
    client_revision,
    reencode,
)

PROBE = Path(__file__).resolve().parents[2] / ".grafana" / "bin" / "chprobe"

# Expressions over `number`, one column each; together they cover every kind of column data the
# re-encoder walks (fixed widths, String with one- and two-byte length varints, Nullable, Array, Map,
# Tuple, Nested, LowCardinality with and without keys' Nullable, Variant, geo types, ...).
COLUMNS = [
    "number AS u64",
    "toInt8(number) - 2 AS i8",
    "toUInt16(number * 300) AS u16",
    "toInt32(-number) AS i32",
    "toInt128(number) AS i128",
    "toUInt256(number) AS u256",
    "toFloat32(number / 3) AS f32",
    "number / 3 AS f64",
    "toBFloat16(number) AS bf16",
    "toBool(number % 2) AS flag",
    "toDate('2024-01-01') + number AS day",
    "toDate32('1960-01-01') + number AS day32",
    "toDateTime(1700000000 + number, 'Asia/Ho_Chi_Minh') AS at",
    "toDateTime64(1700000000 + number / 4, 3, 'UTC') AS at64",
    "toDecimal32(number / 4, 2) AS d32",
    "toDecimal64(number / 4, 6) AS d64",
    "toDecimal128(number / 4, 10) AS d128",
    "toDecimal256(number / 4, 20) AS d256",
    "toString(number) AS s",
    "repeat('ab', 100 * number) AS long_s",  # lengths 0 .. 800: one- and two-byte varints
    "toFixedString(toString(number), 3) AS fs",
    "toUUID(concat('00000000-0000-0000-0000-00000000000', toString(number % 10))) AS id",
    "toIPv4(3232235776 + number) AS ip4",
    "toIPv6(concat('::', toString(number + 1))) AS ip6",
    "CAST(number % 2 + 1 AS Enum8('on, line' = 1, 'it\\'s' = 2)) AS e8",
    "CAST(number % 2 + 1000 AS Enum16('a' = 1000, 'b' = 1001)) AS e16",
    "toIntervalSecond(number) AS every",
    "CAST(number AS Time) AS t",
    "CAST(number AS Time64(3)) AS t64",
    "NULL AS nothing",
    "if(number % 2, NULL, number) AS n_u64",
    "if(number % 3 = 0, NULL, toString(number)) AS n_s",
    "range(number) AS a_u64",
    "arrayMap(x -> toString(x), range(number)) AS a_s",
    "[range(number), []] AS a_a",
    "[] AS a_nothing",
    "arrayMap(x -> if(x % 2, NULL, toString(x)), range(number)) AS a_ns",
    "map(toString(number), number, 'k', 7) AS m",
    "CAST(map(toString(number % 2), [number]) AS Map(LowCardinality(String), Array(UInt64))) AS m_lc",
    "(number, toString(number)) AS tup",
    "CAST((number, toString(number)) AS Tuple(`a b` UInt64, c String)) AS named",
    "() AS empty_tuple",
    "CAST([(number, toString(number))] AS Nested(x UInt64, y String)) AS nested",
    "toLowCardinality(toString(number % 3)) AS lc",
    "toLowCardinality(if(number % 2, NULL, toString(number))) AS lc_n",
    "arrayMap(x -> toLowCardinality(toString(x)), range(number)) AS a_lc",
    "CAST([], 'Array(LowCardinality(String))') AS a_lc_none",  # no elements in the block: no LowCardinality data
    "(toLowCardinality(toString(number)), [toLowCardinality(toString(number))]) AS tup_lc",
    "toLowCardinality(toFixedString(toString(number % 4), 2)) AS lc_fs",
    "if(number % 3 = 0, NULL, if(number % 3 = 1, toString(number)::Variant(String, UInt64),"
    " number::Variant(String, UInt64))) AS v",
    "if(number % 2, NULL, toLowCardinality(toString(number)))::Variant(LowCardinality(String), UInt8) AS v_lc",
    "CAST(number AS SimpleAggregateFunction(max, UInt64)) AS simple",
    "(toFloat64(number), 1.5)::Point AS point",
    "[(toFloat64(number), 1.5), (2.5, 3.5)]::Ring AS ring",
]
REVISIONS = [1, 54404, 54405, 54454, 54460, 54480, MAX_REVISION]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChdbServer]:
    with ChdbServer(tmp_path_factory.mktemp("native-revision") / "chdb") as srv:
        yield srv


def post(server: ChdbServer, sql: str, **params: Any) -> tuple[int, dict[str, str], bytes]:
    url = f"{server.url}/?" + urllib.parse.urlencode({"default_format": "Native", **params})
    request = urllib.request.Request(url, data=sql.encode())
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as ex:
        return ex.code, dict(ex.headers), ex.read()


def native(server: ChdbServer, sql: str, **params: Any) -> bytes:
    status, _, body = post(server, sql, **params)
    assert status == 200, body.decode(errors="replace")
    return body


def joined(pieces: list[Any]) -> bytes:
    return b"".join(bytes(piece) for piece in pieces)


# -- the oracle: no column data is walked to build it -----------------------------------------------------


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def read_varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def one_column(server: ChdbServer, expression: str, source: str, extra: str) -> tuple[int, bytes, bytes]:
    """(rows, name and type, data) of the single block of `SELECT expression FROM source`."""
    data = native(server, select([expression], source, extra))
    columns, pos = read_varint(data, 0)
    rows, pos = read_varint(data, pos)
    assert columns == 1
    start = pos
    for _ in range(2):  # name, type
        size, pos = read_varint(data, pos)
        pos += size
    return rows, data[start:pos], data[pos:]


def expected_block(server: ChdbServer, expressions: list[str], source: str, revision: int, extra: str = "") -> bytes:
    parts = [one_column(server, expression, source, extra) for expression in expressions]
    rows = {row_count for row_count, _, _ in parts}
    assert len(rows) == 1
    out = block_info(revision) + varint(len(parts)) + varint(rows.pop())
    for _, header, data in parts:
        out += header + (b"\x00" if revision >= 54454 else b"") + data
    return out


def select(expressions: list[str], source: str, extra: str = "") -> str:
    # Without short-circuit evaluation the values under a NULL are the same in any query (else the engine
    # may fill them differently for one column alone).
    settings = "short_circuit_function_evaluation = 'disable'" + extra
    return f"SELECT {', '.join(expressions)} FROM {source} SETTINGS {settings}"


# -- the re-encoder against the oracle ----------------------------------------------------------------------


@pytest.mark.parametrize("revision", REVISIONS)
def test_every_column_kind_in_one_block(server: ChdbServer, revision: int) -> None:
    source = "numbers(5)"
    # below 54405 LowCardinality is refused (test_revisions_it_cannot_write_are_refused)
    columns = COLUMNS if revision >= 54405 else [c for c in COLUMNS if "LowCardinality" not in c]
    raw = native(server, select(columns, source))
    expected = expected_block(server, columns, source, revision)
    assert joined(reencode(raw, revision)) == expected
    # the gateway does the same for the request parameter (and leaves the body alone without one)
    assert native(server, select(columns, source), client_protocol_version=revision) == expected
    assert native(server, select(columns, source), client_protocol_version=0) == raw


@pytest.mark.parametrize("revision", [54405, 54460])
def test_a_stream_of_blocks(server: ChdbServer, revision: int) -> None:
    # max_block_size splits 11 rows into blocks of 4, 4 and 3: each is what numbers(first, count) gives
    stream = native(server, select(COLUMNS, "numbers(11)", ", max_block_size = 4"))
    expected = b"".join(
        expected_block(server, COLUMNS, f"numbers({first}, {count})", revision)
        for first, count in ((0, 4), (4, 4), (8, 3))
    )
    assert joined(reencode(stream, revision)) == expected
    assert stream.count(b"\x03u64") == 3  # three blocks came from the engine


def test_low_cardinality_with_wide_indexes_and_blocks_without_rows(server: ChdbServer) -> None:
    # 300 and 70000 distinct keys: UInt16 and UInt32 indexes
    wide = ["toLowCardinality(toString(number)) AS lc", "arrayMap(x -> toLowCardinality(toString(x)), [number]) AS a"]
    for source in ("numbers(300)", "numbers(70000)"):
        one_block = ", max_block_size = 100000"
        raw = native(server, select(wide, source, one_block))
        assert joined(reencode(raw, 54460)) == expected_block(server, wide, source, 54460, one_block)
    # chdb answers an empty result with no block at all; a block of no rows has headers and no data
    assert native(server, select(COLUMNS, "numbers(0)")) == b"" and reencode(b"", 54460) == []
    headers = [one_column(server, expression, "numbers(1)", "")[1] for expression in COLUMNS]
    header_block = varint(len(headers)) + varint(0) + b"".join(headers)
    assert joined(reencode(header_block, 54460)) == block_info(54460) + varint(len(headers)) + varint(0) + b"".join(
        header + b"\x00" for header in headers
    )


def test_block_info_by_revision() -> None:
    assert block_info(1) == block_info(54460) == bytes.fromhex("01 00 02 ff ff ff ff 00")
    # from revision 54480 a server writes field 3, out_of_order_buckets, as an empty list
    assert block_info(54480) == block_info(MAX_REVISION) == bytes.fromhex("01 00 02 ff ff ff ff 03 00 00")
    raw = b"\x01\x01\x01x\x05UInt8\x07"
    assert joined(reencode(raw, 54453)) == block_info(1) + raw
    assert joined(reencode(raw, 54454)) == block_info(1) + b"\x01\x01\x01x\x05UInt8\x00\x07"
    assert reencode(raw, 0) == [raw]
    assert client_revision(None) == 0 and client_revision("54460") == 54460


# -- refusals -------------------------------------------------------------------------------------------


def exception_of(response: tuple[int, dict[str, str], bytes]) -> tuple[int, str, str]:
    status, headers, body = response
    return status, headers.get("X-ClickHouse-Exception-Code", ""), body.decode()


@pytest.mark.parametrize(
    ("sql", "what"),
    [
        ("SELECT 1 AS ok, sumState(number) AS state FROM numbers(3)", "AggregateFunction(sum, UInt64)"),
        ("SELECT number::Dynamic AS d FROM numbers(3)", "Dynamic"),
        ("SELECT '{\"a\": 1}'::JSON AS j", "JSON"),
    ],
)
def test_a_type_it_cannot_walk_is_refused(server: ChdbServer, sql: str, what: str) -> None:
    status, code, text = exception_of(post(server, sql, client_protocol_version=54460))
    assert (status, code) == (500, "48")
    assert text.startswith("Code: 48. DB::Exception: The chdb gateway cannot write column")
    assert what in text and "NOT_IMPLEMENTED" in text and "(version " in text
    assert post(server, sql)[0] == 200  # revision 0 needs no walking


def test_revisions_it_cannot_write_are_refused(server: ChdbServer) -> None:
    # from 54492 String columns have another layout: refused before the statement runs
    status, code, text = exception_of(
        post(server, "CREATE TABLE never (a UInt8) ENGINE = Memory FORMAT Native", client_protocol_version=54492)
    )
    assert (status, code) == (400, "48") and "up to 54491" in text
    assert post(server, "EXISTS TABLE never", default_format="TabSeparated")[2] == b"0\n"
    # a statement without a Native result is not affected
    assert post(server, "SELECT 1", default_format="CSV", client_protocol_version=54492)[2] == b"1\n"

    status, code, text = exception_of(post(server, "SELECT 1", client_protocol_version="54460x"))
    assert (status, code) == (400, "72") and "client_protocol_version" in text

    # a client below 54405 gets LowCardinality columns as their inner type: not converted here
    status, code, text = exception_of(post(server, "SELECT toLowCardinality('a') AS lc", client_protocol_version=54404))
    assert (status, code) == (500, "48") and "LowCardinality" in text
    assert post(server, "SELECT 'a' AS s", client_protocol_version=54404)[0] == 200


# -- decoded by the clients -------------------------------------------------------------------------------

# What clickhouse-connect can read of COLUMNS.
CONNECT_COLUMNS = [
    c
    for c in COLUMNS
    if not c.endswith((" bf16", " t", " t64", " every", " v", " v_lc", " empty_tuple", " nothing", " a_nothing"))
]


@pytest.fixture(scope="module")
def clients(server: ChdbServer) -> Iterator[tuple[Client, Client]]:
    """clickhouse-connect as it connects (it probes the revision: 54405) and with the probe turned off (0)."""
    probing = clickhouse_connect.get_client(host="127.0.0.1", port=server.port)
    client_common.set_setting("use_protocol_version", False)
    try:
        plain = clickhouse_connect.get_client(host="127.0.0.1", port=server.port)
    finally:
        client_common.set_setting("use_protocol_version", True)
    yield probing, plain
    probing.close()
    plain.close()


def test_clickhouse_connect_reads_revision_54405_as_revision_0(clients: tuple[Client, Client]) -> None:
    probing, plain = clients
    assert (probing.protocol_version, plain.protocol_version) == (54405, 0)
    sql = select(CONNECT_COLUMNS, "numbers(11)", ", max_block_size = 4")
    with_block_info = probing.query(sql)
    without = plain.query(sql)
    assert [t.name for t in with_block_info.column_types] == [t.name for t in without.column_types]
    assert with_block_info.result_rows == without.result_rows and len(without.result_rows) == 11
    with probing.query_rows_stream("SELECT number, toString(number) FROM numbers(200000)") as stream:
        assert sum(row[0] for row in stream) == sum(range(200_000))


# What the probe prints as plain JSON values.
PROBE_COLUMNS = [
    "number AS u64",
    "toInt32(-number) AS i32",
    "number / 4 AS f64",
    "toString(number) AS s",
    "repeat('ab', 100 * number) AS long_s",
    "if(number % 2, NULL, number) AS n_u64",
    "if(number % 3 = 0, NULL, toString(number)) AS n_s",
    "range(number) AS a_u64",
    "arrayMap(x -> toString(x), range(number)) AS a_s",
    "map(toString(number), number) AS m",
    "toLowCardinality(toString(number % 3)) AS lc",
    "toLowCardinality(if(number % 2, NULL, toString(number))) AS lc_n",
    "arrayMap(x -> toLowCardinality(toString(x)), range(number)) AS a_lc",
    "toDateTime64(1700000000 + number / 4, 3, 'UTC') AS at64",
    "toDecimal64(number / 4, 2) AS d64",
    "CAST(number % 2 + 1 AS Enum8('on' = 1, 'off' = 2)) AS e8",
]


@pytest.mark.skipif(not PROBE.exists(), reason="the clickhouse-go probe is not built (make grafana-build)")
def test_clickhouse_go_reads_revision_54460(server: ChdbServer, clients: tuple[Client, Client]) -> None:
    sql = select(PROBE_COLUMNS, "numbers(11)", ", max_block_size = 4")
    done = subprocess.run(
        [str(PROBE), server.url.removeprefix("http://"), "default"],
        input=json.dumps([sql, "SELECT displayName() AS name, revision() AS r"]),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    answer, hello = (json.loads(line) for line in done.stdout.splitlines())
    assert "error" not in answer, answer
    assert hello["rows"][0][1] > 54460
    reference = clients[1].query(sql)
    assert answer["columns"] == list(reference.column_names)
    assert answer["types"] == [t.name for t in reference.column_types]
    assert len(answer["rows"]) == 11

    def same(got: Any, want: Any) -> bool:
        if hasattr(want, "timestamp"):
            return got == round(want.timestamp() * 1000)
        if isinstance(want, float) or hasattr(want, "as_tuple"):  # Float64, Decimal
            return math.isclose(float(got), float(want))
        if isinstance(want, dict):
            return {str(k): v for k, v in want.items()} == got
        return got == want

    for got_row, want_row in zip(answer["rows"], reference.result_rows, strict=True):
        for name, got, want in zip(answer["columns"], got_row, want_row, strict=True):
            assert same(got, want), (name, got, want)
