"""The one private clickhouse-connect attribute dvcpulse sets (`options.pd`): it must keep pandas out."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

INSERT_THEN_REPORT = """
import sys
import clickhouse_connect
{setup}
client = clickhouse_connect.get_client(dsn="chdb://{path}")
client.command("CREATE TABLE t (a UInt32) ENGINE = Memory")
client.insert("t", [[1], [2]], column_names=["a"])
assert client.command("SELECT sum(a) FROM t") == 3
print("pandas" in sys.modules)
"""


def _pandas_imported(tmp_path: Path, setup: str) -> bool:
    code = INSERT_THEN_REPORT.format(setup=setup, path=tmp_path / "chdb")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    return done.stdout.strip().splitlines()[-1] == "True"


def test_an_insert_through_dvcpulse_does_not_import_pandas(tmp_path: Path) -> None:
    assert _pandas_imported(tmp_path / "plain", setup="") is True  # the attribute matters: pandas is installed
    assert _pandas_imported(tmp_path / "ours", setup="import dvcpulse.sinks.connection") is False
