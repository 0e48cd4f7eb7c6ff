"""`dvcpulse db migrate|serve`: the ClickHouse schema and the embedded engine's gateway."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dvcpulse.commands.common import DATA_DIR_HELP, fail, group, load_settings
from dvcpulse.sinks.connection import connect, describe, resolve_dsn
from dvcpulse.sinks.migrate import available, changed_since_applied, migrate


def migrate_command(data_dir: Annotated[Path | None, typer.Option("--data-dir", help=DATA_DIR_HELP)] = None) -> None:
    """Apply pending schema migrations (idempotent; each one is recorded in schema_migrations)."""
    settings = load_settings(data_dir)
    dsn = resolve_dsn(settings)
    client = connect(settings, database="", dsn=dsn)
    applied = migrate(client, settings.clickhouse_database)
    for migration in applied:
        typer.echo(f"applied {migration.version:04d}_{migration.name}")
    changed = changed_since_applied(client, settings.clickhouse_database)
    for migration in changed:
        typer.secho(
            f"warning: {migration.version:04d}_{migration.name} changed after it was applied; "
            "add a new migration instead of editing an applied one",
            fg=typer.colors.YELLOW,
            err=True,
        )
    typer.echo(
        f"{describe(dsn)}: schema {settings.clickhouse_database} at version "
        f"{max(m.version for m in available()):04d} ({len(applied)} applied now)"
    )


def serve_command(
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help=DATA_DIR_HELP)] = None,
    port: Annotated[
        int, typer.Option("--port", show_default=False, help="Port on 127.0.0.1 [default: a free one].")
    ] = 0,
) -> None:
    """Serve the embedded chdb over ClickHouse's HTTP interface, so several processes can share it."""
    from dvcpulse.sinks.chdb_endpoint import find_running_server
    from dvcpulse.sinks.chdb_server import serve_forever

    settings = load_settings(data_dir)
    if settings.clickhouse_dsn:
        fail("CLICKHOUSE_DSN is set: there is a ClickHouse server already, nothing to serve")
    running = find_running_server(settings.chdb_path)
    if running:
        fail(f"{settings.chdb_path} is already served at {running}")
    settings.chdb_path.mkdir(parents=True, exist_ok=True)
    serve_forever(settings.chdb_path, "127.0.0.1", port)


def register(app: typer.Typer) -> None:
    db_app = group(help="ClickHouse schema and the embedded engine.", no_args_is_help=True)
    db_app.command("migrate")(migrate_command)
    db_app.command("serve")(serve_command)
    app.add_typer(db_app, name="db")
