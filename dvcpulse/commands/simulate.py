"""`dvcpulse simulate`: a calibrated, deterministic stream of filing events and its ground truth.

    dvcpulse simulate --profile 2025 --records 20000 --out out/events.jsonl   # + out/events.jsonl.truth.json
    dvcpulse simulate --records 5000 --duplicates 0.02 --out-of-order 0.05 --malformed 0.01 --out - | head

The generator and its calibration live in dvcpulse.seeds.simulator; the counting rules in
dvcpulse.seeds.ground_truth.
With --rate the lines go through dvcpulse.publisher, which validates before sending: malformed lines are
rejected there and never reach Kafka (the truth counts them for nothing either way). No event is sent before
its time (the worker dead-letters events from the future): past events go at --rate, later ones when their
time comes; and they are sent as a backfill (dvcpulse.backfill), so simulated history counts as on time.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from dvcpulse.commands.common import DATA_DIR_HELP, fail, load_settings
from dvcpulse.seeds.ground_truth import truth_path_for, write_truth
from dvcpulse.seeds.simulator import SimulationConfig, parse_duration, simulate, write_lines


class ProfileName(StrEnum):
    y2022 = "2022"
    y2025 = "2025"


def _fraction(name: str, help_text: str) -> Any:
    """An option taking a fraction, 0 to 1 (the parameter gives the default, 0.0)."""
    return typer.Option(name, min=0.0, max=1.0, help=help_text)


def _config(**options: Any) -> SimulationConfig:
    try:
        if isinstance(options.get("late_by"), str):
            options["late_by"] = parse_duration(options["late_by"])
        return SimulationConfig(**options)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None


def _publish(lines: Iterable[bytes], rate: float, bootstrap: str | None, data_dir: Path | None) -> str:
    """Send the lines to the events topic through dvcpulse.publisher, each no earlier than its event time."""
    from aiokafka.errors import KafkaError  # imported here: only --rate needs Kafka

    from dvcpulse.commands.up_traffic import paced, timed
    from dvcpulse.publisher import PublishError, publish_lines
    from dvcpulse.topics import BrokerNotFound, resolve_bootstrap

    settings = load_settings(data_dir)
    try:
        server = bootstrap or resolve_bootstrap(settings)
    except BrokerNotFound as error:
        fail(str(error))
    source = paced(timed(lines), live_from=time.time(), stopping=threading.Event())
    try:
        summary = asyncio.run(
            publish_lines(
                source, settings=settings, bootstrap=server, topic=settings.events_topic, rate=rate,
                rejects_path=None, backfill=True,
            )
        )  # fmt: skip
    except (PublishError, KafkaError, OSError) as error:
        fail(f"publishing to {server} failed: {error}")
    return f"{settings.events_topic} on {server} ({summary})"


def _summary(truth: dict[str, Any], target: str, seconds: float) -> str:
    share = truth["synced_online_share"]
    shown = "n/a" if share is None else f"{share:.2%}"
    return (
        f"{truth['lines']:,} lines ({truth['unique_events']:,} events, {truth['duplicate_lines']:,} duplicates, "
        f"{len(truth['malformed_lines']):,} malformed) for {truth['records']:,} records -> {target} in "
        f"{seconds:.1f} s; synced online {shown} (profile {truth['profile']} expects "
        f"{truth['expected_online_share']:.2%})"
    )


def simulate_command(
    profile: Annotated[ProfileName, typer.Option("--profile", help="Calibration: 2022 or 2025.")] = ProfileName.y2025,
    records: Annotated[
        int | None,
        typer.Option("--records", min=0, help="Records (filings); default: the profile's daily volume x --days."),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Same seed and options, same bytes.")] = 1,
    start: Annotated[
        str, typer.Option("--start", help="ISO 8601 (no offset = Vietnam time), or 'now'.")
    ] = "2025-09-01T00:00:00+07:00",
    days: Annotated[float, typer.Option("--days", min=0.001, help="Submissions are spread over this many days.")] = 1.0,
    duplicates: Annotated[float, _fraction("--duplicates", "Fraction of events re-sent later as exact copies.")] = 0.0,
    out_of_order: Annotated[
        float, _fraction("--out-of-order", "Fraction of events displaced by up to 300 lines.")
    ] = 0.0,
    late: Annotated[
        float, _fraction("--late", "Fraction of records stamped --late-by earlier (a synced backlog).")
    ] = 0.0,
    late_by: Annotated[
        str, typer.Option("--late-by", help="How much earlier late records are stamped: 2d, 36h.")
    ] = "2d",
    malformed: Annotated[float, _fraction("--malformed", "Extra bad lines per event (each kind in turn).")] = 0.0,
    legacy_codes: Annotated[
        float, _fraction("--legacy-codes", "Fraction of records sending a pre-2025 province code.")
    ] = 0.0,
    out: Annotated[str, typer.Option("--out", "-o", help="JSONL file, or - for standard output.")] = "-",
    truth: Annotated[
        Path | None,
        typer.Option("--truth", help="Ground truth JSON; default: <out>.truth.json (none for standard output)."),
    ] = None,
    rate: Annotated[
        float | None,
        typer.Option(
            "--rate",
            min=0.001,
            help="Publish to Kafka at up to this many events/s instead of writing a file (events after now wait "
            "for their time).",
        ),
    ] = None,
    bootstrap: Annotated[str | None, typer.Option("--bootstrap", help="With --rate: Kafka bootstrap servers.")] = None,
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="With --rate: " + DATA_DIR_HELP)] = None,
) -> None:
    """Generate filing events calibrated to published figures, with their ground truth."""
    config = _config(
        profile=profile.value, records=records, seed=seed, start=start, days=days, duplicates=duplicates,
        out_of_order=out_of_order, late=late, late_by=late_by, malformed=malformed, legacy_codes=legacy_codes,
    )  # fmt: skip
    began = time.perf_counter()
    run = simulate(config)
    if rate is not None:
        target, truth_path = _publish(run, rate, bootstrap, data_dir), truth
    elif out == "-":
        write_lines(run, sys.stdout.buffer)
        sys.stdout.buffer.flush()
        target, truth_path = "standard output", truth
    else:
        path = Path(out)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as sink:
            write_lines(run, sink)
        target, truth_path = str(path), truth or truth_path_for(path)
    result = run.truth()
    if truth_path is not None:
        write_truth(truth_path, result)
        target += f" (truth: {truth_path})"
    typer.echo(_summary(result, target, time.perf_counter() - began), err=True)


def register(app: typer.Typer) -> None:
    app.command("simulate")(simulate_command)
