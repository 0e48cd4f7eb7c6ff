"""The simulator: calibration to published figures, determinism, validity, and a ground truth that an
independent recount of the emitted lines (with sets, through the product's decoder) reproduces exactly."""

from __future__ import annotations

import hashlib
import itertools
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from dvcpulse.cli import app
from dvcpulse.models.decode import decode_event
from dvcpulse.models.filing_event import FilingEvent
from dvcpulse.seeds.ground_truth import read_truth
from dvcpulse.seeds.simulator import (
    MALFORMED_KINDS,
    PROFILES,
    SimulationConfig,
    expected_online_share,
    province_weights,
    service_mix,
    simulate,
    write_simulation,
)

VN = timezone(timedelta(hours=7))
ALL_KNOBS = {
    "duplicates": 0.05,
    "out_of_order": 0.1,
    "late": 0.03,
    "malformed": 0.02,
    "legacy_codes": 0.2,
}
RUN_FACTS = ("profile", "seed", "records", "options", "expected_online_share", "late_records", "legacy_code_records")
# What recount() does not recompute: the run's facts, and the 766 indicators (tests/seeds/test_truth_766.py checks
# those against models.index_766).
NOT_RECOUNTED = (*RUN_FACTS, "index_766")


def run(**options: Any) -> tuple[list[bytes], dict[str, Any]]:
    simulation = simulate(**options)
    lines = list(simulation)
    return lines, simulation.truth()


@pytest.fixture(scope="module")
def knobbed() -> tuple[list[bytes], dict[str, Any]]:
    return run(records=3_000, seed=7, days=2, **ALL_KNOBS)


def decoded(lines: list[bytes]) -> tuple[list[tuple[int, FilingEvent, bytes]], list[tuple[int, ValidationError]]]:
    valid, rejected = [], []
    for number, line in enumerate(lines, 1):
        try:
            valid.append((number, decode_event(line), line))
        except ValidationError as error:
            rejected.append((number, error))
    return valid, rejected


def recount(lines: list[bytes]) -> dict[str, Any]:
    """The product's rules, applied from scratch to the emitted lines."""
    valid, rejected = decoded(lines)
    first: dict[tuple[str, str], FilingEvent] = {}  # (event type, record_id) -> earliest counted event
    status_changes: dict[str, FilingEvent] = {}
    seen_ids: set[str] = set()
    for _, event, _ in valid:
        seen_ids.add(event.event_id)
        if event.event_type == "status_changed":
            status_changes.setdefault(event.event_id, event)
            continue
        key = (event.event_type, event.record_id)
        if key not in first or event.event_time < first[key].event_time:
            first[key] = event
    cells: dict[tuple, list[int]] = defaultdict(lambda: [0, 0, 0])
    days: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    totals = Counter()
    names = {1: "in_person", 2: "online", 3: "postal"}

    def cell(e: FilingEvent) -> tuple:
        return (e.service_code, e.province_code, int(e.channel), e.online_level)

    for (event_type, _), event in first.items():
        slot = 0 if event_type == "submitted" else 1
        cells[cell(event)][slot] += 1
        days[event.event_time.astimezone(VN).date().isoformat()][slot] += 1
        totals[event_type] += 1
        totals[f"{event_type}_{names[int(event.channel)]}"] += 1
    for event in status_changes.values():
        cells[cell(event)][2] += 1
        totals["status_changes"] += 1
    times = [event.event_time for _, event, _ in valid]
    total_keys = (
        "submitted", "synced", "synced_online", "synced_in_person", "synced_postal",
        "submitted_online", "submitted_in_person", "submitted_postal", "status_changes",
    )  # fmt: skip
    return {
        "lines": len(lines),
        "valid_events": len(valid),
        "unique_events": len(seen_ids),
        "duplicate_lines": len(valid) - len(seen_ids),
        "malformed_lines": [number for number, _ in rejected],
        "first_event_time": min(times).astimezone(VN).isoformat() if times else None,
        "last_event_time": max(times).astimezone(VN).isoformat() if times else None,
        "totals": {key: totals[key] for key in total_keys},
        "synced_online_share": totals["synced_online"] / totals["synced"] if totals["synced"] else None,
        "by_day": [{"date": d, "submitted": c[0], "synced": c[1]} for d, c in sorted(days.items())],
        "by_cell": [
            dict(zip(("service_code", "province_code", "channel", "online_level"), k, strict=True))
            | {"submitted": c[0], "synced": c[1], "status_changes": c[2]}
            for k, c in sorted(cells.items())
        ],
    }


