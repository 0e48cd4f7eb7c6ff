"""The 766 indicator rules (models.index_766*), each against values computed by hand, with their edge cases.

Times are Vietnam time. A record is written as its events; `ev` fills what the rules do not read.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest

from dvcpulse.models.index_766 import (
    DERIVED_INDICATORS,
    Tally,
    Totals,
    contribute,
    handling_end,
    on_time,
)
from dvcpulse.models.index_766_facts import RecordFacts, record_facts
from dvcpulse.models.index_766_periods import Period, period_of, periods_between
from dvcpulse.models.index_766_scoring import group_scores, points, total_score
from dvcpulse.seeds.index_766 import index_indicators
from dvcpulse.seeds.reference import VIETNAM_TZ

SEPTEMBER, OCTOBER = Period.month(2025, 9), Period.month(2025, 10)


def vn(text: str) -> datetime:
    """'09-02 08:00' -> 2025-09-02T08:00+07:00 (a full ISO text is taken as is)."""
    if len(text) == 11:
        text = f"2025-{text[:5]}T{text[6:]}"
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=VIETNAM_TZ)


@dataclass(frozen=True)
class Ev:
    event_id: str
    event_type: str
    status: int
    event_time: datetime
    record_id: str = "R1"
    channel: int = 2
    procedure_code: str = "1.001"
    service_code: str = "DV03"
    province_code: str = "79"
    due_date: datetime | None = None
    paid_online: bool | None = None
    fee_required: bool | None = None
    requires_written_result: bool | None = None
    result_electronic: bool | None = None
    digitized_components: bool | None = None
    reused_data: bool | None = None
    personal_store: bool | None = None
    population_data: bool | None = None
    satisfaction_rating: str | None = None
    complaint: bool | None = None


def ev(event_id: str, status: int, when: str, event_type: str = "", **facts: object) -> Ev:
    kind = event_type or ("submitted" if status == 1 else "status_changed")
    if "due_date" in facts and isinstance(facts["due_date"], str):
        facts["due_date"] = vn(facts["due_date"])
    return Ev(event_id, kind, status, vn(when), **facts)  # type: ignore[arg-type]


def record(*events: Ev) -> RecordFacts:
    return record_facts(events)


DUE = "09-05 17:00"


def resolved_record(*middle: Ev, end: str = "09-04 10:00", due: str = DUE, **facts: object) -> RecordFacts:
    """Received 09-01 08:00 with a due date, accepted 09-01 09:00, then `middle`, resolved (9) at `end`, synced
    (10) two hours later."""
    end_time = vn(end)
    returned = (end_time + timedelta(hours=2)).strftime("%m-%d %H:%M")
    return record(
        ev("s", 1, "09-01 08:00", due_date=due, **facts),
        ev("a", 2, "09-01 09:00"),
        *middle,
        ev("r", 9, end),
        ev("y", 10, returned, "synced"),
    )


def tally(facts: RecordFacts, code: str, period: Period = SEPTEMBER) -> Tally | None:
    return contribute(facts, period).tallies.get(code)


# --- periods (Vietnam time) ---------------------------------------------------------------------------------------


def test_periods_are_vietnam_calendar_periods() -> None:
    late_utc = datetime.fromisoformat("2025-09-30T17:00:00+00:00")  # 2025-10-01 00:00 in Vietnam
    assert period_of(late_utc, "month").key == "2025-10"
    assert period_of(late_utc - timedelta(seconds=1), "month").key == "2025-09"
    assert period_of(late_utc, "quarter").key == "2025-Q4"
    assert period_of(vn("2025-12-31T23:59:59"), "year") == Period.year(2025)
    assert Period.month(2025, 12).end == vn("2026-01-01T00:00:00")
    assert Period.quarter(2025, 3).start == vn("2025-07-01T00:00:00") and Period.quarter(2025, 3).end == vn(
        "2025-10-01T00:00:00"
    )
    assert [p.key for p in periods_between(vn("08-31 23:00"), vn("10-01 00:00"), "month")] == [
        "2025-08", "2025-09", "2025-10",
    ]  # fmt: skip
    window = Period.rolling(vn("09-10 12:00"), timedelta(days=7))
    assert window.start == vn("09-03 12:00") and window.contains(vn("09-03 12:00")) and not window.contains(
        vn("09-10 12:00")
    )
    with pytest.raises(ValueError):
        Period.quarter(2025, 5)


# --- record facts: order, copies --------------------------------------------------------------------------------


def test_facts_ignore_arrival_order_and_copies() -> None:
    events = [
        ev("s", 1, "09-01 08:00", due_date=DUE, fee_required=True),
        ev("a", 2, "09-01 09:00"),
        ev("p", 5, "09-02 10:00"),
        ev("q", 4, "09-04 10:00"),
        ev("r", 9, "09-06 12:00", paid_online=True),
        ev("y", 10, "09-06 13:00", "synced"),
    ]
    expected = {code: contribute(record(*events), period) for code, period in (("9", SEPTEMBER), ("10", OCTOBER))}
    for order in itertools.permutations(events):
        copies = [*order, order[0], order[3]]  # re-sent events
        for code, period in (("9", SEPTEMBER), ("10", OCTOBER)):
            assert contribute(record_facts(copies), period) == expected[code]


def test_the_latest_statement_of_a_fact_wins_by_event_time() -> None:
    facts = record(
        ev("b", 9, "09-03 08:00", paid_online=True),
        ev("s", 1, "09-01 08:00", paid_online=False, due_date="09-05 17:00"),
        ev("a", 2, "09-01 09:00", due_date="09-10 17:00"),  # the deadline restated at acceptance
    )
    assert facts.stated["paid_online"] is True
    assert facts.stated["due_date"] == vn("09-10 17:00")
    assert facts.stated["reused_data"] is None  # never stated


def test_facts_refuse_mixed_records() -> None:
    with pytest.raises(ValueError):
        record_facts([ev("s", 1, "09-01 08:00"), Ev("x", "submitted", 1, vn("09-01 08:00"), record_id="R2")])
    with pytest.raises(ValueError):
        record_facts([])


# --- 2.1: end status precedence --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        # 9 comes first in precedence even when an 8 was earlier (a stop that was lifted)
        ([ev("x", 8, "09-02 08:00"), ev("r", 9, "09-03 08:00")], (9, "09-03 08:00")),
        # 9 before 10 even when 10 is earlier (a returned result later marked resolved)
        ([ev("y", 10, "09-02 08:00", "synced"), ev("r", 9, "09-04 08:00")], (9, "09-04 08:00")),
        ([ev("y", 10, "09-02 08:00", "synced"), ev("x", 8, "09-01 12:00")], (10, "09-02 08:00")),
        ([ev("x", 8, "09-03 08:00"), ev("f", 3, "09-02 08:00")], (3, "09-02 08:00")),  # the earliest of 8 and 3
        ([ev("a", 2, "09-01 09:00"), ev("w", 7, "09-02 08:00")], (7, "09-02 08:00")),  # withdrawn once accepted
        ([ev("w", 7, "09-02 08:00")], None),  # withdrawn before acceptance: no end
        ([ev("a", 2, "09-01 09:00"), ev("p", 4, "09-02 08:00")], None),  # still open
    ],
)
def test_handling_end_precedence(events: list[Ev], expected: tuple[int, str] | None) -> None:
    end = handling_end(record(ev("s", 1, "09-01 08:00"), *events))
    assert (None if end is None else (end.status, end.time)) == (
        None if expected is None else (expected[0], vn(expected[1]))
    )


def test_on_time_when_finished_by_the_due_date() -> None:
    assert tally(resolved_record(end="09-05 17:00"), "2.1") == Tally(1, 1)  # exactly at the due date
    assert tally(resolved_record(end="09-05 17:01"), "2.1") == Tally(0, 1)


def test_the_precedence_decides_the_verdict() -> None:
    # stopped on 09-03 (in time) but resolved 09-08 (late): 9 is the end, so late
    facts = record(ev("s", 1, "09-01 08:00", due_date=DUE), ev("a", 2, "09-01 09:00"), ev("x", 8, "09-03 08:00"),
                   ev("r", 9, "09-08 08:00"))  # fmt: skip
    assert tally(facts, "2.1") == Tally(0, 1)


def test_supplement_wait_extends_the_due_date() -> None:
    # waiting 09-02 10:00 .. 09-04 10:00 (2 days): due 09-05 17:00 becomes 09-07 17:00
    middle = (ev("p", 5, "09-02 10:00"), ev("q", 4, "09-04 10:00"))
    assert tally(resolved_record(*middle, end="09-06 12:00"), "2.1") == Tally(1, 1)
    assert tally(resolved_record(*middle, end="09-07 17:00"), "2.1") == Tally(1, 1)
    assert tally(resolved_record(*middle, end="09-07 17:01"), "2.1") == Tally(0, 1)
    assert tally(resolved_record(end="09-06 12:00"), "2.1") == Tally(0, 1)  # the same end without the wait


def test_a_repeated_status_5_is_one_request_and_two_requests_are_late() -> None:
    one = (ev("p", 5, "09-02 10:00"), ev("p2", 5, "09-02 10:05", "synced"), ev("q", 4, "09-03 10:00"))
    assert record(*one).supplement_requests(before=vn("09-30 00:00")) == 1
    assert tally(resolved_record(*one, end="09-03 12:00"), "2.1") == Tally(1, 1)
    two = (*one, ev("p3", 5, "09-03 11:00"), ev("q2", 4, "09-03 11:30"))
    assert tally(resolved_record(*two, end="09-03 12:00"), "2.1") == Tally(0, 1)  # well in time, but two requests


def test_open_dossiers_are_judged_at_the_period_end() -> None:
    # received 09-25; due 10-03: within its due date at the end of September
    open_in_time = record(ev("s", 1, "09-25 08:00", due_date="10-03 17:00"), ev("a", 2, "09-25 09:00"))
    assert tally(open_in_time, "2.1") == Tally(1, 1)
    # due 09-28: open and past due at the end of September
    open_late = record(ev("s", 1, "09-25 08:00", due_date="09-28 17:00"), ev("a", 2, "09-25 09:00"))
    assert tally(open_late, "2.1") == Tally(0, 1)
    # still waiting on a supplement at the period end: the wait keeps running, so still in time
    waiting = record(ev("s", 1, "09-25 08:00", due_date="09-28 17:00"), ev("p", 5, "09-26 08:00"))
    assert tally(waiting, "2.1") == Tally(1, 1)
    # judged as of 09-27 instead (a month still running): in time then
    assert contribute(open_late, SEPTEMBER, as_of=vn("09-27 00:00")).tallies["2.1"] == Tally(1, 1)


def test_a_dossier_counts_in_every_period_it_is_handled_in() -> None:
    # received 09-25, due 10-03, resolved 10-06: in time at the end of September, late in October
    facts = record(ev("s", 1, "09-25 08:00", due_date="10-03 17:00"), ev("a", 2, "09-25 09:00"),
                   ev("r", 9, "10-06 08:00"))  # fmt: skip
    assert tally(facts, "2.1", SEPTEMBER) == Tally(1, 1)
    assert tally(facts, "2.1", OCTOBER) == Tally(0, 1)
    assert tally(facts, "2.1", Period.month(2025, 11)) is None  # finished before November
    assert tally(facts, "2.1", Period.month(2025, 8)) is None  # not yet received in August
    assert tally(facts, "2.1", Period.quarter(2025, 4)) == Tally(0, 1)
    assert tally(facts, "2.1", Period.quarter(2025, 3)) == Tally(1, 1)
    assert tally(facts, "2.1", Period.year(2025)) == Tally(0, 1)


def test_withdrawn_only_counts_after_acceptance() -> None:
    before = record(ev("s", 1, "09-01 08:00", due_date=DUE), ev("w", 7, "09-01 08:30"))
    assert tally(before, "2.1") is None and tally(before, "5.4") is None
    after = record(ev("s", 1, "09-01 08:00", due_date=DUE), ev("a", 2, "09-01 09:00"), ev("w", 7, "09-02 08:00"))
    assert tally(after, "2.1") == Tally(1, 1)
    after_due = record(ev("s", 1, "09-01 08:00", due_date=DUE), ev("a", 2, "09-01 09:00"), ev("w", 7, "09-08 08:00"))
    assert tally(after_due, "2.1") == Tally(0, 1)


def test_no_due_date_is_not_judged() -> None:
    facts = record(ev("s", 1, "09-01 08:00"), ev("r", 9, "09-02 08:00"))
    assert on_time(facts, vn("09-02 08:00")) is None
    assert tally(facts, "2.1") == Tally(0, 0, 1) and tally(facts, "5.4") == Tally(0, 0, 1)


def test_without_a_submitted_event_a_record_is_not_received() -> None:
    facts = record(ev("a", 2, "09-01 09:00", due_date=DUE), ev("r", 9, "09-02 08:00"))
    assert facts.received_at is None
    assert contribute(facts, SEPTEMBER).tallies.keys() <= {"2.2", "3.6", "4.1"}
    assert "2.1" not in contribute(facts, SEPTEMBER).tallies


# --- 2.2 average handling time ---------------------------------------------------------------------------------


def test_average_handling_time_subtracts_supplement_waits() -> None:
    # accepted 09-01 09:00, resolved 09-06 12:00 = 5 d 3 h, minus a 2-day wait = 3 d 3 h
    facts = resolved_record(ev("p", 5, "09-02 10:00"), ev("q", 4, "09-04 10:00"), end="09-06 12:00")
    assert tally(facts, "2.2") == Tally((3 * 24 + 3) * 3600, 1)
    other = resolved_record(end="09-02 09:00", due="09-10 17:00")  # 1 day
    totals = Totals()
    for one in (facts, other):
        totals.add(contribute(one, SEPTEMBER))
    assert totals.ratios()["2.2"] == pytest.approx((3.125 + 1) / 2)  # days
    assert tally(record(ev("s", 1, "09-01 08:00"), ev("a", 2, "09-01 09:00")), "2.2") is None  # not completed
    stopped = record(ev("s", 1, "09-01 08:00"), ev("a", 2, "09-01 09:00"), ev("x", 8, "09-02 09:00"))
    assert tally(stopped, "2.2") is None  # stopped is not completed
    # processing started in September, completed in October: in September's 2.2, not October's
    straddling = resolved_record(end="10-02 09:00")
    assert tally(straddling, "2.2") == Tally(31 * 86_400, 1) and tally(straddling, "2.2", OCTOBER) is None


# --- 1.4 sync, 3.3 online share --------------------------------------------------------------------------------


def test_sync_rate_over_records_received_in_the_period() -> None:
    synced = resolved_record()
    unsynced = record(ev("s", 1, "09-01 08:00"), ev("a", 2, "09-01 09:00"))
    august = record(ev("s", 1, "08-31 23:59"), ev("y", 10, "09-01 08:00", "synced"))
    assert (tally(synced, "1.4"), tally(unsynced, "1.4"), tally(august, "1.4")) == (Tally(1, 1), Tally(0, 1), None)


def test_online_share_needs_an_electronic_result_where_one_is_required() -> None:
    def filed(channel: int, **facts: object) -> RecordFacts:
        return record(ev("s", 1, "09-01 08:00", channel=channel, **facts), ev("y", 10, "09-02 08:00", "synced"))

    cases = [
        (filed(2, requires_written_result=True, result_electronic=True), Tally(1, 1)),
        (filed(2, requires_written_result=True), Tally(0, 1)),  # no e-result (yet)
        (filed(2, requires_written_result=True, result_electronic=False), Tally(0, 1)),
        (filed(2, requires_written_result=False), Tally(1, 1)),
        (filed(1, requires_written_result=False), Tally(0, 1)),
        (filed(3, requires_written_result=False), Tally(0, 1)),  # postal is in the denominator
        (filed(2), Tally(0, 0, 1)),  # a v1 record: not judged
    ]
    totals = Totals()
    for facts, expected in cases:
        assert tally(facts, "3.3") == expected
        totals.add(contribute(facts, SEPTEMBER))
    totals.add(contribute(record(ev("s9", 1, "09-01 08:00", record_id="R9", requires_written_result=False)),
                          SEPTEMBER))  # fmt: skip
    # 3.3: share 3/7 (the last record is online, needs no written result), times the 1.4 rate 7/8 (it never
    # synced) = 0.375
    assert totals.tally("3.3") == Tally(3, 7, 1)
    assert totals.tally("1.4") == Tally(7, 8)
    assert totals.ratios()["3.3"] == pytest.approx(0.375)


# --- 3.5b and 3.6 online payment ---------------------------------------------------------------------------------


def test_online_payment_dossiers_and_procedures() -> None:
    def dossier(rid: str, procedure: str, fee: bool | None, paid: bool | None) -> RecordFacts:
        return record(
            ev("s", 1, "09-01 08:00", record_id=rid, procedure_code=procedure, fee_required=fee),
            ev("a", 2, "09-01 09:00", record_id=rid, procedure_code=procedure),
            ev("y", 10, "09-03 08:00", "synced", record_id=rid, procedure_code=procedure, paid_online=paid),
        )

    records = [
        dossier("A", "P1", True, True),
        dossier("B", "P1", True, False),
        dossier("C", "P2", True, None),  # fee-bearing, not paid online
        dossier("D", "P3", False, None),  # no fee: in neither
        dossier("E", "P4", None, True),  # a v1 record: not judged
    ]
    totals = Totals()
    for facts in records:
        totals.add(contribute(facts, SEPTEMBER))
    assert totals.tally("3.6") == Tally(1, 3, 1)
    assert totals.tally("3.5b") == Tally(1, 2)  # P1 of {P1, P2}
    ratios = totals.ratios()
    assert points(index_indicators()["3.6"], ratios["3.6"]) == pytest.approx(2.0)  # 6 x 1/3
    assert points(index_indicators()["3.5b"], ratios["3.5b"]) == pytest.approx(1.25)  # min(2, 2.5 x 1/2)
    # taking A back (its events changed) leaves P1 with no paid dossier
    totals.add(contribute(records[0], SEPTEMBER), -1)
    assert totals.tally("3.5b") == Tally(0, 2) and totals.tally("3.6") == Tally(0, 2, 1)


def test_payment_counts_in_the_period_processing_started() -> None:
    facts = record(ev("s", 1, "09-30 16:00", fee_required=True), ev("a", 2, "10-01 08:00"),
                   ev("y", 10, "10-02 08:00", "synced", paid_online=True))  # fmt: skip
    assert tally(facts, "3.6", SEPTEMBER) is None
    assert tally(facts, "3.6", OCTOBER) == Tally(1, 1)


# --- 4.x digitisation ------------------------------------------------------------------------------------------


def test_electronic_result_over_completed_dossiers_requiring_a_written_result() -> None:
    yes = resolved_record(requires_written_result=True, result_electronic=True)
    no = resolved_record(requires_written_result=True)
    exempt = resolved_record(requires_written_result=False)
    unknown = resolved_record()
    open_one = record(ev("s", 1, "09-01 08:00", requires_written_result=True))
    refused = record(ev("s", 1, "09-01 08:00", requires_written_result=True), ev("f", 3, "09-01 09:00"))
    assert [tally(f, "4.1") for f in (yes, no, exempt, unknown, open_one, refused)] == [
        Tally(1, 1), Tally(0, 1), None, Tally(0, 0, 1), None, None,
    ]  # fmt: skip
    assert tally(resolved_record(end="10-01 08:00", requires_written_result=True), "4.1") is None  # October's


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        ({"digitized_components": True, "requires_written_result": False}, Tally(1, 1)),
        ({"digitized_components": True, "requires_written_result": True, "result_electronic": True}, Tally(1, 1)),
        ({"digitized_components": True, "requires_written_result": True}, Tally(0, 1)),
        ({"digitized_components": False, "requires_written_result": False}, Tally(0, 1)),
        ({"digitized_components": True}, Tally(0, 0, 1)),
        ({}, Tally(0, 0, 1)),
    ],
)
def test_digitised_dossiers(facts: dict[str, object], expected: Tally) -> None:
    assert tally(record(ev("s", 1, "09-01 08:00", **facts)), "4.2") == expected


@pytest.mark.parametrize(("code", "field"), [("4.3", "reused_data"), ("4.4", "personal_store"),
                                             ("4.5b", "population_data")])  # fmt: skip
def test_flags_over_dossiers_received(code: str, field: str) -> None:
    assert tally(record(ev("s", 1, "09-01 08:00", **{field: True})), code) == Tally(1, 1)
    assert tally(record(ev("s", 1, "09-01 08:00", **{field: False})), code) == Tally(0, 1)
    assert tally(record(ev("s", 1, "09-01 08:00")), code) == Tally(0, 0, 1)
    # stated on a later event counts for the record received in September
    later = record(ev("s", 1, "09-30 08:00"), ev("a", 2, "10-01 08:00", **{field: True}))
    assert tally(later, code) == Tally(1, 1) and tally(later, code, OCTOBER) is None


# --- 5.4 satisfaction ------------------------------------------------------------------------------------------


def test_satisfaction_is_100_percent_minus_overdue_and_complaint_shares() -> None:
    good = resolved_record()
    disliked_in_time = resolved_record(satisfaction_rating="dissatisfied")
    liked = resolved_record(satisfaction_rating="satisfied")
    overdue_with_complaint = resolved_record(end="09-08 08:00", complaint=True)
    assert [tally(f, "5.4") for f in (good, disliked_in_time, liked, overdue_with_complaint)] == [
        Tally(1, 1), Tally(0, 1), Tally(1, 1), Tally(-1, 1),
    ]  # fmt: skip
    five_four = index_indicators()["5.4"]
    # 4 dossiers: overdue 1/4, complaint or dislike 2/4: 100% - 75% = 25% -> 6 x 0.25 / 0.9
    assert Tally(1, 4).ratio == pytest.approx(0.25)
    assert points(five_four, 0.25) == pytest.approx(6 * 0.25 / 0.9)
    assert points(five_four, 0.95) == 6.0  # capped above the 90% target
    assert points(five_four, -0.5) == 0.0  # both shares counted: never below 0
    assert points(five_four, None) == 0.0  # no dossiers: 0


# --- aggregation -----------------------------------------------------------------------------------------------


def test_replacing_a_contribution_leaves_exact_totals() -> None:
    before = record(ev("s", 1, "09-25 08:00", due_date="09-28 17:00", fee_required=True))
    after = record(ev("s", 1, "09-25 08:00", due_date="09-28 17:00", fee_required=True),
                   ev("r", 9, "09-26 08:00", paid_online=True))  # fmt: skip
    totals = Totals()
    totals.add(contribute(before, SEPTEMBER))
    totals.add(contribute(before, SEPTEMBER), -1)
    totals.add(contribute(after, SEPTEMBER))
    direct = Totals()
    direct.add(contribute(after, SEPTEMBER))
    assert {c: totals.tally(c) for c in DERIVED_INDICATORS} == {c: direct.tally(c) for c in DERIVED_INDICATORS}
    empty = Totals()
    empty.add(contribute(after, SEPTEMBER))
    empty.add(contribute(after, SEPTEMBER), -1)
    assert all(t == Tally() for t in empty.tallies.values()) and empty.fee_procedures == {}


# --- points ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "ratio", "expected"),
    [
        ("1.4", 0.5, 3.0),  # 6 x r
        ("2.1", 0.78, 15.6),  # 20 x r
        ("2.1", None, None),  # empty: unknown on the portal
        ("3.6", None, 0.0),  # empty: 0
        ("3.5b", 0.9, 2.0),  # min(2, 2.5 x r)
        ("3.5b", 0.4, 1.0),
        ("4.1", 0.5, 3.0),  # min(6, 6 x r)
        ("4.3", 0.4, 1.0),  # min(2, 2 x r / 0.8)
        ("4.3", 0.9, 2.0),
        ("4.2", 0.5, 2.0),  # linear, though [FD] states a target
        ("5.2", None, 6.0),  # no complaints: full points
        ("3.3", 0.9, None),  # the group's formula is unresolved
        ("2.2", 3.0, None),  # no points
        ("1.1", 1.0, 6.0),  # scored if someone had the ratio; dvcpulse never does
    ],
)
def test_points(code: str, ratio: float | None, expected: float | None) -> None:
    result = points(index_indicators()[code], ratio)
    assert result == (None if expected is None else pytest.approx(expected))


def test_3_5a_is_uncapped_as_observed() -> None:
    assert points(index_indicators()["3.5a"], 1.0) == pytest.approx(2.5)


def test_group_and_total_scores_cover_only_the_derived_part() -> None:
    perfect = dict.fromkeys(DERIVED_INDICATORS, 1.0)
    groups = group_scores(perfect)
    expected = {  # (points, scored max, missing)
        "CKMB": (6, 6, ("1.1", "1.2", "1.3")),
        "TDGQ": (20, 20, ()),
        "CLGQ": (0, 0, ("MX6",)),
        "TTTT": (8, 8, ("3.5a",)),
        "MDSH": (18, 18, ("ECC", "4.5a")),
        "MDHL": (6, 6, ("5.2", "5.3")),
    }
    assert {code: (g.points, g.scored_max, g.missing) for code, g in groups.items()} == expected
    assert groups["CKMB"].partly == ("1.4",) and groups["TTTT"].partly == ("3.5b",)
    total = total_score(groups)
    assert (total.points, total.scored_max, total.max_points, total.missing_points) == (58, 58, 100, 42)
    # a plausible month: 1.4 0.95, 2.1 0.78, 3.5b 0.5, 3.6 0.8, 4.1 0.7, 4.2 0.6, 4.3 0.3, 4.4 0.05, 4.5b 0.4,
    # 5.4 0.75; by hand: 5.7 + 15.6 + (1.25 + 4.8) + (4.2 + 2.4 + 0.75 + 0.2 + 0.8) + 5.0 = 40.7
    month = {"1.4": 0.95, "2.1": 0.78, "2.2": 2.5, "3.3": 0.8, "3.5b": 0.5, "3.6": 0.8, "4.1": 0.7, "4.2": 0.6,
             "4.3": 0.3, "4.4": 0.05, "4.5b": 0.4, "5.4": 0.75}  # fmt: skip
    assert total_score(group_scores(month)).points == pytest.approx(40.7)
    # an empty 2.1 (no dossiers) is not scored, and shows as missing
    empty = total_score(group_scores({**month, "2.1": None}))
    assert empty.scored_max == 38 and "2.1" in empty.missing
