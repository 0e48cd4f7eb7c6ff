"""sinks.chdb_server as a process: `python -m dvcpulse.sinks.chdb_server` owning a real chdb data dir,
two writer processes sharing it through clickhouse-connect, a refused second owner, a clean SIGTERM.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import clickhouse_connect
import pytest

from dvcpulse.sinks.chdb_endpoint import endpoint_file, find_running_server

ROOT = Path(__file__).resolve().parents[2]
HCM = "Thành phố Hồ Chí Minh"

WRITER = """
import sys, clickhouse_connect
port, writer = int(sys.argv[1]), int(sys.argv[2])
client = clickhouse_connect.get_client(host="127.0.0.1", port=port, username="default", password="", database="shared")
for first in range(0, 20000, 2000):
    client.insert("visits", [[writer, s, "Thành phố Hồ Chí Minh"] for s in range(first, first + 2000)],
                  column_names=["writer", "seq", "province"])
"""


def wait_for_server(path: Path, proc: subprocess.Popen[bytes], timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        url = find_running_server(path)
        if url:
            return url
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    raise AssertionError("server did not come up")


@pytest.mark.integration
def test_server_process_two_writer_processes_and_sigterm(tmp_path: Path) -> None:
    data = tmp_path / "chdb"
    cmd = [sys.executable, "-m", "dvcpulse.sinks.chdb_server", "--path", str(data), "--max-concurrency", "4"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        url = wait_for_server(data, proc)
        port = urllib.parse.urlsplit(url).port
        assert port is not None
        admin = clickhouse_connect.get_client(host="127.0.0.1", port=port, username="default", password="")
        admin.command("CREATE DATABASE shared")
        admin.command(
            """CREATE TABLE shared.visits (writer UInt8, seq UInt32, province LowCardinality(String))
               ENGINE = MergeTree ORDER BY (writer, seq)"""
        )

        writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(port), str(w)], cwd=ROOT) for w in (1, 2)]
        assert [w.wait(60) for w in writers] == [0, 0]
        rows = admin.query(
            "SELECT writer, count(), uniqExact(seq), any(province) FROM shared.visits GROUP BY writer ORDER BY writer"
        ).result_rows
        assert rows == [(1, 20000, 20000, HCM), (2, 20000, 20000, HCM)]

        # a second owner for the same dir refuses to start and leaves the endpoint alone
        second = subprocess.run(cmd, cwd=ROOT, capture_output=True, timeout=60)
        assert second.returncode != 0 and b"already served" in second.stderr
        assert find_running_server(data) == url
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err.decode()
    assert b"listening on" in out
    assert not endpoint_file(data).exists()
    assert find_running_server(data) is None
