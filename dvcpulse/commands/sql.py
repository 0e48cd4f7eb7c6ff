"""`dvcpulse sql "SELECT ..."`: run a query on the configured ClickHouse (embedded chdb too).

Errors point at the user's own SQL: clickhouse-connect appends "FORMAT Native" to every query, so ClickHouse's
own message quotes text the user never typed (and a query cut short can swallow it: `SELECT 1 +` then reads
"Unknown identifier FORMAT"). After a failure the SQL alone is parsed with formatQuery(), whose syntax errors
give positions in the user's text, shown under it with a caret.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Annotated

import typer
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError, OperationalError
from rich.console import Console

from dvcpulse.commands.common import DATA_DIR_HELP, fail, load_settings, no_data_message, require_data
from dvcpulse.commands.errors import explain
from dvcpulse.commands.sql_output import OutputFormat, write_result
from dvcpulse.settings import Settings
from dvcpulse.sinks.connection import connect

_EXCEPTION = re.compile(r"Code: (\d+)\. DB::Exception: (.*?)(?: \([A-Z_]+\))?(?: \(version [\d.]+\))?\s*$", re.S)
_POSITION = re.compile(r"failed at position (\d+)")
_REASON = re.compile(r"((?:Expected|Unmatched) .*?)(?:: In scope .*|\.)?$", re.S)
_SHOWN_ALTERNATIVES = 8
SYNTAX_ERROR = 62
UNKNOWN_DATABASE = 81


def clickhouse_message(error: BaseException) -> tuple[int | None, str]:
    """(ClickHouse error code, its message without the code, the exception name and the server version)."""
    match = _EXCEPTION.search(str(error))
    if not match:
        return None, str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return int(match[1]), match[2].strip()


def _shorter(reason: str) -> str:
    """ClickHouse lists every token it could have taken; the first few say enough."""
    head, sep, options = reason.partition("Expected one of: ")
    alternatives = options.rstrip(".").split(", ")
    if not sep or len(alternatives) <= _SHOWN_ALTERNATIVES:
        return reason.rstrip(".")
    return f"{head}expected one of: {', '.join(alternatives[:_SHOWN_ALTERNATIVES])}, …"


def syntax_error(query: str, message: str) -> str | None:
    """A syntax error as the user's line, column and a caret under their SQL; None if not a syntax error."""
    position = _POSITION.search(message)
    if not position:
        return None
    # ClickHouse counts bytes from 1; the caret goes under characters
    before = query.encode()[: int(position[1]) - 1].decode(errors="ignore")
    line_number = before.count("\n") + 1
    column = len(before) - (before.rfind("\n") + 1) + 1
    lines = query.split("\n")
    shown = lines[line_number - 1] if line_number <= len(lines) else ""
    where = "at the end" if len(before) >= len(query.rstrip()) else f"at line {line_number}, column {column}"
    found = _REASON.search(message[position.end() :])
    reason = _shorter(found[1]) if found else "the SQL cannot be parsed there"
    reason = reason[0].lower() + reason[1:]
    return f"SQL syntax error {where}: {reason}\n  {shown}\n  {' ' * (column - 1)}^"


def explain_query_error(client: Client, query: str, error: ClickHouseError, settings: Settings) -> str:
    """What went wrong with the user's query, in terms of their SQL and their data dir."""
    try:
        client.query("SELECT formatQuery({sql:String})", parameters={"sql": query})
    except ClickHouseError as parse_error:
        code, message = clickhouse_message(parse_error)
        shown = syntax_error(query, message) if code == SYNTAX_ERROR else None
        if shown:
            return shown
    code, message = clickhouse_message(error)
    if code == UNKNOWN_DATABASE and not settings.clickhouse_dsn:
        return f"{message}: {no_data_message(settings)}"
    return message.replace("\n FORMAT Native", "").replace(" FORMAT Native", "")


def sql(
    query: Annotated[str, typer.Argument(metavar="SQL", help="The SQL to run; the default database is dvcpulse.")],
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help=DATA_DIR_HELP)] = None,
    output_format: Annotated[
        OutputFormat,
        typer.Option(
            "--format",
            "-f",
            help="auto: a table when it fits the terminal, else one `column: value` line each (vertical); "
            "or table, vertical, csv, tsv, json (one array), jsonl.",
        ),
    ] = OutputFormat.auto,
) -> None:
    """Print a query result: a table, one line per column when it is too wide, or csv/tsv/JSON for scripts."""
    settings = load_settings(data_dir)
    require_data(settings)
    try:
        client = connect(settings)
    except OperationalError as error:  # no gateway and the data dir locked, or a server that does not answer
        fail(explain(error, dsn=settings.clickhouse_dsn), code=1)
    try:
        result = client.query(query)
    except OperationalError as error:
        fail(explain(error, dsn=settings.clickhouse_dsn), code=1)
    except ClickHouseError as error:
        fail(explain_query_error(client, query, error, settings), code=1)
    finally:
        client.close()
    write_result(list(result.column_names), result.result_rows, output_format, sys.stdout.buffer, Console())
    sys.stdout.flush()


def register(app: typer.Typer) -> None:
    app.command("sql")(sql)
