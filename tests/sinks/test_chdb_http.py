"""The gateway's ClickHouse HTTP interface (sinks.chdb_http) against the real engine and the real client.

A real chdb data dir in a tmp dir, served by a real `ChdbServer` in a thread, queried through
clickhouse-connect's ordinary HTTP client and through raw HTTP requests. Nothing is mocked.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import threading
import urllib.error
import urllib.parse
import urllib.request
import zlib
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import clickhouse_connect
import lz4.frame
import pytest
from backports import zstd
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError

from dvcpulse.sinks.chdb_server import ChdbServer

DB = "dvc_test"
HCM = "Thành phố Hồ Chí Minh"
HN = "Hà Nội"
ICT = ZoneInfo("Asia/Ho_Chi_Minh")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChdbServer]:
    with ChdbServer(tmp_path_factory.mktemp("chdb-server") / "chdb") as srv:
        admin = clickhouse_connect.get_client(host="127.0.0.1", port=srv.port, username="default", password="")
        admin.command(f"CREATE DATABASE IF NOT EXISTS {DB}")
        yield srv


def make_client(server: ChdbServer, **kwargs: Any) -> Client:
    kwargs.setdefault("database", DB)
    return clickhouse_connect.get_client(host="127.0.0.1", port=server.port, username="default", password="", **kwargs)


@pytest.fixture()
def client(server: ChdbServer) -> Client:
    return make_client(server)


def http_request(
    url: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, data=body, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as ex:
        return ex.code, dict(ex.headers), ex.read()


def q(sql: str) -> str:
    return urllib.parse.quote(sql)


# --- plain HTTP -----------------------------------------------------------------------------------------


def test_ping_get_and_http_errors(server: ChdbServer) -> None:
    assert http_request(f"{server.url}/ping")[::2] == (200, b"Ok.\n")
    assert http_request(f"{server.url}/")[::2] == (200, b"Ok.\n")

    status, headers, body = http_request(f"{server.url}/?query={q(f'SELECT 1, {HCM!r}')}")
    assert (status, body.decode()) == (200, f"1\t{HCM}\n")
    assert headers["X-ClickHouse-Format"] == "TabSeparated"
    assert json.loads(headers["X-ClickHouse-Summary"])["read_rows"] == "1"
    assert headers["X-ClickHouse-Query-Id"]

    # GET is read-only, as in ClickHouse
    status, headers, body = http_request(f"{server.url}/?query={q('CREATE TABLE nope (a UInt8) ENGINE = Memory')}")
    assert status == 500 and headers["X-ClickHouse-Exception-Code"] == "164"
    assert body.startswith(b"Code: 164. DB::Exception:") and b"READONLY" in body

    status, _, body = http_request(f"{server.url}/play")
    assert status == 404 and b"There is no handle /play" in body
    status, headers, _ = http_request(server.url + "/", b"SELECT 1", {"Content-Encoding": "br"})
    assert status == 415 and headers["X-ClickHouse-Exception-Code"] == "236"
    status, _, body = http_request(server.url + "/", b"  ")
    assert status == 400 and b"Empty query" in body


def test_raw_protocol_inserts_and_encodings(server: ChdbServer) -> None:
    url = f"{server.url}/?database={DB}"
    assert http_request(url, b"CREATE TABLE raw_in (a UInt32, b String) ENGINE = MergeTree ORDER BY a")[0] == 200

    # the query parameter and the body are concatenated (query + "\n" + data)
    insert_csv = f"{url}&query={q('INSERT INTO raw_in FORMAT CSV')}"
    assert http_request(insert_csv, b"1,plain\n")[0] == 200
    assert http_request(insert_csv, zlib.compress(b"2,deflate\n"), {"Content-Encoding": "deflate"})[0] == 200
    gz = zlib.compressobj(wbits=31)
    assert http_request(insert_csv, gz.compress(b"3,gzip\n") + gz.flush(), {"Content-Encoding": "gzip"})[0] == 200
    # statement and data in the body, with a SETTINGS clause and a comment before FORMAT
    body = (
        b"INSERT INTO raw_in /* c */ SETTINGS max_insert_threads = 1 FORMAT JSONEachRow\n"
        + json.dumps({"a": 4, "b": HCM}).encode()
    )
    assert http_request(url, body)[0] == 200
    assert http_request(url, b"INSERT INTO raw_in VALUES (5, 'FORMAT x')")[0] == 200

    # chunked transfer, several lz4 frames / zstd frames in one body (clickhouse-connect frames each block)
    for encoding, frame in (("lz4", lz4.frame.compress), ("zstd", zstd.compress)):
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        frames = [frame(f"{n},{encoding}-{n}\n".encode()) for n in range(10, 13)]
        path = f"/?database={DB}&query={q('INSERT INTO raw_in FORMAT CSV')}"
        conn.request("POST", path, body=iter(frames), headers={"Content-Encoding": encoding}, encode_chunked=True)
        response = conn.getresponse()
        assert (response.status, response.read()) == (200, b"")
        conn.close()

    status, headers, body = http_request(insert_csv, lz4.frame.compress(b"99,cut\n")[:-6], {"Content-Encoding": "lz4"})
    assert status == 400 and headers["X-ClickHouse-Exception-Code"] == "271"

    _, _, rows = http_request(url, b"SELECT a, b FROM raw_in ORDER BY a, b FORMAT JSONCompactEachRow")
    assert [json.loads(line) for line in rows.splitlines()] == [
        [1, "plain"],
        [2, "deflate"],
        [3, "gzip"],
        [4, HCM],
        [5, "FORMAT x"],
        [10, "lz4-10"],
        [10, "zstd-10"],
        [11, "lz4-11"],
        [11, "zstd-11"],
        [12, "lz4-12"],
        [12, "zstd-12"],
    ]


# --- clickhouse-connect ---------------------------------------------------------------------------------


def test_client_connects_and_selects_database(server: ChdbServer, client: Client) -> None:
    assert client.server_version and client.server_version[0].isdigit()
    assert client.command("SELECT currentDatabase()") == DB
    assert make_client(server, database=None).command("SELECT currentDatabase()") == "default"
    with pytest.raises(DatabaseError, match="UNKNOWN_DATABASE"):
        make_client(server, database="no_such_db")


def test_mergetree_100k_rows_roundtrip_types(client: Client) -> None:
    client.command(
        """CREATE TABLE events (
            id UInt64, ts DateTime64(3, 'Asia/Ho_Chi_Minh'), province LowCardinality(String),
            delay Nullable(Int32), steps Array(UInt64), counts Map(UInt8, UInt64),
            channel Enum8('online' = 1, 'counter' = 2), pair Tuple(String, Float64),
            day Date, seen DateTime, score Float64, small Int8, mid UInt16
        ) ENGINE = MergeTree ORDER BY id"""
    )
    columns = [
        "id",
        "ts",
        "province",
        "delay",
        "steps",
        "counts",
        "channel",
        "pair",
        "day",
        "seen",
        "score",
        "small",
        "mid",
    ]
    start = dt.datetime(2024, 1, 1, 7, 0, tzinfo=ICT)

    def row(i: int) -> list[Any]:
        return [
            i,
            start + dt.timedelta(milliseconds=i * 1001),
            HCM if i % 2 else HN,
            None if i % 3 == 0 else -i,
            [i, i + 1],
            {1: i, 2: 2 * i},
            "online" if i % 4 else "counter",
            (f"p{i % 7}", i / 4),
            dt.date(2024, 1, 1) + dt.timedelta(days=i % 30),
            dt.datetime(2024, 2, 1) + dt.timedelta(seconds=i),
            i * 0.5,
            i % 100 - 50,
            i % 65536,
        ]

    total, batch = 100_000, 25_000
    written = 0
    for first in range(0, total, batch):
        summary = client.insert("events", [row(i) for i in range(first, first + batch)], column_names=columns)
        written += summary.written_rows
    assert written == total

    assert client.command("SELECT count() FROM events") == total
    ids = sum(range(total))
    stats = client.query(
        """SELECT countIf(delay IS NULL), sum(length(steps)), sum(steps[2]), sum(counts[2]),
                  countIf(province = {p:String}), countIf(channel = 'counter'), uniqExact(id), sum(small), max(mid)
           FROM events""",
        parameters={"p": HCM},
    ).result_rows[0]
    assert stats == (33_334, 2 * total, ids + total, 2 * ids, total // 2, total // 4, total, -50_000, 65_535)

    result = client.query("SELECT * FROM events WHERE id IN (0, 1, 99999) ORDER BY id")
    assert result.column_names == tuple(columns)
    assert [t.name for t in result.column_types] == [
        "UInt64",
        "DateTime64(3, 'Asia/Ho_Chi_Minh')",
        "LowCardinality(String)",
        "Nullable(Int32)",
        "Array(UInt64)",
        "Map(UInt8, UInt64)",
        "Enum8('online' = 1, 'counter' = 2)",
        "Tuple(String, Float64)",
        "Date",
        "DateTime",
        "Float64",
        "Int8",
        "UInt16",
    ]
    got = result.result_rows
    assert [list(r) for r in got] == [row(0), row(1), row(99_999)]
    assert got[2][1].utcoffset() == dt.timedelta(hours=7)
    assert got[2][1] == start + dt.timedelta(milliseconds=99_999 * 1001)

    named = list(
        client.query("SELECT province, count() AS n FROM events GROUP BY province ORDER BY province").named_results()
    )
    assert named == [{"province": HN, "n": 50_000}, {"province": HCM, "n": 50_000}]
    assert client.command("SELECT toTypeName(province) FROM events LIMIT 1") == "LowCardinality(String)"


# clickhouse-connect compresses inserts by default (compress=True: lz4); dvcpulse's own clients opt out.
@pytest.mark.parametrize("compress", ["lz4", "zstd", "gzip", False])
def test_insert_with_each_client_compression(server: ChdbServer, compress: str | bool) -> None:
    client = make_client(server, compress=compress)
    table = f"comp_{compress or 'none'}"
    client.command(f"CREATE TABLE {table} (id UInt32, name String) ENGINE = MergeTree ORDER BY id")
    for first in (0, 3000):
        client.insert(table, [[i, f"{HCM} {i}"] for i in range(first, first + 3000)], column_names=["id", "name"])
    assert client.query(f"SELECT count(), sum(id), max(name) FROM {table}").result_rows == [
        (6000, sum(range(6000)), f"{HCM} 999")
    ]


def test_replacing_merge_tree_final(client: Client) -> None:
    client.command(
        """CREATE TABLE dossiers (id UInt32, version UInt32, status LowCardinality(String))
           ENGINE = ReplacingMergeTree(version) ORDER BY id"""
    )
    client.insert("dossiers", [[i, 1, "đã nộp"] for i in range(1000)], column_names=["id", "version", "status"])
    client.insert("dossiers", [[i, 2, "đã xử lý"] for i in range(500)], column_names=["id", "version", "status"])
    final = client.query("SELECT status, count() FROM dossiers FINAL GROUP BY status ORDER BY status").result_rows
    assert final == [("đã nộp", 500), ("đã xử lý", 500)]
    assert client.command("SELECT count() FROM dossiers FINAL") == 1000
    client.command("OPTIMIZE TABLE dossiers FINAL")
    assert client.command("SELECT count() FROM dossiers") == 1000


def test_command_results(client: Client) -> None:
    ddl = client.command("CREATE TABLE cmd (a UInt32, b String) ENGINE = MergeTree ORDER BY a")
    assert not isinstance(ddl, (int, str, list))  # a QuerySummary: no result set
    summary = client.command("INSERT INTO cmd SELECT number, toString(number) FROM numbers(250)")
    assert summary.written_rows == 250
    client.command("ALTER TABLE cmd ADD COLUMN c UInt8 DEFAULT 7")
    assert client.command("SELECT count() FROM cmd") == 250
    assert client.command("SELECT sum(c), max(b) FROM cmd") == ["1750", "99"]
    assert client.command("SELECT b FROM cmd WHERE a = 1000") == ""  # empty result, still a result set
    assert client.command("EXISTS TABLE cmd") == 1
    assert client.command("SELECT {x:String}", parameters={"x": HN}) == HN

    lines = client.raw_query("SELECT a, b FROM cmd ORDER BY a LIMIT 2", fmt="JSONEachRow").splitlines()
    assert [json.loads(line) for line in lines] == [{"a": 0, "b": "0"}, {"a": 1, "b": "1"}]
    assert client.raw_query(f"SELECT '{HCM}' AS p", fmt="CSV").decode() == f'"{HCM}"\n'
    assert client.query("SELECT * FROM cmd LIMIT 0").column_names == ("a", "b", "c")
    with client.query_rows_stream("SELECT number FROM numbers(100000)") as stream:
        assert sum(r[0] for r in stream) == sum(range(100000))


def test_errors_surface_as_database_error(client: Client) -> None:
    with pytest.raises(DatabaseError) as bad:
        client.query("SELEC 1")
    assert bad.value.code == 62 and "Syntax error" in str(bad.value)
    with pytest.raises(DatabaseError, match="UNKNOWN_TABLE") as missing:
        client.command("SELECT count() FROM no_such_table")
    assert missing.value.code == 60
    client.command("CREATE TABLE err (a UInt8) ENGINE = MergeTree ORDER BY a")
    with pytest.raises(DatabaseError, match=r"NO_SUCH_COLUMN_IN_TABLE|No such column"):
        client.insert("err", [[1, 2]], column_names=["a", "zzz"], column_type_names=["UInt8", "UInt8"])
    assert client.command("SELECT count() FROM err") == 0
    assert client.command("SELECT 1") == 1  # the client is still usable


def test_settings_are_per_request(server: ChdbServer, client: Client) -> None:
    assert client.command("SELECT getSetting('max_block_size')", settings={"max_block_size": 1234}) == 1234
    assert client.command("SELECT getSetting('max_block_size')") != 1234  # not leaked into the next request
    client.command("CREATE TABLE ro (a UInt8) ENGINE = MergeTree ORDER BY a")
    with pytest.raises(DatabaseError, match="READONLY"):
        client.command("INSERT INTO ro VALUES (1)", settings={"readonly": 1})
    assert make_client(server, settings={"max_block_size": 777}).command("SELECT getSetting('max_block_size')") == 777
    with pytest.raises(DatabaseError, match="UNKNOWN_SETTING"):
        client.command("SELECT 1", settings={"no_such_setting": 1})
    headers = http_request(f"{server.url}/?session_timezone=Asia/Ho_Chi_Minh", b"SELECT now()")[1]
    assert headers["X-ClickHouse-Timezone"] == "Asia/Ho_Chi_Minh"
    form = make_client(server, form_encode_query_params=True)
    assert form.query("SELECT {p:String}, {n:Array(UInt8)}", parameters={"p": HCM, "n": [1, 2]}).result_rows == [
        (HCM, [1, 2])
    ]
    # parameters too long for the URL go as multipart form fields even from a default client
    assert client.command("SELECT length({s:String})", parameters={"s": "x" * 5000}) == 5000


def test_threads_share_one_server(server: ChdbServer, client: Client) -> None:
    client.command("CREATE TABLE threaded (writer UInt8, seq UInt32) ENGINE = MergeTree ORDER BY (writer, seq)")
    errors: list[BaseException] = []

    def work(writer: int) -> None:
        try:
            own = make_client(server)
            for first in range(0, 5000, 500):
                own.insert("threaded", [[writer, s] for s in range(first, first + 500)], column_names=["writer", "seq"])
                own.query("SELECT count() FROM threaded")
        except BaseException as ex:  # surfaced by the assert below
            errors.append(ex)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert client.query(
        "SELECT writer, count(), uniqExact(seq) FROM threaded GROUP BY writer ORDER BY writer"
    ).result_rows == [(w, 5000, 5000) for w in range(4)]
