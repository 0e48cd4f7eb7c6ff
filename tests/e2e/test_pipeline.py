"""End to end on real parts: simulator -> Apache Kafka -> worker processes -> ClickHouse (chdb).

Every view must equal the simulator's ground truth exactly, under duplicates, reordering, 2-day-late
records, malformed events, legacy province codes, mixed partitioners and envelopes, SIGKILLs and a second
worker that stops.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from dvcpulse.seeds.simulator import write_simulation
from dvcpulse.stack import LocalStack, processed_events, wait_until_processed
from tests.e2e.pipeline import assert_matches_truth, send_mixed, send_one_partition

pytestmark = pytest.mark.integration

KNOBS = dict(duplicates=0.05, out_of_order=0.05, late=0.03, malformed=0.01, legacy_codes=0.05)


@pytest.fixture
def stack(start_stack: Callable[..., LocalStack]) -> LocalStack:
    return start_stack("e2e")


def simulate(tmp_path: Path, records: int, seed: int) -> tuple[list[bytes], dict]:
    path = tmp_path / "events.jsonl"
    truth = write_simulation(path, records=records, seed=seed, **KNOBS)
    return path.read_bytes().splitlines(), truth


def drain(stack: LocalStack, expected: int, timeout: float = 300) -> None:
    client = stack.client()
    seen = wait_until_processed(client, stack.settings.clickhouse_database, expected, timeout)
    assert seen == expected, f"processed {seen} of {expected} events within {timeout}s"


def test_views_equal_ground_truth(stack: LocalStack, tmp_path: Path, read_topic: Callable) -> None:
    lines, truth = simulate(tmp_path, records=48_000, seed=11)
    assert truth["lines"] >= 200_000 and truth["late_records"] > 0 and truth["duplicate_lines"] > 0
    send_mixed(stack.bootstrap, stack.settings.events_topic, lines)
    stack.start_worker("w1")
    drain(stack, truth["valid_events"])
    client = stack.client()
    db = stack.settings.clickhouse_database
    assert_matches_truth(client, db, truth)

    # every malformed line is a dead letter with its reason, in the topic and in ClickHouse
    malformed = len(truth["malformed_lines"])
    dead = [orjson.loads(record.value) for record in read_topic(stack.settings.dead_letter_topic)]
    assert all(d["reason"] and d["errors"] for d in dead)
    sources = {(d["source"]["partition"], d["source"]["offset"], d["source"]["index"]) for d in dead}
    assert len(sources) == malformed  # a replay may repeat a dead letter, never lose one
    assert client.command(f"SELECT count() FROM {db}.v_dead_letters") == malformed
    # citizen ids never reach ClickHouse in clear: the simulator's CCCD numbers are absent
    a_cccd = next(orjson.loads(line)["applicant_id"] for line in lines if b'"applicant_id":"0' in line)
    assert client.command(f"SELECT count() FROM {db}.events WHERE applicant_hash = '{a_cccd}'") == 0
    assert client.command(f"SELECT countIf(position(raw, '{a_cccd}') > 0) FROM {db}.dead_letters") == 0


def test_exact_after_repeated_sigkill(stack: LocalStack, tmp_path: Path) -> None:
    lines, truth = simulate(tmp_path, records=40_000, seed=12)
    send_mixed(stack.bootstrap, stack.settings.events_topic, lines)
    client = stack.client()
    db = stack.settings.clickhouse_database
    rng = random.Random(5)
    kills = 0
    stack.start_worker("w1")
    while kills < 3:
        before = processed_events(client, db)
        progressed = wait_until_processed(client, db, before + 1, timeout=120, poll=0.1)
        assert progressed > before, "the restarted worker made no progress"
        time.sleep(rng.uniform(0.2, 1.5))  # somewhere in the middle of a batch, a flush or a commit
        if processed_events(client, db) >= truth["valid_events"]:
            break
        stack.stop_worker("w1", kill=True)  # SIGKILL: no shutdown code runs
        kills += 1
        stack.start_worker("w1")
    assert kills == 3, "the worker finished before it could be killed three times: give it more events"
    drain(stack, truth["valid_events"])
    assert_matches_truth(client, db, truth)


def test_two_workers_one_stops(stack: LocalStack, tmp_path: Path) -> None:
    lines, truth = simulate(tmp_path, records=24_000, seed=13)
    stack.start_worker("w1")
    stack.start_worker("w2")
    half = len(lines) // 2
    send_mixed(stack.bootstrap, stack.settings.events_topic, lines[:half])
    client = stack.client()
    db = stack.settings.clickhouse_database
    before_stop = wait_until_processed(client, db, 1, timeout=120)
    assert before_stop >= 1, "no event was processed within 120 s: w2 would stop before the workers did any work"
    stack.stop_worker("w2")  # graceful stop: its partitions move to w1
    send_mixed(stack.bootstrap, stack.settings.events_topic, lines[half:])
    drain(stack, truth["valid_events"])
    assert_matches_truth(client, db, truth)


def test_events_beyond_the_horizon_are_history_only(stack: LocalStack) -> None:
    """Same source partition: a record 10 days newer arrives first, then one 8 days older than it (late) and
    one 6 days older (on time, counted in its own minute)."""

    def submitted(record: str, when: str) -> bytes:
        return orjson.dumps(
            {
                "event_id": f"{record}-s", "record_id": record, "procedure_code": "1.001", "service_code": "DV09",
                "province_code": "01", "channel": 2, "online_level": "full", "event_type": "submitted", "status": 1,
                "event_time": when,
            }
        )  # fmt: skip

    lines = [
        submitted("R-new", "2025-09-11T08:00:00+07:00"),
        submitted("R-late", "2025-09-03T07:59:00+07:00"),
        submitted("R-ok", "2025-09-05T08:00:00+07:00"),
    ]
    send_one_partition(stack.bootstrap, stack.settings.events_topic, lines)
    stack.start_worker("w1")
    drain(stack, 3)
    client = stack.client()
    db = stack.settings.clickhouse_database
    assert client.command(f"SELECT sum(late) FROM {db}.v_pipeline") == 1
    assert client.query(f"SELECT record_id FROM {db}.v_events WHERE is_late").result_rows == [("R-late",)]
    assert client.command(f"SELECT sum(submitted) FROM {db}.v_daily") == 2
    per_day = client.query(f"SELECT toString(day), sum(submitted) FROM {db}.v_daily GROUP BY day ORDER BY day")
    assert per_day.result_rows == [("2025-09-05", 1), ("2025-09-11", 1)]


def test_exact_when_almost_nothing_stays_in_memory(start_stack: Callable[..., LocalStack], tmp_path: Path) -> None:
    """Budgets of 240 records and 480 cells a worker (30 and 60 a partition when it owns all 8): nearly every
    event's record and cells were evicted and are read back from ClickHouse as of the durable checkpoint
    (sinks/SCHEMA.md, "State on demand"), through a rebalance (a second worker stops) and a SIGKILL."""
    stack = start_stack("tiny", max_records=240, max_cells=480)
    lines, truth = simulate(tmp_path, records=6_000, seed=14)
    client = stack.client()
    db = stack.settings.clickhouse_database
    stack.start_worker("w1")
    stack.start_worker("w2")
    third = len(lines) // 3
    send_mixed(stack.bootstrap, stack.settings.events_topic, lines[:third])
    assert wait_until_processed(client, db, 1, timeout=120) >= 1, "no event processed within 120 s"
    stack.stop_worker("w2")  # its partitions move to w1, which starts them from their checkpoints
    send_mixed(stack.bootstrap, stack.settings.events_topic, lines[third : 2 * third])
    before = processed_events(client, db)
    assert wait_until_processed(client, db, before + 1, timeout=120, poll=0.1) > before
    stack.stop_worker("w1", kill=True)
    stack.start_worker("w1")
    send_mixed(stack.bootstrap, stack.settings.events_topic, lines[2 * third :])
    drain(stack, truth["valid_events"])
    assert_matches_truth(client, db, truth)
