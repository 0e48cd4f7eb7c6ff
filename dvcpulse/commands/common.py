"""Helpers shared by the command modules: settings with command-line overrides, clean fatal errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any, NoReturn

import typer

from dvcpulse.settings import Settings, get_settings

DATA_DIR_HELP = "Kafka broker and ClickHouse data directory [default: DVCPULSE_DATA_DIR or ./data]."


def load_settings(data_dir: Path | None = None, **overrides: Any) -> Settings:
    """Settings from the environment, with the options given on the command line applied on top."""
    update = {key: value for key, value in overrides.items() if value is not None}
    if data_dir is not None:
        update["data_dir"] = data_dir
    return get_settings().model_copy(update=update) if update else get_settings()


def fail(message: str, code: int = 2) -> NoReturn:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)