# -- calibration ---------------------------------------------------------------------------------------


def test_the_calibrated_mix_hits_each_profile_target_in_expectation() -> None:
    for profile in PROFILES.values():
        assert expected_online_share(service_mix(profile)) == pytest.approx(profile.target_online_share, abs=1e-12)
        assert sum(e.weight for e in service_mix(profile)) == pytest.approx(1.0)


def test_profile_2022_synced_online_share_is_4_21_percent() -> None:
    simulation = simulate(profile="2022", records=200_000, seed=1)
    for _ in simulation:
        pass
    truth = simulation.truth()
    assert truth["totals"]["synced"] == 200_000
    assert truth["synced_online_share"] == pytest.approx(6_519_773 / 154_840_409, abs=0.005)


def test_profile_2025_synced_online_share_is_about_83_percent() -> None:
    _, truth = run(profile="2025", records=30_000, seed=1)
    assert truth["synced_online_share"] == pytest.approx(0.83, abs=0.02)
    postal = truth["totals"]["synced_postal"] / truth["totals"]["synced"]
    assert 0.005 < postal < 0.025


def test_patterns_provinces_hours_and_weekdays() -> None:
    lines, truth = run(records=20_000, days=7, seed=3)  # 2025-09-01 is a Monday
    weights = province_weights()
    assert sorted(weights, key=weights.get, reverse=True)[:2] == ["79", "01"]
    in_person_weekday, online_weekday = Counter(), Counter()
    for line in lines:
        event = orjson.loads(line)
        if event["event_type"] != "submitted":
            continue
        moment = datetime.fromisoformat(event["event_time"])
        assert moment.utcoffset() == timedelta(hours=7)
        if event["channel"] == 2:
            online_weekday[moment.weekday()] += 1
            continue
        in_person_weekday[moment.weekday()] += 1
        minutes = moment.hour * 60 + moment.minute
        assert 450 <= minutes < 690 or 810 <= minutes < 1020, event["event_time"]  # 7:30-11:30, 13:30-17:00
    assert in_person_weekday[6] < in_person_weekday[5] < in_person_weekday[2]  # Sun < Sat < Wed
    assert online_weekday[6] > in_person_weekday[6]
    assert online_weekday[0] < 3 * online_weekday[6]  # online is spread over the week
    by_province = Counter()
    for row in truth["by_cell"]:
        by_province[row["province_code"]] += row["submitted"]
    assert [code for code, _ in by_province.most_common(2)] == ["79", "01"]


# -- determinism -------------------------------------------------------------------------------------


def digest(**options: Any) -> str:
    sha = hashlib.sha256()
    for line in simulate(**options):
        sha.update(line + b"\n")
    return sha.hexdigest()


def test_same_seed_same_bytes_different_seed_different_bytes() -> None:
    options = {"records": 20_000, **ALL_KNOBS}
    first = digest(seed=11, **options)
    assert digest(seed=11, **options) == first
    assert digest(seed=12, **options) != first


def test_knobs_do_not_change_the_base_events(knobbed: tuple[list[bytes], dict[str, Any]]) -> None:
    plain, _ = run(records=3_000, seed=7, days=2, legacy_codes=0.2, late=0.03)
    knobbed_ids = {orjson.loads(line).get("event_id") for line in knobbed[0] if line.endswith(b"}")}
    assert {orjson.loads(line)["event_id"] for line in plain} <= knobbed_ids


