"""Helpers shared by the command modules: settings with command-line overrides, clean fatal errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any, NoReturn

import typer
from pydantic import AliasChoices, ValidationError

from dvcpulse.settings import Settings, get_settings

DATA_DIR_HELP = "Kafka broker and ClickHouse data directory [default: DVCPULSE_DATA_DIR or ./data]."


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
