"""`dvcpulse dashboards`: build, check, push and preview the Grafana dashboards (dashboards/)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer

from dvcpulse.commands.common import DATA_DIR_HELP, fail, group, load_settings, require_data


def build_command(
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Root to write under: DIR/json/*.json and DIR/provisioning/alerting/rules.yaml "
            "[default: the dashboards/ package, i.e. the committed files].",
        ),
    ] = None,
    rate_drop_points: Annotated[
        float,
        typer.Option(
            "--rate-drop-points",
            help="Alert when a province's 1 h online rate is this many points below its 7-day baseline.",
        ),
    ] = 10.0,
) -> None:
    """Write the dashboards' JSON (sorted keys, stable ids) and the alert-rule provisioning file."""
    from dvcpulse.dashboards import build
    from dvcpulse.dashboards.alerts import AlertConfig

    database = load_settings().clickhouse_database
    for path in build.write(out or build.ROOT, AlertConfig(rate_drop_points=rate_drop_points), database):
        typer.echo(f"wrote {path}")


def check_command(
    root: Annotated[
        Path | None, typer.Option("--root", help="Where the committed files are [default: dashboards/].")
    ] = None,
) -> None:
    """Exit 1 when the committed JSON/YAML differs from what the code builds."""
    from dvcpulse.dashboards import build

    problems = build.differences(root or build.ROOT, load_settings().clickhouse_database)
    for problem in problems:
        typer.echo(problem, err=True)
    if problems:
        fail("the committed files differ from the build: run `dvcpulse dashboards build` and commit the result", code=1)
    typer.echo("dashboards are up to date")


def push_command(
    url: Annotated[str, typer.Option("--url", help="Grafana base URL, e.g. http://localhost:3000")],
    token: Annotated[str, typer.Option("--token", envvar="GRAFANA_TOKEN", help="Service-account token.")],
    folder: Annotated[str, typer.Option("--folder", help="Folder title (created when missing).")] = "dvcpulse",
) -> None:
    """Create or overwrite the dashboards in Grafana through its HTTP API."""
    from grafana_client.client import GrafanaException

    from dvcpulse.dashboards import build
    from dvcpulse.dashboards.push import push

    try:
        urls = push(url, token, build.dashboards(load_settings().clickhouse_database), folder)
    except GrafanaException as error:
        fail(f"Grafana refused the push: {error}")
    except OSError as error:
        fail(f"cannot reach Grafana at {url}: {error}")
    for pushed in urls:
        typer.echo(f"pushed {pushed}")


def preview_command(
    out: Annotated[Path, typer.Option("--out", "-o", help="HTML file to write.")] = Path("out/toan-quoc.html"),
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help=DATA_DIR_HELP)] = None,
    hours: Annotated[
        float, typer.Option("--hours", help="Time range: the last N hours (the dashboard default).")
    ] = 6.0,
    png: Annotated[bool, typer.Option("--png/--no-png", help="Also a PNG when headless Chromium is available.")] = True,
) -> None:
    """Render the national overview's panels from real query results into a self-contained HTML file."""
    from dvcpulse.dashboards import build, macros, overview
    from dvcpulse.dashboards.preview import write_preview
    from dvcpulse.sinks.connection import connect

    settings = load_settings(data_dir)
    require_data(settings)
    client = connect(settings)
    try:
        preview = write_preview(
            client,
            build.dashboard_json(overview, settings.clickhouse_database),
            out,
            ctx=macros.last(timedelta(hours=hours)),
            png=png,
        )
    finally:
        client.close()
    typer.echo(f"wrote {preview.html}")
    typer.echo(preview.note)


def register(app: typer.Typer) -> None:
    dashboards_app = group(help="Grafana dashboards and alert rules, built as code.", no_args_is_help=True)
    dashboards_app.command("build")(build_command)
    dashboards_app.command("check")(check_command)
    dashboards_app.command("push")(push_command)
    dashboards_app.command("preview")(preview_command)
    app.add_typer(dashboards_app, name="dashboards")