# -- validity and the knobs --------------------------------------------------------------------------


def test_valid_lines_validate_and_malformed_lines_fail(knobbed: tuple[list[bytes], dict[str, Any]]) -> None:
    lines, truth = knobbed
    valid, rejected = decoded(lines)
    assert [number for number, _ in rejected] == truth["malformed_lines"]
    assert len(valid) == truth["valid_events"]
    assert len(rejected) > 0.015 * truth["unique_events"]
    signatures = set()
    for _, error in rejected:
        item = error.errors()[0]
        signatures.add("json_invalid" if item["type"] == "json_invalid" else
                       "missing" if item["type"] == "missing" else item["loc"][0])  # fmt: skip
    assert signatures == {"json_invalid", "missing", "province_code", "event_time", "channel", "status",
                          "applicant_id"}  # fmt: skip
    assert len(MALFORMED_KINDS) == len(signatures)


def test_lifecycles_are_consistent(knobbed: tuple[list[bytes], dict[str, Any]]) -> None:
    valid, _ = decoded(knobbed[0])
    by_record: dict[str, dict[str, FilingEvent]] = defaultdict(dict)
    raw_by_id: dict[str, bytes] = {}
    for _, event, line in valid:
        assert raw_by_id.setdefault(event.event_id, line) == line  # a re-sent event is an exact copy
        assert b'+07:00"' in line
        by_record[event.record_id][event.event_id] = event
    assert len(by_record) == knobbed[1]["records"]  # record ids are unique
    assert sum(len(events) for events in by_record.values()) == knobbed[1]["unique_events"]
    for events in by_record.values():
        ordered = sorted(events.values(), key=lambda e: (e.event_time, e.event_type != "submitted"))
        types = [e.event_type for e in ordered]
        assert types[0] == "submitted" and types[-1] == "synced", types
        assert 1 <= types.count("status_changed") <= 4 and len(types) == types.count("status_changed") + 2
        assert ordered[0].status == 1 and ordered[0].applicant_hash is not None
        assert ordered[-1].status in {3, 7, 8, 9, 10}
        shared = {(e.service_code, e.province_code, e.channel, e.online_level, e.procedure_code) for e in ordered}
        assert len(shared) == 1


def test_knobs_have_their_effect(knobbed: tuple[list[bytes], dict[str, Any]]) -> None:
    lines, truth = knobbed
    assert truth["duplicate_lines"] == pytest.approx(0.05 * truth["unique_events"], rel=0.25)
    assert truth["legacy_code_records"] == pytest.approx(0.2 * truth["records"], rel=0.15)
    assert truth["late_records"] == pytest.approx(0.03 * truth["records"], rel=0.4)
    valid, _ = decoded(lines)
    legacy_records = {e.record_id for _, e, _ in valid if e.province_code_original is not None}
    assert len(legacy_records) == truth["legacy_code_records"]
    assert truth["first_event_time"] < "2025-09-01"  # late records are stamped two days early
    times = [e.event_time for _, e, _ in valid]
    assert sum(1 for a, b in itertools.pairwise(times) if b < a) > 0.05 * len(times)


# -- ground truth ------------------------------------------------------------------------------------


def test_truth_equals_an_independent_recount(knobbed: tuple[list[bytes], dict[str, Any]]) -> None:
    lines, truth = knobbed
    expected = recount(lines)
    assert {key: value for key, value in truth.items() if key not in NOT_RECOUNTED} == expected
    assert truth["totals"]["submitted"] == truth["totals"]["synced"] == truth["records"]


