"""The Decision 766 ground truth of the simulator (seeds.truth_766) against the product's rules
(models.index_766) applied to the emitted lines through the product's decoder, and the 2025 calibration."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from dvcpulse.models.decode import decode_event
from dvcpulse.models.filing_event import FilingEvent
from dvcpulse.models.index_766 import DERIVED_INDICATORS, Totals, contribute
from dvcpulse.models.index_766_facts import INDEX_766_FIELDS, record_facts
from dvcpulse.models.index_766_periods import Period
from dvcpulse.seeds.simulator import events as simulator_events
from dvcpulse.seeds.simulator import simulate

KNOBS = {"duplicates": 0.05, "out_of_order": 0.1, "late": 0.03, "malformed": 0.02, "legacy_codes": 0.2}


def run(**options: Any) -> tuple[list[bytes], dict[str, Any]]:
    simulation = simulate(**options)
    lines = list(simulation)
    return lines, simulation.truth()


def period_from_key(key: str) -> Period:
    if len(key) == 4:
        return Period.year(int(key))
    if key[5] == "Q":
        return Period.quarter(int(key[:4]), int(key[6]))
    return Period.month(int(key[:4]), int(key[5:7]))


def by_record(lines: list[bytes]) -> dict[str, list[FilingEvent]]:
    records: dict[str, list[FilingEvent]] = defaultdict(list)
    for line in lines:
        try:
            event = decode_event(line)
        except ValidationError:
            continue
        records[event.record_id].append(event)
    return records


def product_tallies(lines: list[bytes], key: str) -> tuple[dict[str, list[float]], dict[str, dict[str, list[float]]]]:
    period = period_from_key(key)
    national, provinces = Totals(), defaultdict(Totals)
    for events in by_record(lines).values():
        facts = record_facts(events)
        contribution = contribute(facts, period)
        national.add(contribution)
        provinces[facts.province_code].add(contribution)

    def listed(totals: Totals) -> dict[str, list[float]]:
        out = {}
        for code in DERIVED_INDICATORS:
            tally = totals.tally(code)
            if tally.denominator or tally.unjudged:
                out[code] = [tally.numerator, tally.denominator, tally.unjudged]
        return out

    return listed(national), {code: t for code, totals in sorted(provinces.items()) if (t := listed(totals))}


@pytest.mark.parametrize(
    "options",
    [
        {"records": 3_000, "seed": 7, "days": 2, **KNOBS},
        {"records": 2_000, "seed": 9, "until": "2025-09-01T15:00:00+07:00"},  # cut off: open dossiers
        {"records": 2_000, "seed": 3, "days": 3, "start": "2025-09-29T00:00:00+07:00"},  # across months and quarters
    ],
    ids=["knobs", "until", "month-end"],
)
def test_truth_equals_the_product_rules_on_the_emitted_lines(options: dict[str, Any]) -> None:
    lines, truth = run(**options)
    periods = truth["index_766"]["periods"]
    assert periods
    for entry in periods:
        national, provinces = product_tallies(lines, entry["period"])
        assert entry["national"] == national, entry["period"]
        assert entry["by_province"] == provinces, entry["period"]


def test_month_end_run_has_september_october_and_their_quarters() -> None:
    _, truth = run(records=300, seed=3, days=3, start="2025-09-29T00:00:00+07:00")
    keys = [p["period"] for p in truth["index_766"]["periods"]]
    assert keys == ["2025-09", "2025-Q3", "2025", "2025-10", "2025-Q4"]


def test_profile_2025_is_plausible() -> None:
    _, truth = run(profile="2025", records=8_000, seed=2, days=30)
    september = truth["index_766"]["periods"][0]
    assert september["period"] == "2025-09"
    ratio = {code: t[0] / t[1] for code, t in september["national"].items() if t[1]}
    assert ratio["2.1"] == pytest.approx(0.78, abs=0.03)  # the portal's monthly onTimePct, mid-2026
    assert ratio["1.4"] == 1.0  # every simulated record syncs its final status
    assert 0.75 < ratio["3.6"] < 0.92  # online payment follows the online channel
    assert 0.6 < ratio["4.2"] < 0.8 and ratio["4.4"] < 0.06
    assert 0.7 < ratio["5.4"] < ratio["2.1"]
    assert all(t[2] == 0 for t in september["national"].values())  # 2025 records state every fact


def test_profile_2022_states_no_766_field() -> None:
    lines, truth = run(profile="2022", records=500, seed=1)
    assert not any(name.encode() in line for line in lines for name in INDEX_766_FIELDS)
    national = truth["index_766"]["periods"][0]["national"]
    assert national["3.3"] == [0, 0, 500] and national["4.3"] == [0, 0, 500]  # not judged, never guessed
    assert national["1.4"] == [500, 500, 0]


def test_the_766_fields_leave_every_other_member_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    # without `malformed`: a malformed line is cut from its neighbour's bytes, drawing from its stream by their
    # length, so longer lines move later malformed lines (as any change of the bytes always has)
    knobs = {k: v for k, v in KNOBS.items() if k != "malformed"}
    with_fields, _ = run(records=1_000, seed=5, **knobs)
    monkeypatch.setattr(simulator_events, "INDEX_RATES", {})
    without, _ = run(records=1_000, seed=5, **knobs)
    assert len(with_fields) == len(without)

    def stripped(line: bytes) -> Any:
        try:
            data = orjson.loads(line)
        except orjson.JSONDecodeError:
            return line
        return {k: v for k, v in data.items() if k not in INDEX_766_FIELDS} if isinstance(data, dict) else data

    assert [stripped(line) for line in with_fields] == [orjson.loads(line) for line in without]
    assert sum(b"fee_required" in line for line in with_fields) > 900 and not any(b"fee_required" in x for x in without)
