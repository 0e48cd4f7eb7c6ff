"""The `dvcpulse` command. Subcommands live in dvcpulse/commands/, one module per command or group."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from dvcpulse.commands import broker, dashboards, db, publish, schema, simulate, sql, up, worker
from dvcpulse.commands.errors import debug_enabled, explain, set_debug


class _Cli(typer.Typer):
    """The root command: an error nobody handled becomes one line on stderr (exit 1), unless --debug."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except Exception as error:
            if debug_enabled():
                raise
            from dvcpulse.settings import get_settings

            try:
                settings = get_settings()
                bootstrap, dsn = settings.kafka_bootstrap, settings.clickhouse_dsn
            except Exception:  # the settings themselves may be what failed
                bootstrap = dsn = None
            typer.secho(f"error: {explain(error, bootstrap, dsn)}", fg=typer.colors.RED, err=True)
            sys.exit(1)


app = _Cli(
    name="dvcpulse",
    no_args_is_help=True,
    rich_markup_mode=None,  # as every group (commands.common.group): help texts shown as written
    pretty_exceptions_show_locals=False,
)


@app.callback()
def main(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show the full traceback of an error (also DVCPULSE_DEBUG=1).")
    ] = False,
) -> None:
    """Near-real-time counts and online rates of Vietnam's public-service filings (Project 06)."""
    if debug:
        set_debug()


# `dvcpulse --help` lists the single commands in this order, then the groups (schema, db, dashboards).
for _module in (schema, publish, simulate, broker, worker, db, sql, up, dashboards):
    _module.register(app)
