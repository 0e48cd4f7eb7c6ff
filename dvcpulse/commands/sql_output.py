"""How `dvcpulse sql` prints a result: a table when it fits the terminal, else one `column: value` per line
(ClickHouse's Vertical layout), or csv/tsv/json/jsonl for scripts. Nothing is ever cut off."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import IO, Any

import orjson
from rich.console import Console
from rich.table import Table


class OutputFormat(StrEnum):
    auto = "auto"  # table when it fits the terminal's width, else vertical
    table = "table"
    vertical = "vertical"
    csv = "csv"
    tsv = "tsv"
    json = "json"
    jsonl = "jsonl"


def plain(value: Any) -> Any:
    """A value as JSON can hold it (dates in ISO 8601, decimals as exact strings)."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def text(value: Any) -> str:
    return "NULL" if value is None else str(plain(value))


def _numeric(rows: Sequence[Sequence[Any]], index: int) -> bool:
    values = [row[index] for row in rows if row[index] is not None]
    return bool(values) and all(isinstance(v, int | float | Decimal) and not isinstance(v, bool) for v in values)


def table_of(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> Table:
    table = Table(header_style="bold")
    for index, name in enumerate(columns):
        # never "…": a long value wraps within its cell; numbers line up on the right
        table.add_column(name, overflow="fold", justify="right" if _numeric(rows, index) else "left")
    for row in rows:
        table.add_row(*(text(v) for v in row))
    return table


def fits(console: Console, table: Table) -> bool:
    """Whether the table shows every header and value on one line each at the console's width."""
    unbounded = console.options.update_width(1_000_000)  # measured at the console's width, it always "fits"
    return console.measure(table, options=unbounded).maximum <= console.width


def vertical(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """One block per row, one `column: value` line per column, names aligned (ClickHouse's Vertical format)."""
    width = max((len(name) for name in columns), default=0) + 1
    blocks = []
    for number, row in enumerate(rows, 1):
        title = f"Row {number}:"
        lines = [title, "─" * len(title)]
        lines += [f"{name + ':':<{width}} {text(value)}" for name, value in zip(columns, row, strict=True)]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _tsv_field(value: Any) -> str:
    if value is None:
        return "\\N"
    escaped = str(plain(value)).replace("\\", "\\\\")
    return escaped.replace("\t", "\\t").replace("\n", "\\n")


def write_result(
    columns: Sequence[str], rows: Sequence[Sequence[Any]], fmt: OutputFormat, out: IO[bytes], console: Console
) -> None:
    """Print a result on `console` (human formats) or `out` (script formats)."""
    if fmt in (OutputFormat.auto, OutputFormat.table, OutputFormat.vertical):
        table = table_of(columns, rows)
        if fmt is OutputFormat.vertical or (fmt is OutputFormat.auto and rows and not fits(console, table)):
            if rows:
                console.print(vertical(columns, rows), highlight=False, markup=False, soft_wrap=True)
        else:
            console.print(table)
        console.print(f"{len(rows):,} row{'s' if len(rows) != 1 else ''}", style="dim")
    elif fmt in (OutputFormat.csv, OutputFormat.tsv):
        buffer = io.StringIO()
        if fmt is OutputFormat.csv:
            writer = csv.writer(buffer, lineterminator="\n")
            writer.writerow(columns)
            writer.writerows([["" if v is None else plain(v) for v in row] for row in rows])
        else:
            buffer.write("\t".join(columns) + "\n")
            buffer.writelines("\t".join(_tsv_field(v) for v in row) + "\n" for row in rows)
        out.write(buffer.getvalue().encode())
    else:
        records = [{c: plain(v) for c, v in zip(columns, row, strict=True)} for row in rows]
        if fmt is OutputFormat.json:
            out.write(orjson.dumps(records, default=str, option=orjson.OPT_INDENT_2) + b"\n")
        else:
            out.writelines(orjson.dumps(record, default=str) + b"\n" for record in records)
