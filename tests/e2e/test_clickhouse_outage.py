"""A ClickHouse outage in embedded mode: the chdb gateway stops mid-drain for OUTAGE_SECONDS.

The worker runs as in embedded mode (no CLICKHOUSE_DSN: it finds the gateway through its endpoint file).
During the outage it waits, acknowledging nothing; halfway through, it is killed (SIGKILL) and restarted, as
a supervisor would; the restarted worker waits for the gateway too. Neither ever opens the chdb data dir
(the old fallback to chdb:// in the worker kept the gateway from restarting: "Cannot lock file"). Then the
gateway restarts (on another port), the worker finds it, drains, and every view equals the ground truth.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from dvcpulse.stack import LocalStack, processed_events, stop_process, wait_until_processed
from tests.e2e.pipeline import assert_matches_truth, send_mixed
from tests.e2e.test_pipeline import drain, simulate

pytestmark = pytest.mark.integration

OUTAGE_SECONDS = 60.0  # the case: a supervisor restart during a 60 s outage


@pytest.fixture
def stack(start_stack: Callable[..., LocalStack]) -> LocalStack:
    return start_stack("outage", session_timeout_seconds=6.0)


def _start_embedded_worker(stack: LocalStack, worker_id: str) -> subprocess.Popen:
    """A worker in embedded mode: no CLICKHOUSE_DSN, so it looks the gateway up itself (the stack's own
    workers are handed the gateway's URL)."""
    process = subprocess.Popen(
        stack._command("worker"),
        env=stack.child_env(CLICKHOUSE_DSN="", DVCPULSE_WORKER_ID=worker_id),
        stdout=stack._log(f"worker-{worker_id}"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    stack.workers[worker_id] = process
    return process


def _open_files_under(pid: int, directory: Path) -> list[str]:
    found = []
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith(str(directory)):
            found.append(target)
    return found


def test_gateway_outage_with_worker_restart_keeps_totals_exact(stack: LocalStack, tmp_path: Path) -> None:
    lines, truth = simulate(tmp_path, records=16_000, seed=31)
    send_mixed(stack.bootstrap, stack.settings.events_topic, lines)
    db = stack.settings.clickhouse_database
    chdb = stack.settings.chdb_path
    log_file = stack.settings.data_dir / "logs" / "worker-w1.log"

    first = _start_embedded_worker(stack, "w1")
    client = stack.client()
    mid = wait_until_processed(client, db, 1, timeout=120, poll=0.05)
    assert 0 < mid < truth["valid_events"], "the worker must be mid-drain when the gateway goes"

    assert stack.gateway is not None
    stop_process(stack.gateway)  # SIGTERM: the gateway withdraws its endpoint and releases the data dir
    stack.gateway = None
    outage_started = time.monotonic()
    time.sleep(OUTAGE_SECONDS / 2)
    assert first.poll() is None, "the worker waits for ClickHouse instead of exiting"
    assert not _open_files_under(first.pid, chdb), "the worker opened the chdb data dir"

    stack.stop_worker("w1", kill=True)  # as a supervisor would, mid-outage
    second = _start_embedded_worker(stack, "w1")
    time.sleep(max(OUTAGE_SECONDS - (time.monotonic() - outage_started), 0))
    assert second.poll() is None, "the restarted worker waits for the gateway"
    assert not _open_files_under(second.pid, chdb), "the restarted worker opened the chdb data dir"

    stack.clickhouse_url = stack._start_gateway()  # fails if a worker holds the data dir's lock
    client = stack.client()
    drain(stack, truth["valid_events"], timeout=120)
    assert_matches_truth(client, db, truth)
    assert processed_events(client, db) == truth["valid_events"]
    assert second.poll() is None

    log = log_file.read_text(encoding="utf-8", errors="replace")
    print("\n".join(line for line in log.splitlines() if "clickhouse" in line.lower() or "gateway" in line))
    assert log.count("worker: clickhouse the chdb gateway of") >= 2, "each start says which ClickHouse"
    assert log.count("unreachable (") == 1, "one line when the outage starts, not one per attempt"
    assert log.count("no chdb gateway serves") == 1, "the restarted worker says once that it waits"
    assert log.count("found at") == 1, "and once that the gateway is back"
    assert "Unexpected Http Driver Exception" not in log
    assert "chdb://" not in log.replace(f"CLICKHOUSE_DSN=chdb://{chdb}", "")