def test_write_simulation_and_the_cli_write_the_same_files(tmp_path: Path) -> None:
    options = {"records": 500, "seed": 5, **ALL_KNOBS}
    truth = write_simulation(tmp_path / "api.jsonl", **options)
    assert read_truth(tmp_path / "api.jsonl.truth.json") == truth
    result = CliRunner().invoke(
        app,
        ["simulate", "--records", "500", "--seed", "5", "--duplicates", "0.05", "--out-of-order", "0.1",
         "--late", "0.03", "--malformed", "0.02", "--legacy-codes", "0.2", "--out", str(tmp_path / "cli.jsonl")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert (tmp_path / "cli.jsonl").read_bytes() == (tmp_path / "api.jsonl").read_bytes()
    assert read_truth(tmp_path / "cli.jsonl.truth.json") == truth
    lines = (tmp_path / "cli.jsonl").read_bytes().splitlines()
    assert len(lines) == truth["lines"]
    assert recount(lines) == {key: value for key, value in truth.items() if key not in NOT_RECOUNTED}


def test_cli_to_stdout_with_explicit_truth_path(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["simulate", "--profile", "2022", "--records", "50", "--out", "-", "--truth", str(tmp_path / "t.json")]
    )
    assert result.exit_code == 0, result.output
    truth = read_truth(tmp_path / "t.json")
    assert truth["profile"] == "2022" and truth["records"] == 50
    assert result.stdout_bytes.count(b"\n") == truth["lines"]


def test_edge_runs_empty_and_now() -> None:
    lines, truth = run(records=0)
    assert lines == [] and truth["lines"] == 0 and truth["synced_online_share"] is None
    lines, truth = run(records=20, start="now", days=0.01)
    assert truth["totals"]["submitted"] == 20 and len(lines) == truth["lines"]


def test_bad_options_are_refused() -> None:
    with pytest.raises(ValueError, match="legacy_codes"):
        SimulationConfig(legacy_codes=0.9)
    with pytest.raises(ValueError, match="start"):
        SimulationConfig(start="yesterday")
    with pytest.raises(ValueError, match="profile"):
        SimulationConfig(profile="2023")
    result = CliRunner().invoke(app, ["simulate", "--records", "5", "--duplicates", "1.5"])
    assert result.exit_code == 2


# -- run ids and the cut-off (what `dvcpulse up` uses) -------------------------------------------------


def test_a_run_id_gives_new_record_ids_and_the_same_bytes_again() -> None:
    plain, _ = run(records=300, seed=4)
    first, truth = run(records=300, seed=4, run_id="a1b2c3")
    again, _ = run(records=300, seed=4, run_id="a1b2c3")
    other, _ = run(records=300, seed=4, run_id="d4e5f6")
    assert first == again  # seed and run id: same bytes
    ids = {name: {orjson.loads(line)["record_id"] for line in lines} for name, lines in
           (("plain", plain), ("first", first), ("other", other))}  # fmt: skip
    assert all(record_id.split("-")[2] == "a1b2c3" for record_id in ids["first"])
    assert all(len(record_id.split("-")) == 3 for record_id in ids["plain"])  # without a run id, as before
    assert not ids["first"] & ids["other"] and not ids["first"] & ids["plain"]
    assert truth["options"]["run_id"] == "a1b2c3"
    with pytest.raises(ValueError, match="run_id"):
        SimulationConfig(run_id="no-dashes")


def test_until_cuts_the_stream_and_the_truth_counts_what_came_out() -> None:
    lines, truth = run(records=2_000, seed=9, until="2025-09-01T12:00:00+07:00")
    until = datetime.fromisoformat("2025-09-01T12:00:00+07:00")
    times = [datetime.fromisoformat(orjson.loads(line)["event_time"]) for line in lines]
    assert times and max(times) <= until
    assert truth["options"]["until"] == "2025-09-01T12:00:00+07:00"
    assert truth["last_event_time"] <= truth["options"]["until"]
    assert 0 < truth["totals"]["synced"] < truth["totals"]["submitted"] < 2_000  # filings of the afternoon are cut
    assert {key: value for key, value in truth.items() if key not in NOT_RECOUNTED} == recount(lines)
    full, _ = run(records=2_000, seed=9)
    assert lines == full[: len(lines)]  # the same stream, stopped
