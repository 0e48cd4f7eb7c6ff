"""Helpers shared by the command modules: settings with command-line overrides, clean fatal errors, how to
call dvcpulse again, and where the data is."""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from pathlib import Path
from typing import Any, NoReturn

import typer
from pydantic import AliasChoices, ValidationError

from dvcpulse.settings import Settings, get_settings

# Help texts are rendered by click's plain formatter (see group()), so "[default: …]" is shown as written.
DATA_DIR_HELP = "Kafka broker and ClickHouse data directory [default: DVCPULSE_DATA_DIR or ./data]."


def group(**options: Any) -> typer.Typer:
    """A Typer app or command group whose help shows every text as written.

    Typer's Rich help reads "[default: …]" in a help text as markup and drops it ("Filings to simulate ."),
    and labels flags "<bool>" as if they took a value; click's own formatter does neither.
    """
    return typer.Typer(rich_markup_mode=None, **options)


def load_settings(data_dir: Path | None = None, **overrides: Any) -> Settings:
    """Settings from the environment, with the options given on the command line applied on top.

    Each override is a Settings field, given by the option --FIELD-NAME (None: not given). The result is
    validated like the environment is, so a value outside a field's constraints stops the command here.
    """
    unknown = sorted(overrides.keys() - Settings.model_fields.keys())
    if unknown:
        raise TypeError(f"not a setting: {', '.join(unknown)}")
    update = {key: value for key, value in overrides.items() if value is not None}
    if data_dir is not None:
        update["data_dir"] = data_dir
    current = get_settings()
    if not update:
        return current
    try:
        # Every field is passed, and passed values outrank the environment, so only `update` changes; model_dump
        # leaves SecretStr values wrapped, which validation takes back as they are.
        return Settings.model_validate({**current.model_dump(), **update})
    except ValidationError as error:
        problems = [f"invalid value for --{_field(e['loc']).replace('_', '-')}: {e['msg']}" for e in error.errors()]
        fail("; ".join(problems))


def _field(loc: tuple[int | str, ...]) -> str:
    """The field an error location names: pydantic-settings reports a field with env aliases by its first alias."""
    name = str(loc[0]) if loc else ""
    for field_name, field in Settings.model_fields.items():
        alias = field.validation_alias
        if name in (field_name, alias, *(alias.choices if isinstance(alias, AliasChoices) else ())):
            return field_name
    return name


def fail(message: str, code: int = 2) -> NoReturn:
    """Print `error: MESSAGE` in red on stderr and exit with `code` (2, as for a usage error, unless given)."""
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def shown_path(path: Path) -> str:
    """A path as a user would type it from here: relative under the working directory, else absolute."""
    absolute = path.resolve()
    try:
        relative = absolute.relative_to(Path.cwd().resolve())
    except ValueError:
        return str(absolute)
    return str(relative) if relative.parts else "."


def cli_command() -> str:
    """How to run dvcpulse from this shell: `dvcpulse` when that is this installation on PATH, else its path
    (`.venv/bin/dvcpulse` after `make up`), else `python -m dvcpulse`."""
    script = Path(sys.executable).parent / "dvcpulse"
    on_path = shutil.which("dvcpulse")
    if on_path and script.exists() and Path(on_path).resolve() == script.resolve():
        return "dvcpulse"
    if script.exists() and os.access(script, os.X_OK):
        return shlex.quote(shown_path(script))
    return f"{shlex.quote(sys.executable)} -m dvcpulse"


def has_embedded_data(settings: Settings) -> bool:
    """Whether the embedded engine's data dir exists (a query there can find dvcpulse's tables)."""
    return settings.chdb_path.is_dir()


def require_data(settings: Settings) -> None:
    """Stop with a message naming the data dir looked at when embedded mode has no data there.

    Opening chdb on a missing dir would create it (and ./data in a folder that never held a run) and then
    answer "Database dvcpulse does not exist", which says nothing about where it looked.
    """
    if settings.clickhouse_dsn or has_embedded_data(settings):
        return
    fail(no_data_message(settings), code=1)


def no_data_message(settings: Settings) -> str:
    return (
        f"no dvcpulse data in {settings.data_dir.resolve()} (the data dir: --data-dir, else DVCPULSE_DATA_DIR, "
        f"else ./data): run `{cli_command()} up` first, or point at a run's data with --data-dir DIR or "
        "DVCPULSE_DATA_DIR=DIR (or at a ClickHouse server with CLICKHOUSE_DSN)"
    )
