"""`dvcpulse publish FILE|-`: validate a JSON Lines file of filing events and publish it to Kafka.

Exit codes: 0 all lines sent, 1 some lines rejected (the rest were sent), 2 usage or connection error.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from aiokafka.errors import KafkaError

from dvcpulse.commands.common import DATA_DIR_HELP, fail, load_settings
from dvcpulse.publisher import PublishError, PublishSummary, publish_lines, stdin_lines
from dvcpulse.topics import BrokerNotFound, resolve_bootstrap

SHOWN_REJECTS = 20


def default_rejects_path(source: str) -> Path:
    return Path("publish.rejects.jsonl") if source == "-" else Path(source + ".rejects.jsonl")


def publish(
    source: Annotated[str, typer.Argument(metavar="FILE|-", help="JSON Lines of filing events; - for stdin.")],
    topic: Annotated[str | None, typer.Option("--topic", help="Target topic [default: the events topic].")] = None,
    rejects: Annotated[
        Path | None, typer.Option("--rejects", help="Where rejected lines go (JSONL) [default: FILE.rejects.jsonl].")
    ] = None,
    envelope: Annotated[
        int, typer.Option("--envelope", min=1, help="Events per message; 1 sends one keyed event per message.")
    ] = 100,
    bootstrap: Annotated[
        str | None, typer.Option("--bootstrap", help="Kafka bootstrap servers [default: settings].")
    ] = None,
    rate: Annotated[float | None, typer.Option("--rate", min=0.001, help="Cap on events per second.")] = None,
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help=DATA_DIR_HELP + " Used to find the local Kafka broker.")
    ] = None,
    backfill: Annotated[
        bool,
        typer.Option(
            "--backfill",
            help="History: stamp each message with the file's own clock (the newest event time so far, in file "
            "order) instead of now, so old events count as they would have live; the topic must keep producer "
            "timestamps (CreateTime, Kafka's default).",
        ),
    ] = False,
) -> None:
    """Validate FILE line by line and publish the valid events; rejected lines are reported, not sent."""
    settings = load_settings(data_dir)
    if source != "-" and not Path(source).is_file():
        fail(f"no such file: {source}")
    try:
        server = bootstrap or resolve_bootstrap(settings)
    except BrokerNotFound as error:
        fail(str(error))
    rejects_path = rejects or default_rejects_path(source)
    shown = 0

    def report(line: int, reason: str) -> None:
        nonlocal shown
        if shown < SHOWN_REJECTS:
            typer.echo(f"line {line}: {reason}", err=True)
        shown += 1

    async def run() -> PublishSummary:
        common = {
            "settings": settings,
            "bootstrap": server,
            "topic": topic or settings.events_topic,
            "envelope": envelope,
            "rate": rate,
            "rejects_path": rejects_path,
            "progress": True,
            "on_reject": report,
            "backfill": backfill,
        }
        if source == "-":
            return await publish_lines(stdin_lines(), **common)
        path = Path(source)
        with path.open("rb", buffering=1 << 20) as lines:
            return await publish_lines(lines, progress_total_bytes=path.stat().st_size, **common)

    try:
        summary = asyncio.run(run())
    except OSError as error:
        fail(str(error))
    except (PublishError, KafkaError) as error:
        fail(f"publishing to {server} failed: {error}")
    if summary.rejected > SHOWN_REJECTS:
        typer.echo(f"… and {summary.rejected - SHOWN_REJECTS} more rejected lines", err=True)
    if summary.rejected:
        typer.echo(f"rejected lines written to {rejects_path}", err=True)
    typer.echo(str(summary))
    raise typer.Exit(1 if summary.rejected else 0)


def register(app: typer.Typer) -> None:
    app.command("publish")(publish)
