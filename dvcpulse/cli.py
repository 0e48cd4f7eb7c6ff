"""The `dvcpulse` command. Subcommands live in dvcpulse/commands/, one module per group."""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="dvcpulse",
    help="Near-real-time counts and online rates of Vietnam's public-service filings (Project 06).",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)

COMMAND_MODULES = ("schema", "publish", "simulate", "broker", "worker", "db", "sql", "up", "dashboards")

for _name in COMMAND_MODULES:
    try:
        _module = importlib.import_module(f"dvcpulse.commands.{_name}")
    except ModuleNotFoundError as error:  # a group still being written is simply absent
        if error.name != f"dvcpulse.commands.{_name}":
            raise
        continue
    _module.register(app)
