"""`dvcpulse sql "SELECT ..."`: run a query on the configured ClickHouse (embedded chdb too)."""

from __future__ import annotations

import sys
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.table import Table

from dvcpulse.commands.common import DATA_DIR_HELP, fail, load_settings
from dvcpulse.sinks.connection import connect


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def render_table(columns: list[str], rows: list[tuple]) -> Table:
    table = Table(show_lines=False, header_style="bold")
    for name in columns:
        table.add_column(name)
    for row in rows:
        table.add_row(*("NULL" if v is None else str(_plain(v)) for v in row))
    return table


def sql(
    query: Annotated[str, typer.Argument(help="The SQL to run; the default database is dvcpulse.")],
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help=DATA_DIR_HELP)] = None,
    output_format: Annotated[str, typer.Option("--format", "-f", help="table, json (one array) or jsonl.")] = "table",
) -> None:
    """Print a query result as a table (or JSON for scripts)."""
    from clickhouse_connect.driver.exceptions import ClickHouseError

    settings = load_settings(data_dir)
    try:
        client = connect(settings)
        result = client.query(query)
    except ClickHouseError as error:
        fail(str(error).strip().splitlines()[0] if str(error).strip() else repr(error), code=1)
    columns = list(result.column_names)
    rows = result.result_rows
    if output_format == "table":
        console = Console()
        console.print(render_table(columns, rows))
        console.print(f"{len(rows)} row{'s' if len(rows) != 1 else ''}", style="dim")
    elif output_format in {"json", "jsonl"}:
        records = [{c: _plain(v) for c, v in zip(columns, row, strict=True)} for row in rows]
        if output_format == "json":
            sys.stdout.buffer.write(orjson.dumps(records, option=orjson.OPT_INDENT_2) + b"\n")
        else:
            for record in records:
                sys.stdout.buffer.write(orjson.dumps(record) + b"\n")
    else:
        fail(f"unknown --format {output_format!r}: use table, json or jsonl")


def register(app: typer.Typer) -> None:
    app.command("sql")(sql)
