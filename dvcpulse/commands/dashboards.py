"""`dvcpulse dashboards`: build, check, push and preview the Grafana dashboards (dashboards/)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import typer

from dvcpulse.commands.common import DATA_DIR_HELP, fail, load_settings


def register(app: typer.Typer) -> None:
    dashboards_app = typer.Typer(help="Grafana dashboards and alert rules, built as code.", no_args_is_help=True)
    app.add_typer(dashboards_app, name="dashboards")

    @dashboards_app.command("build")
    def build_command(
        out: Path = typer.Option(
            None,
            "--out",
            "-o",
            help="Root to write under: DIR/json/*.json and DIR/provisioning/alerting/rules.yaml "
            "[default: the dashboards/ package, i.e. the committed files].",
        ),
        rate_drop_points: float = typer.Option(
            10.0,
            "--rate-drop-points",
            help="Alert when a province's 1 h online rate is this many points below its 7-day baseline.",
        ),
    ) -> None:
        """Write the dashboards' JSON (sorted keys, stable ids) and the alert-rule provisioning file."""
        from dvcpulse.dashboards import build
        from dvcpulse.dashboards.alerts import AlertConfig

        for path in build.write(out or build.ROOT, AlertConfig(rate_drop_points=rate_drop_points)):
            typer.echo(f"wrote {path}")

    @dashboards_app.command("check")
    def check_command(
        root: Path = typer.Option(None, "--root", help="Where the committed files are [default: dashboards/]."),
    ) -> None:
        """Exit 1 when the committed JSON/YAML differs from what the code builds."""
        from dvcpulse.dashboards import build

        problems = build.differences(root or build.ROOT)
        for problem in problems:
            typer.echo(problem, err=True)
        if problems:
            typer.echo("run `dvcpulse dashboards build` and commit the result", err=True)
            raise typer.Exit(1)
        typer.echo("dashboards are up to date")

    @dashboards_app.command("push")
    def push_command(
        url: str = typer.Option(..., "--url", help="Grafana base URL, e.g. http://localhost:3000"),
        token: str = typer.Option(..., "--token", envvar="GRAFANA_TOKEN", help="Service-account token."),
        folder: str = typer.Option("dvcpulse", "--folder", help="Folder title (created when missing)."),
    ) -> None:
        """Create or overwrite the dashboards in Grafana through its HTTP API."""
        from grafana_client.client import GrafanaException

        from dvcpulse.dashboards import build
        from dvcpulse.dashboards.push import push

        try:
            urls = push(url, token, build.dashboards(), folder)
        except GrafanaException as error:
            fail(f"Grafana refused the push: {error}")
        except OSError as error:
            fail(f"cannot reach Grafana at {url}: {error}")
        for pushed in urls:
            typer.echo(f"pushed {pushed}")

    @dashboards_app.command("preview")
    def preview_command(
        out: Path = typer.Option(Path("out/toan-quoc.html"), "--out", "-o", help="HTML file to write."),
        data_dir: Path = typer.Option(None, "--data-dir", help=DATA_DIR_HELP),
        hours: float = typer.Option(6.0, "--hours", help="Time range: the last N hours (the dashboard default)."),
        png: bool = typer.Option(True, "--png/--no-png", help="Also a PNG when headless Chromium is available."),
    ) -> None:
        """Render the national overview's panels from real query results into a self-contained HTML file."""
        from dvcpulse.dashboards import build, macros, overview
        from dvcpulse.dashboards.preview import write_preview
        from dvcpulse.sinks.connection import connect

        settings = load_settings(data_dir)
        client = connect(settings)
        try:
            preview = write_preview(
                client,
                build.dashboard_json(overview),
                out,
                ctx=macros.last(timedelta(hours=hours)),
                png=png,
            )
        finally:
            client.close()
        typer.echo(f"wrote {preview.html}")
        typer.echo(preview.note)
