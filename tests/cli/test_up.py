"""`dvcpulse up --records N --until-drained --json` in a clean environment: its own broker, chdb, worker."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from dvcpulse.seeds.simulator import write_simulation

pytestmark = pytest.mark.integration


def test_up_until_drained_prints_totals_equal_to_ground_truth(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "CLICKHOUSE_", "DVCPULSE_"))}
    data_dir = tmp_path / "data"
    done = subprocess.run(
        [sys.executable, "-m", "dvcpulse", "up", "--records", "20000", "--until-drained", "--json",
         "--data-dir", str(data_dir)],
        env=env, cwd=tmp_path, capture_output=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    summary = orjson.loads(done.stdout.splitlines()[-1])
    simulation = summary["simulation"]
    truth = write_simulation(
        tmp_path / "expected.jsonl", records=20000, seed=simulation["seed"], profile=simulation["profile"],
        start=simulation["options"]["start"],
    )  # fmt: skip
    totals = truth["totals"]
    assert summary["published"] == summary["processed"] == truth["valid_events"]
    assert summary["dead_lettered"] == 0 and summary["duplicates"] == 0 and summary["late"] == 0
    for key in ("submitted", "synced", "synced_online", "synced_in_person", "synced_postal", "status_changes"):
        assert summary[key] == totals[key], key
    assert summary["synced_online_share"] == pytest.approx(truth["synced_online_share"])
    # the data stays queryable after the stack has stopped
    query = subprocess.run(
        [sys.executable, "-m", "dvcpulse", "sql", "--data-dir", str(data_dir), "--format", "json",
         "SELECT synced FROM v_totals"],
        env=env, cwd=tmp_path, capture_output=True, timeout=120, check=True,
    )  # fmt: skip
    assert orjson.loads(query.stdout) == [{"synced": totals["synced"]}]
