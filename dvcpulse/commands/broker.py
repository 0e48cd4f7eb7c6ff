"""`dvcpulse broker`: run the local Apache Kafka broker in the foreground, with dvcpulse's topics created."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer
from aiokafka.errors import KafkaError

from dvcpulse.commands.common import DATA_DIR_HELP, fail, load_settings
from dvcpulse.embedded_broker import BrokerError, EmbeddedBroker, find_running_broker
from dvcpulse.kafka_jars import KafkaJarsError, kafka_jars, kafka_version
from dvcpulse.topics import ensure_topics


class _Stop(Exception):
    """Raised from the SIGTERM handler so that SIGTERM and Ctrl-C take the same clean path."""


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop


def broker(
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help=DATA_DIR_HELP + " The broker uses DATA_DIR/broker.")
    ] = None,
    port: Annotated[
        int | None, typer.Option("--port", min=1, max=65535, help="Port on 127.0.0.1 [default: a free one].")
    ] = None,
    fetch_only: Annotated[
        bool,
        typer.Option("--fetch-only", help="Only fetch Kafka's jars with Maven (once; later runs reuse them) and exit."),
    ] = False,
) -> None:
    """Run Apache Kafka as a local single-node broker (development) until Ctrl-C or SIGTERM, topics created."""
    if fetch_only:
        try:
            typer.echo(f"Apache Kafka {kafka_version()} jars in {kafka_jars()}")
        except KafkaJarsError as error:
            fail(str(error))
        return
    settings = load_settings(data_dir)
    directory = settings.broker_dir
    running = find_running_broker(directory)
    if running:
        fail(f"a Kafka broker for {directory} is already running at {running}")
    embedded = EmbeddedBroker(directory, port)
    previous_term = signal.signal(signal.SIGTERM, _raise_stop)
    previous_int = signal.getsignal(signal.SIGINT)
    try:
        embedded.start()
        counts = asyncio.run(ensure_topics(settings, embedded.bootstrap))
        typer.echo(f"Apache Kafka {kafka_version()} broker on {embedded.bootstrap} (data in {directory})")
        for name, partitions in counts.items():
            typer.echo(f"  topic {name}: {partitions} partitions")
        typer.echo("export KAFKA_BOOTSTRAP=" + embedded.bootstrap + "   # for clients outside dvcpulse")
        typer.echo("press Ctrl-C to stop")
        while embedded.is_running():
            time.sleep(0.5)
        fail(f"the Kafka broker exited unexpectedly:\n{embedded.log_tail()}", code=1)
    except (BrokerError, KafkaJarsError, KafkaError) as error:
        fail(str(error))
    except (KeyboardInterrupt, _Stop):
        typer.echo("stopping the Kafka broker…", err=True)
    finally:
        # A second Ctrl-C must not abandon a half-stopped broker.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        try:
            embedded.stop()
        finally:
            signal.signal(signal.SIGINT, previous_int)
            signal.signal(signal.SIGTERM, previous_term)
    typer.echo("stopped", err=True)


def register(app: typer.Typer) -> None:
    app.command("broker")(broker)
