"""End to end: lateness depends on each event and its own message's timestamp only, never on the layout.

One file, with events far older than the file's clock injected among simulated traffic, is loaded three
ways: `dvcpulse publish --backfill` onto 8 partitions and onto 16, and a foreign producer putting envelopes
and single events on random partitions (its own backfill stamps, tests.e2e.pipeline.FileClock). Every view
must be identical, late counts included; the counts equal the simulator's truth (late events are history
only), and one event dated decades ahead is dead-lettered without moving anything else.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from dvcpulse.publisher import publish_lines
from dvcpulse.seeds.simulator import write_simulation
from dvcpulse.stack import LocalStack, wait_until_processed
from tests.e2e.pipeline import TOTAL_KEYS, assert_matches_truth, cells_from_views, send_mixed

pytestmark = pytest.mark.integration

LATE_EVERY = 500  # lines between injected late events
FAR_FUTURE = (
    b'{"event_id":"F-1","record_id":"F","procedure_code":"1.001","service_code":"DV09","province_code":"01",'
    b'"channel":2,"online_level":"full","event_type":"submitted","status":1,"event_time":"2099-01-01T00:00:00+07:00"}'
)


def with_late_events(lines: list[bytes]) -> tuple[list[bytes], int]:
    """Every LATE_EVERY lines, a new submitted event of a new record dated 30 days before the file starts:
    late under any stamp the file's clock can give after its first line. Then one event from 2099."""
    out, injected = [], 0
    for number, line in enumerate(lines):
        out.append(line)
        if number % LATE_EVERY == LATE_EVERY - 1:
            injected += 1
            out.append(orjson.dumps({
                "event_id": f"L-{injected}", "record_id": f"L{injected}", "procedure_code": "1.001",
                "service_code": "DV09", "province_code": "01", "channel": 2, "online_level": "full",
                "event_type": "submitted", "status": 1, "event_time": "2025-08-01T08:00:00+07:00",
            }))  # fmt: skip
    out.insert(len(out) // 2, FAR_FUTURE)
    return out, injected


def log_tail(data_dir: Path, lines: int = 40) -> str:
    """The end of the worker's and the gateway's logs, for a failure message."""
    out = []
    for log in sorted((data_dir / "logs").glob("*.log")):
        text = log.read_text(errors="replace").splitlines()
        out += [f"--- {log.name}", *text[-lines:]]
    return "\n".join(out)


def views(stack: LocalStack) -> dict[str, Any]:
    client = stack.client()
    db = stack.settings.clickhouse_database
    pipeline = client.query(f"SELECT sum(processed), sum(duplicates), sum(late) FROM {db}.v_pipeline").result_rows[0]
    totals = next(client.query(f"SELECT * FROM {db}.v_totals").named_results())
    return {
        "pipeline": tuple(pipeline),
        "totals": {key: totals[key] for key in TOTAL_KEYS},
        "cells": cells_from_views(client, db),
        "minutes": client.query(
            f"SELECT minute, service_code, province_code, channel, sum(submitted), sum(synced) FROM {db}.v_minute "
            f"GROUP BY ALL HAVING sum(submitted) + sum(synced) > 0 ORDER BY ALL"
        ).result_rows,
        "late": client.query(f"SELECT event_id FROM {db}.v_events WHERE is_late ORDER BY event_id").result_rows,
        "dead": client.query(
            f"SELECT reason FROM {db}.dead_letters FINAL WHERE reason LIKE 'event_time=%' ORDER BY reason"
        ).result_rows,
    }


def test_the_same_file_gives_identical_views_on_8_and_16_partitions_and_a_random_partitioner(
    start_stack: Callable[..., LocalStack], tmp_path: Path
) -> None:
    path = tmp_path / "events.jsonl"
    truth = write_simulation(path, records=5_000, seed=41, duplicates=0.05, out_of_order=0.05, late=0.03)
    lines, injected = with_late_events(path.read_bytes().splitlines())
    expected = truth["valid_events"] + injected  # the 2099 event is dead-lettered, not processed

    seen = []
    for name, partitions, random_partitions in (("p8", 8, False), ("p16", 16, False), ("rnd", 8, True)):
        stack = start_stack(name, partitions=partitions, data_dir=tmp_path / name)
        settings = stack.settings
        if random_partitions:
            send_mixed(stack.bootstrap, settings.events_topic, lines, seed=5, partitions=partitions)
        else:
            asyncio.run(
                publish_lines(
                    lines, settings=settings, bootstrap=stack.bootstrap, topic=settings.events_topic,
                    rejects_path=None, backfill=True,
                )
            )  # fmt: skip
        stack.start_worker("w1")
        client = stack.client()
        done = wait_until_processed(client, settings.clickhouse_database, expected, timeout=240)
        assert done == expected, f"{name}: processed {done} of {expected}\n{log_tail(tmp_path / name)}"
        assert_matches_truth(
            client, settings.clickhouse_database, {**truth, "unique_events": truth["unique_events"] + injected}
        )
        seen.append(views(stack))
        stack.stop()

    first = seen[0]
    assert first["pipeline"][2] == injected and len(first["late"]) == injected
    assert len(first["dead"]) == 1 and "after its message's arrival" in first["dead"][0][0]
    assert seen[1] == first, "16 partitions differ from 8"
    assert seen[2] == first, "a random partitioner differs from the product's"
