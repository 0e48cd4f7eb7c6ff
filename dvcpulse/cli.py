"""The `dvcpulse` command. Subcommands live in dvcpulse/commands/, one module per command or group."""

from __future__ import annotations

import typer

from dvcpulse.commands import broker, dashboards, db, publish, schema, simulate, sql, up, worker

app = typer.Typer(
    name="dvcpulse",
    help="Near-real-time counts and online rates of Vietnam's public-service filings (Project 06).",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)

# `dvcpulse --help` lists the single commands in this order, then the groups (schema, db, dashboards).
for _module in (schema, publish, simulate, broker, worker, db, sql, up, dashboards):
    _module.register(app)
