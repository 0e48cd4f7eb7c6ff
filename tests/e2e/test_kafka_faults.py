"""Faults of Kafka itself and of the consumer group, on the real Apache Kafka broker.

- The broker is stopped (SIGTERM, controlled shutdown) or killed (SIGKILL, log recovery on restart) while a
  worker drains a backlog, then restarted on the same data dir: the worker rides through, totals stay exact.
- Two workers; one is killed with SIGKILL: its partitions are processed by the survivor once Kafka expires
  its session and one rebalance has run. Then a third worker joins: processing resumes within one rebalance.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from dvcpulse.embedded_broker import EmbeddedBroker
from dvcpulse.models.decode import decode_message
from dvcpulse.stack import LocalStack, processed_events, wait_until_processed
from tests.e2e.pipeline import assert_matches_truth, send_mixed
from tests.e2e.test_pipeline import drain, simulate

pytestmark = pytest.mark.integration

SESSION_TIMEOUT_SECONDS = 6.0  # Kafka's group.min.session.timeout.ms is 6 s
# A worker's start (a Python process importing Faust) plus one rebalance, with a margin for a slow machine.
WORKER_START_AND_REBALANCE_SECONDS = 45.0


@pytest.fixture
def own_broker_stack(start_stack: Callable[..., LocalStack]) -> LocalStack:
    """A stack with a Kafka broker of its own (under its data dir), for tests that stop the broker."""
    return start_stack("faults", kafka_bootstrap=None, session_timeout_seconds=SESSION_TIMEOUT_SECONDS)


@pytest.fixture
def shared_broker_stack(start_stack: Callable[..., LocalStack]) -> LocalStack:
    return start_stack("faults", session_timeout_seconds=SESSION_TIMEOUT_SECONDS)


def _valid_events(lines: list[bytes]) -> int:
    """Events the worker will apply for these lines (duplicates included, malformed ones not)."""
    return sum(len(decode_message(line).events) for line in lines)


def _two_workers_drain_the_first_third(
    stack: LocalStack, tmp_path: Path, records: int, seed: int
) -> tuple[list[list[bytes]], dict, int]:
    """Simulate, split the lines in thirds, start workers w1 and w2 and drain the first third through them.
    Returns the thirds, the ground truth and the events applied so far."""
    lines, truth = simulate(tmp_path, records=records, seed=seed)
    third = len(lines) // 3
    parts = [lines[:third], lines[third : 2 * third], lines[2 * third :]]
    stack.start_worker("w1")
    stack.start_worker("w2")
    send_mixed(stack.bootstrap, stack.settings.events_topic, parts[0], seed=1)
    expected = _valid_events(parts[0])
    drain(stack, expected, timeout=180)
    return parts, truth, expected


def _recent_owners(client, db: str, topic: str) -> set[str]:
    rows = client.query(
        f"SELECT DISTINCT worker FROM {db}.worker_stats WHERE topic = '{topic}' AND at > now64(3) - 8"
    ).result_rows
    return {row[0] for row in rows}


@pytest.mark.parametrize("crash", [False, True], ids=["sigterm", "sigkill"])
def test_broker_restart_mid_drain_keeps_totals_exact(
    own_broker_stack: LocalStack, tmp_path: Path, crash: bool
) -> None:
    stack = own_broker_stack
    lines, truth = simulate(tmp_path, records=24_000, seed=21 + crash)
    send_mixed(stack.bootstrap, stack.settings.events_topic, lines)
    client = stack.client()
    db = stack.settings.clickhouse_database
    worker = stack.start_worker("w1")
    first = wait_until_processed(client, db, 1, timeout=120, poll=0.05)
    assert 0 < first < truth["valid_events"], "the worker must be mid-drain when the broker goes"

    assert stack.broker is not None
    bootstrap = stack.broker.bootstrap
    if crash:
        stack.broker.kill()
    else:
        stack.broker.stop()
    at_outage = processed_events(client, db)
    time.sleep(3)  # the worker meets a dead broker: fetches, commits and produces fail meanwhile
    stack.broker = EmbeddedBroker(stack.settings.broker_dir).start()
    assert stack.broker.bootstrap == bootstrap, "a restarted broker keeps its address"

    drain(stack, truth["valid_events"], timeout=240)
    assert_matches_truth(client, db, truth)
    assert at_outage < truth["valid_events"], "the outage came too late to test anything: give it more events"
    assert worker.poll() is None, "the worker rode through the broker's outage"


def test_dead_workers_partitions_move_then_a_third_worker_joins(
    shared_broker_stack: LocalStack, tmp_path: Path
) -> None:
    stack = shared_broker_stack
    parts, truth, expected = _two_workers_drain_the_first_third(stack, tmp_path, records=15_000, seed=23)
    client = stack.client()
    db = stack.settings.clickhouse_database
    topic = stack.settings.events_topic

    stack.stop_worker("w2", kill=True)  # SIGKILL: no LeaveGroup; Kafka notices when its session expires
    killed_at = time.monotonic()
    send_mixed(stack.bootstrap, topic, parts[1], seed=2)  # on every partition, w2's included
    expected += _valid_events(parts[1])
    drain(stack, expected, timeout=SESSION_TIMEOUT_SECONDS + WORKER_START_AND_REBALANCE_SECONDS)
    moved_after = time.monotonic() - killed_at

    stack.start_worker("w3")
    joined_at = time.monotonic()
    send_mixed(stack.bootstrap, topic, parts[2], seed=3)
    drain(stack, truth["valid_events"], timeout=WORKER_START_AND_REBALANCE_SECONDS)
    resumed_after = time.monotonic() - joined_at

    assert_matches_truth(client, db, truth)
    deadline = time.monotonic() + 15  # each worker records the partitions it owns every 5 s (worker_stats)
    while (owners := _recent_owners(client, db, topic)) != {"w1", "w3"} and time.monotonic() < deadline:
        time.sleep(0.5)
    assert owners == {"w1", "w3"}, "after the join both live workers own partitions, the dead one none"
    print(f"dead worker's partitions processed after {moved_after:.1f}s; after the join, {resumed_after:.1f}s")


def test_static_membership_moves_partitions_without_waiting_for_the_session(
    start_stack: Callable[..., LocalStack], tmp_path: Path
) -> None:
    """Why workers have a stable DVCPULSE_WORKER_ID (Kafka static membership), measured on Kafka: with a long
    session timeout, a cleanly stopped worker's partitions move at once (it still leaves the group), and a
    worker killed and restarted under its name takes its partitions back at once; neither waits the session
    out, as a dynamic member's replacement would."""
    session = 40.0
    at_once = 25.0  # a worker's start and a rebalance, well below the session timeout
    stack = start_stack("faults", session_timeout_seconds=session)
    parts, truth, expected = _two_workers_drain_the_first_third(stack, tmp_path, records=9_000, seed=29)
    topic = stack.settings.events_topic

    stack.stop_worker("w2")  # SIGTERM: a clean stop
    send_mixed(stack.bootstrap, topic, parts[1], seed=2)
    expected += _valid_events(parts[1])
    drain(stack, expected, timeout=at_once)

    stack.stop_worker("w1", kill=True)  # SIGKILL, then the same name again
    stack.start_worker("w1")
    send_mixed(stack.bootstrap, topic, parts[2], seed=3)
    drain(stack, truth["valid_events"], timeout=at_once)
    assert_matches_truth(stack.client(), stack.settings.clickhouse_database, truth)
