"""`dvcpulse sql`: readable at 80 columns (a table when it fits, else one `column: value` per line), formats for
scripts, and syntax errors shown at the user's own SQL (dvcpulse/commands/sql.py, sql_output.py)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import orjson
import pytest
from rich.console import Console

from dvcpulse.commands.sql import clickhouse_message, syntax_error
from dvcpulse.commands.sql_output import OutputFormat, write_result

WIDE_COLUMNS = [
    "synced", "synced_online", "synced_in_person", "synced_postal", "synced_online_share", "submitted",
    "submitted_online", "online_rate", "full_online_rate", "status_changes",
]  # fmt: skip
WIDE_ROW = (120_000, 99_600, 19_000, 1_400, 0.8300000000000001, 120_000, 100_313, 0.8606811145510835, 0.89, 192_353)


def _printed(columns: list[str], rows: list[tuple], fmt: OutputFormat, width: int = 80) -> str:
    out = io.BytesIO()
    console = Console(width=width, file=io.StringIO(), force_terminal=False)
    write_result(columns, rows, fmt, out, console)
    return console.file.getvalue() + out.getvalue().decode()  # type: ignore[attr-defined]


def test_a_wide_result_is_shown_one_column_per_line_at_80_columns() -> None:
    text = _printed(WIDE_COLUMNS, [WIDE_ROW], OutputFormat.auto)
    lines = text.splitlines()
    assert lines[:2] == ["Row 1:", "──────"]
    assert "synced_online_share: 0.8300000000000001" in lines  # names aligned, values whole
    assert "full_online_rate:    0.89" in lines
    assert lines[-1] == "1 row"
    assert all(len(line) <= 80 for line in lines)
    assert "…" not in text


def test_a_narrow_result_is_a_table_and_nothing_is_ever_cut() -> None:
    text = _printed(["name", "synced"], [("Thành phố Hồ Chí Minh", 12_345)], OutputFormat.auto)
    assert "┃ name" in text and "Thành phố Hồ Chí Minh" in text and "12345" in text
    forced = _printed(WIDE_COLUMNS, [WIDE_ROW], OutputFormat.table)  # asked for: wrapped in cells, never "…"
    assert "…" not in forced and all(len(line) <= 80 for line in forced.splitlines())


def test_script_formats() -> None:
    columns, rows = ["day", "n", "share", "note"], [(datetime(2026, 1, 2, 3, 4), 5, Decimal("0.5"), None)]
    assert _printed(columns, rows, OutputFormat.csv) == "day,n,share,note\n2026-01-02T03:04:00,5,0.5,\n"
    assert _printed(columns, rows, OutputFormat.tsv) == "day\tn\tshare\tnote\n2026-01-02T03:04:00\t5\t0.5\t\\N\n"
    record = {"day": "2026-01-02T03:04:00", "n": 5, "share": "0.5", "note": None}
    assert orjson.loads(_printed(columns, rows, OutputFormat.json)) == [record]
    assert [orjson.loads(line) for line in _printed(columns, rows * 2, OutputFormat.jsonl).splitlines()] == [record] * 2
    assert _printed(["a"], [], OutputFormat.vertical).strip() == "0 rows"


# Messages as ClickHouse 26 gives them for formatQuery({sql:String}) (positions count bytes from 1).
SYNTAX = "Syntax error: failed at position {}: x. Expected one of: token, DoubleColon, OR, AND, IS NULL, IS NOT NULL"


def test_a_syntax_error_points_at_the_users_own_sql() -> None:
    code, message = clickhouse_message(
        "Code: 62. DB::Exception: Syntax error: failed at position 16 (v_totals): v_totals. Expected alias cannot be "
        "here: In scope SELECT formatQuery('SELECT * FROMM v_totals'). (SYNTAX_ERROR) (version 26.9.2.1)"
    )
    assert code == 62
    shown = syntax_error("SELECT * FROMM v_totals", message)
    assert shown == (
        "SQL syntax error at line 1, column 16: expected alias cannot be here\n"
        "  SELECT * FROMM v_totals\n"
        "                 ^"
    )
    shown = syntax_error("SELECT 'Hà Nội',\n  x >> 3", SYNTAX.format(26))  # multi-byte letters before the error
    assert shown is not None
    assert shown.splitlines() == [
        "SQL syntax error at line 2, column 6: expected one of: token, DoubleColon, OR, AND, IS NULL, IS NOT NULL",
        "    x >> 3",
        "       ^",
    ]
    assert syntax_error("SELECT 1 +", SYNTAX.format(11)).startswith("SQL syntax error at the end: ")  # type: ignore[union-attr]
    assert syntax_error("SELECT 1", "Unknown table expression identifier 'nope'") is None


# -- against the real engine (chdb), in child processes: chdb opens one data dir per process -----------------


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A data dir holding the schema (no events): every view answers."""
    directory = tmp_path_factory.mktemp("sql") / "data"
    _dvcpulse("db", "migrate", "--data-dir", str(directory), check=True)
    yield directory


def _dvcpulse(*args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "CLICKHOUSE_", "DVCPULSE_"))}
    env["COLUMNS"] = "80"
    return subprocess.run(
        [sys.executable, "-m", "dvcpulse", *args], env=env, capture_output=True, text=True, timeout=180, check=check
    )


@pytest.mark.integration
def test_the_readme_example_fits_80_columns(data_dir: Path) -> None:
    done = _dvcpulse("sql", "--data-dir", str(data_dir), "SELECT * FROM v_totals", check=True)
    lines = done.stdout.splitlines()
    assert lines[0] == "Row 1:" and lines[-1] == "1 row"
    assert all(len(line) <= 80 for line in lines)
    names = {line.split(":")[0] for line in lines[2:-1]}
    assert {"synced", "synced_online_share", "online_rate", "full_online_rate", "status_changes"} <= names
    done = _dvcpulse("sql", "--data-dir", str(data_dir), "-f", "jsonl", "SELECT synced FROM v_totals", check=True)
    assert orjson.loads(done.stdout) == {"synced": 0}


@pytest.mark.integration
def test_syntax_errors_show_the_users_sql_not_format_native(data_dir: Path) -> None:
    done = _dvcpulse("sql", "--data-dir", str(data_dir), "SELECT *\nFROM v_totals\nWHERE synced >> 3")
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        "error: SQL syntax error at line 3, column 15: expected one of: CAST operator, ANY, SOME, ALL, NOT, "
        "INTERVAL, CASE, DATE, …",
        "  WHERE synced >> 3",
        "                ^",
    ]
    done = _dvcpulse("sql", "--data-dir", str(data_dir), "SELECT 1 +")
    assert done.returncode == 1 and "SQL syntax error at the end" in done.stderr
    assert "FORMAT" not in done.stderr and "Traceback" not in done.stderr
    done = _dvcpulse("sql", "--data-dir", str(data_dir), "SELECT * FROM nope")
    assert done.returncode == 1
    assert done.stderr.startswith("error: Unknown table expression identifier 'nope'") and "FORMAT" not in done.stderr
