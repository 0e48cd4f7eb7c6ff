"""End to end for the 766 index: the simulator's events, with their optional 766 facts, through the real
broker (mixed partitioners, envelopes, duplicates, disorder) and a worker into ClickHouse; v_766_province must
equal the simulator's own ground truth (seeds.truth_766.IndexTruth) for every period and indicator, nationally
and per province."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from dvcpulse.seeds.simulator import write_simulation
from dvcpulse.stack import LocalStack, wait_until_processed
from tests.e2e.pipeline import send_mixed

pytestmark = pytest.mark.integration

# a month boundary inside the run: records cross from September into October
KNOBS = dict(duplicates=0.05, out_of_order=0.05, malformed=0.01, legacy_codes=0.05, start="2025-09-22T00:00:00+07:00",
             days=16.0)  # fmt: skip


def period_of_key(key: str) -> tuple[str, date]:
    """A truth period key (YYYY, YYYY-Qn, YYYY-MM) as (period_kind, first day)."""
    year = int(key[:4])
    if len(key) == 4:
        return "year", date(year, 1, 1)
    if key[5] == "Q":
        return "quarter", date(year, 3 * int(key[6]) - 2, 1)
    return "month", date(year, int(key[5:7]), 1)


def test_766_views_equal_the_simulator_truth(start_stack: Callable[..., LocalStack], tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    truth = write_simulation(path, records=3_000, seed=15, **KNOBS)
    periods = truth["index_766"]["periods"]
    assert {period_of_key(p["period"])[0] for p in periods} == {"month", "quarter", "year"} and len(periods) >= 4
    stack = start_stack("e766")
    send_mixed(stack.bootstrap, stack.settings.events_topic, path.read_bytes().splitlines())
    stack.start_worker("w1")
    client, db = stack.client(), stack.settings.clickhouse_database
    assert wait_until_processed(client, db, truth["valid_events"], 120) == truth["valid_events"]

    rows = client.query(
        f"SELECT period_kind, period, province_code, indicator, numerator, denominator, unjudged "
        f"FROM {db}.v_766_province WHERE denominator > 0 OR unjudged > 0"
    ).result_rows
    actual = {tuple(row[:4]): tuple(row[4:]) for row in rows}
    expected = {}
    for period in periods:
        kind, first = period_of_key(period["period"])
        scopes = {"": period["national"], **period["by_province"]}
        for province, tallies in scopes.items():
            for code, (numerator, denominator, unjudged) in tallies.items():
                if denominator or unjudged:
                    expected[(kind, first, province, code)] = (numerator, denominator, unjudged)
    assert len(expected) > 500 and {key[3] for key in expected} >= {"1.4", "2.1", "3.6", "4.1", "5.4"}
    assert actual.keys() == expected.keys(), (sorted(set(actual) - set(expected))[:5],
                                              sorted(set(expected) - set(actual))[:5])  # fmt: skip
    for key, (numerator, denominator, unjudged) in expected.items():
        assert actual[key] == (pytest.approx(numerator, rel=1e-9, abs=1e-3), denominator, unjudged), key
