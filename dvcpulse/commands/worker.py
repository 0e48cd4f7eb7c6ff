"""`dvcpulse worker`: run the Faust stream worker (one agent, `ingest`: validate, route, aggregate, write).

ClickHouse: CLICKHOUSE_DSN, or in embedded mode (unset) the gateway `dvcpulse db serve` of the data dir; the
worker never opens the embedded data dir itself (see dvcpulse.sinks.connection) and waits for the gateway
when there is none. While ClickHouse is unreachable it waits and retries, acknowledging nothing (see
dvcpulse.streams.io_thread).
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import Annotated

import typer
from aiokafka.errors import KafkaError

from dvcpulse.commands.common import DATA_DIR_HELP, fail, load_settings
from dvcpulse.commands.errors import kafka_unreachable
from dvcpulse.settings import DEV_PII_KEY, Settings
from dvcpulse.sinks.connection import connect, describe, embedded, require_gateway, resolve_dsn, target_description
from dvcpulse.sinks.migrate import migrate
from dvcpulse.topics import BrokerNotFound, ensure_topics, resolve_bootstrap

log = logging.getLogger("dvcpulse.worker")


def prepare(settings: Settings, *, run_migrations: bool) -> str:
    """Resolve Kafka, create topics, migrate ClickHouse if asked; returns the bootstrap address."""
    try:
        bootstrap = resolve_bootstrap(settings)
    except BrokerNotFound as error:
        fail(str(error))
    try:
        counts = asyncio.run(ensure_topics(settings, bootstrap))
    except KafkaError:
        fail(kafka_unreachable(bootstrap))
    found = counts.get(settings.events_topic)
    if found != settings.partitions:
        fail(
            f"topic {settings.events_topic} has {found} partitions but DVCPULSE_PARTITIONS is {settings.partitions}: "
            "records are routed by CRC-32 of record_id modulo the events topic's partition count, so they must "
            "agree (never change it on a topic that holds events)"
        )
    if run_migrations:
        client = connect(settings, database="")
        migrate(client, settings.clickhouse_database)
        client.close()
    return bootstrap


def run_worker(settings: Settings, *, run_migrations: bool, loglevel: str = "info") -> None:
    import faust

    from dvcpulse.streams.app import create_app
    from dvcpulse.streams.gc_tuning import tune_garbage_collector
    from dvcpulse.streams.io_thread import set_target

    # Faust configures logging once its Worker starts; until then (the wait for ClickHouse may be long) the
    # start-up lines go to stderr in the same shape, and Faust's configuration replaces this handler.
    logging.basicConfig(level=loglevel.upper(), format="[%(asctime)s] [%(process)d] [%(levelname)s] %(message)s")
    if embedded(settings):
        require_gateway()  # never open the data dir in this process: wait for its gateway instead
    set_target(target_description(settings))
    log.info("worker: clickhouse %s", target_description(settings))
    if settings.pii_key.get_secret_value() == DEV_PII_KEY:
        log.warning("DVCPULSE_PII_KEY is not set: citizen ids are hashed with the development key")
    bootstrap = prepare(settings, run_migrations=run_migrations)
    # Faust keeps a directory of its own, by default "<app id>-data" in the working directory: every worker
    # started from the repository (by `up`, the tests, the benches) left one there. It goes under the data dir
    # instead; APP_DATADIR is Faust's own setting for it (an explicit value wins).
    faust_dir = Path(os.environ.setdefault("APP_DATADIR", str(settings.data_dir.resolve() / "faust" / settings.app_id)))
    faust_dir.parent.mkdir(parents=True, exist_ok=True)  # Faust creates only the last level
    app = create_app(settings, bootstrap)
    tune_garbage_collector()
    log.info("worker: kafka %s, clickhouse %s", bootstrap, describe(resolve_dsn(settings)))
    faust.Worker(app, loglevel=loglevel, quiet=True).execute_from_commandline()


def worker(
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help=DATA_DIR_HELP)] = None,
    web_port: Annotated[
        int | None, typer.Option("--web-port", help="Faust web port (0 disables it); one per worker.")
    ] = None,
    migrate_first: Annotated[
        bool | None,
        typer.Option("--migrate/--no-migrate", help="Apply ClickHouse migrations first [default: yes when embedded]."),
    ] = None,
    loglevel: Annotated[str, typer.Option("--loglevel")] = "info",
) -> None:
    """Consume filing events, deduplicate and aggregate them into ClickHouse (runs until stopped)."""
    settings = load_settings(data_dir, web_port=web_port)
    run_migrations = migrate_first if migrate_first is not None else embedded(settings)
    run_worker(settings, run_migrations=run_migrations, loglevel=loglevel)


def register(app: typer.Typer) -> None:
    app.command("worker")(worker)
