"""The 766 views (migration 0011) on the real engine equal models.index_766 (record_facts -> contribute ->
Totals) for every period and indicator, at every grain, whatever the duplicates, replays, late events and
partitions; and hand-computed cases pin each edge rule with its numbers."""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from dvcpulse.models.index_766 import DERIVED_INDICATORS, Totals, contribute
from dvcpulse.models.index_766_facts import FLAGS, record_facts
from dvcpulse.models.index_766_periods import PERIOD_KINDS, periods_between
from dvcpulse.models.index_766_scoring import group_scores, indicator_points, total_score
from dvcpulse.seeds.reference import VIETNAM_TZ
from dvcpulse.sinks.contract import EventRow
from dvcpulse.sinks.writer import ClickHouseWriter
from dvcpulse.streams.state import PartitionState
from tests.models.test_index_766 import Ev as RuleEvent
from tests.sinks.conftest import DB

START = datetime(2025, 1, 1, tzinfo=VIETNAM_TZ)


@dataclass(frozen=True)
class Ev(RuleEvent):
    """One event as the rules read it (tests.models.test_index_766.Ev) and as the sink stores it."""

    service_code: str = "DV01"
    province_code: str = "01"
    late: bool = False

    def row(self, source: int) -> EventRow:
        ms = lambda t: int(t.timestamp() * 1000)  # noqa: E731 (whole seconds here: exact)
        return EventRow(
            self.event_id, self.record_id, self.procedure_code, self.service_code, self.province_code, "", "",
            self.channel, "full", self.event_type, self.status, ms(self.event_time),
            None if self.due_date is None else ms(self.due_date), self.paid_online, "", self.late, source,
            self.fee_required, self.requires_written_result, self.result_electronic, self.digitized_components,
            self.reused_data, self.personal_store, self.population_data, self.satisfaction_rating, self.complaint,
        )  # fmt: skip


def write(client: Client, events: list[Ev], partitions: int = 3, replay: bool = True) -> None:
    """Through the worker's state and the real writer: each record on its partition, one event a message
    (so a re-sent copy is a duplicate the state drops), and, with `replay`, every history row written twice
    (a crash between history and checkpoint)."""
    writer = ClickHouseWriter(client, DB)
    states = [PartitionState(partition=p) for p in range(partitions)]
    for n, ev in enumerate(events, start=1):
        state = states[zlib.crc32(ev.record_id.encode()) % partitions]
        state.apply_message(n, [ev.row(source=n)])
    for state in states:
        if state.offset < 0:  # no message on this partition
            continue
        changes = state.take_changes()
        writer.write([changes])
        if replay:
            writer._write_history([changes], now=1)


# -- random records ------------------------------------------------------------------------------------------


def random_record(rng: random.Random, n: int) -> list[Ev]:
    """A record's events: a lifecycle with supplements, withdrawals before or after acceptance, late or open
    dossiers, facts stated (or restated, or never) on random events, copies and late events."""
    rid = f"R{n:04d}"
    base = dict(record_id=rid, channel=rng.choice((1, 2, 2, 3)), procedure_code=rng.choice(("1.001", "1.002", "2.001")),
                service_code=rng.choice(("DV01", "DV02")), province_code=rng.choice(("01", "79", "48")))  # fmt: skip
    t = START + timedelta(seconds=rng.randrange(400 * 86_400))  # whole seconds: event times are ms
    life: list[tuple[str, int, datetime]] = []
    if rng.random() < 0.95:
        life.append(("submitted", 1, t))
    step = lambda: timedelta(seconds=rng.randrange(3_600, 20 * 86_400))  # noqa: E731
    path = rng.choice(["resolve", "resolve", "return", "refuse", "stop", "withdraw_after", "withdraw_before", "open"])
    if path != "withdraw_before" and rng.random() < 0.85:
        t += step()
        life.append(("status_changed", 2, t))
    for _ in range(rng.choice((0, 0, 1, 1, 2))):  # supplement requests, sometimes a repeated 5 (one request)
        t += step()
        life.append(("status_changed", 5, t))
        if rng.random() < 0.3:
            life.append(("synced", 5, t + timedelta(minutes=1)))
        if rng.random() < 0.8:
            t += step()
            life.append(("status_changed", 4, t))
    end = {"resolve": 9, "return": 10, "refuse": 3, "stop": 8, "withdraw_after": 7, "withdraw_before": 7}.get(path)
    if end is not None:
        t += step()
        life.append(("status_changed", end, t))
        if end in (9, 10) and rng.random() < 0.3:  # a later other end status does not move the end
            life.append(("status_changed", rng.choice((8, 3)), t + step()))
    if life and rng.random() < 0.7:
        life.append(("synced", life[-1][1], t + timedelta(minutes=5)))
    events = [Ev(f"{rid}-{i}", event_type=kind, status=status, event_time=at, **base)
              for i, (kind, status, at) in enumerate(life)]  # fmt: skip
    if not events:
        return []
    due = START + timedelta(seconds=rng.randrange(420 * 86_400))
    facts: dict[str, Any] = {}
    if rng.random() < 0.85:
        within = events[0].event_time + timedelta(seconds=rng.randrange(86_400, 40 * 86_400))
        facts["due_date"] = within if rng.random() < 0.9 else due
    for name in FLAGS:
        if rng.random() < 0.75:
            facts[name] = rng.random() < 0.5
    if rng.random() < 0.6:
        facts["satisfaction_rating"] = rng.choice(("satisfied", "neutral", "dissatisfied"))
    for name, value in facts.items():  # stated on a random event; sometimes restated differently later
        i = rng.randrange(len(events))
        events[i] = replace(events[i], **{name: value})
        if rng.random() < 0.2 and i + 1 < len(events):
            other = (not value) if isinstance(value, bool) else value
            events[-1] = replace(events[-1], **{name: other})
    out = list(events)
    if rng.random() < 0.3:  # a re-send (same id, its facts as first sent)
        out.append(rng.choice(events))
    if rng.random() < 0.1:  # a late event: history only, read by no rule
        out.append(Ev(f"{rid}-late", event_type="status_changed", status=9, event_time=t + step(), late=True, **base))
    return out


def python_totals(events: list[Ev], grain: str) -> dict[tuple[str, str, str], Totals]:
    """{(period kind, period start, key): Totals} by models.index_766, key = province|service|procedure,
    province, or '' (national) as `grain` says."""
    by_record: dict[str, list[Ev]] = {}
    for ev in events:
        if not ev.late:
            by_record.setdefault(ev.record_id, []).append(ev)
    facts = [record_facts(evs) for evs in by_record.values()]
    on_time = [ev.event_time for ev in events if not ev.late]
    first, newest = min(on_time), max(on_time)
    now = datetime.now(UTC)  # a period not yet ended judges open dossiers now, as the views do
    out: dict[tuple[str, str, str], Totals] = {}
    for kind in PERIOD_KINDS:
        for period in periods_between(first, newest, kind):
            for f in facts:
                key = {"cell": f"{f.province_code}|{f.service_code}|{f.procedure_code}", "province": f.province_code,
                       "national": ""}[grain]  # fmt: skip
                contribution = contribute(f, period, as_of=now)
                if contribution.tallies or contribution.fee_procedure:
                    out.setdefault((kind, period.start.date().isoformat(), key), Totals()).add(contribution)
    return out


def tallies(totals: dict[tuple[str, str, str], Totals]) -> dict[tuple[str, str, str, str], tuple[float, float, int]]:
    out = {}
    for key, total in totals.items():
        for code in DERIVED_INDICATORS:
            tally = total.tally(code)
            if code in total.tallies or (code == "3.5b" and tally.denominator):
                out[(*key, code)] = (tally.numerator, tally.denominator, tally.unjudged)
    return out


def view_totals(client: Client, grain: str) -> dict[tuple[str, str, str, str], tuple[float, float, int]]:
    if grain == "cell":
        sql = (f"SELECT period_kind, toString(period), province_code || '|' || service_code || '|' || procedure_code,"
               f" indicator, numerator, denominator, unjudged FROM {DB}.v_766_indicators")  # fmt: skip
    else:
        where = "province_code != ''" if grain == "province" else "province_code = ''"
        sql = (f"SELECT period_kind, toString(period), province_code, indicator, numerator, denominator, unjudged "
               f"FROM {DB}.v_766_province WHERE {where} AND (denominator > 0 OR unjudged > 0)")  # fmt: skip
    return {tuple(row[:4]): tuple(row[4:]) for row in client.query(sql).result_rows}  # type: ignore[misc]


def assert_equal(actual: dict, expected: dict) -> None:
    assert actual.keys() == expected.keys(), (
        sorted(set(actual) - set(expected))[:5], sorted(set(expected) - set(actual))[:5])  # fmt: skip
    for key, (numerator, denominator, unjudged) in expected.items():
        assert actual[key] == (pytest.approx(numerator, rel=1e-12, abs=1e-6), denominator, unjudged), key


@pytest.fixture(scope="module")
def random_events() -> list[Ev]:
    rng = random.Random(766)
    events = [ev for n in range(400) for ev in random_record(rng, n)]
    rng.shuffle(events)  # arrival order is not event order
    return events


@pytest.mark.parametrize("grain", ["cell", "province", "national"])
def test_views_equal_the_python_rules(client: Client, random_events: list[Ev], grain: str) -> None:
    write(client, random_events)
    totals = python_totals(random_events, grain)
    expected = tallies(totals)
    assert len({key[3] for key in expected}) == len(DERIVED_INDICATORS)  # every indicator is exercised
    assert len(expected) > {"cell": 1000, "province": 500, "national": 200}[grain]
    assert_equal(view_totals(client, grain), expected)
    if grain == "cell":
        return
    # ratios and points per indicator, group scores and the total, as models.index_766_scoring computes them
    where = "province_code != ''" if grain == "province" else "province_code = ''"
    rows = client.query(f"SELECT period_kind, toString(period), province_code, indicator, ratio, points "
                        f"FROM {DB}.v_766_province WHERE {where}").result_rows  # fmt: skip
    scores = client.query(f"SELECT period_kind, toString(period), province_code, group_code, points, scored_max, "
                          f"max_points, scored, missing FROM {DB}.v_766_scores WHERE {where}").result_rows  # fmt: skip
    assert {row[:3] for row in rows} == set(totals) == {row[:3] for row in scores}
    assert len(rows) == len(totals) * len(DERIVED_INDICATORS) and len(scores) == len(totals) * 7
    view_points = {row[:4]: row[4:] for row in rows}
    view_scores = {row[:4]: row[4:] for row in scores}
    for key, total in totals.items():
        ratios = total.ratios()
        earned = indicator_points(ratios)
        for code in DERIVED_INDICATORS:
            assert view_points[(*key, code)] == (approx(ratios[code]), approx(earned[code])), (key, code)
        groups = group_scores(ratios)
        for code, score in [*groups.items(), ("TOTAL", total_score(groups))]:
            assert view_scores[(*key, code)] == (
                approx(score.points), score.scored_max, score.max_points, sorted(score.scored), sorted(score.missing)
            ), (key, code)


def approx(value: float | None) -> object:
    return None if value is None else pytest.approx(value, rel=1e-9, abs=1e-9)


# -- hand-computed cases: a few records, each rule's numbers written out ---------------------------------------


def at(day: int, hour: int = 8, month: int = 3) -> datetime:
    return datetime(2025, month, day, hour, tzinfo=VIETNAM_TZ)


def lifecycle(rid: str, *steps: tuple[int, datetime], due: datetime | None = None, **attrs: Any) -> list[Ev]:
    """A record: a `submitted` event (status 1) first unless the first step says otherwise, then status changes;
    the due date and any facts stated on the first event."""
    events = []
    for i, (status, moment) in enumerate(steps):
        kind = "submitted" if i == 0 and status == 1 else "status_changed"
        events.append(Ev(f"{rid}-{i}", kind, status, moment, record_id=rid, **attrs))
    events[0] = replace(events[0], due_date=due)
    return events


def national(client: Client, kind: str = "month", period: str = "2025-03-01") -> dict[str, tuple[float, float, int]]:
    rows = client.query(
        f"SELECT indicator, numerator, denominator, unjudged FROM {DB}.v_766_province "
        "WHERE province_code = '' AND period_kind = {k:String} AND period = {p:String}",
        parameters={"k": kind, "p": period},
    ).result_rows
    return {code: (numerator, denominator, unjudged) for code, numerator, denominator, unjudged in rows}


def test_edge_rules_by_hand(client: Client) -> None:
    events = [
        # A: returned (10) on 5 March, then resolved (9) on 10 March: 9 comes first, so it ended on the 10th,
        # after its due date (the 7th): late. Handling from acceptance: 8 days.
        *lifecycle("A", (1, at(1)), (2, at(2)), (10, at(5)), (9, at(10)), due=at(7)),
        # B: a supplement wait of 4 days (5 on the 2nd until 4 on the 6th) moves its due date from the 6th to the
        # 10th: resolved on the 9th is on time; handling 8 days minus the 4 waited.
        *lifecycle("B", (1, at(1)), (2, at(1, 9)), (5, at(2, 9)), (4, at(6, 9)), (9, at(9, 9)), due=at(6, 9)),
        # C: two supplement requests: late whatever the due date; handling from receipt (no acceptance), 5 days
        # minus 2 waited.
        *lifecycle("C", (1, at(1)), (5, at(2)), (4, at(3)), (5, at(4)), (4, at(5)), (9, at(6)), due=at(20)),
        # D: open, due on the 15th: judged at the end of March, late.
        *lifecycle("D", (1, at(1)), (2, at(2)), due=at(15)),
        # E: open, due on 10 April: within its due date at the end of March.
        *lifecycle("E", (1, at(20)), due=at(10, month=4)),
        # F: withdrawn (7) without acceptance: not in 2.1 nor 5.4.
        *lifecycle("F", (1, at(1)), (7, at(2)), due=at(30)),
        # G: withdrawn after acceptance: handling ended on the 3rd, within its due date (not completed: no 2.2).
        *lifecycle("G", (1, at(1)), (2, at(2)), (7, at(3)), due=at(10)),
        # H: no due date: 2.1 and 5.4 cannot judge it (unjudged); resolved after 2 days.
        *lifecycle("H", (1, at(1)), (2, at(2)), (9, at(4))),
    ]
    write(client, [*events, events[3], events[9]])  # two re-sends, and every row replayed
    day = 86_400.0
    expected = {
        "1.4": (0, 8, 0),  # received in March, none synced
        "2.1": (3, 6, 1),  # B, E, G on time; A, C, D late; F left out; H unjudged
        "5.4": (3, 6, 1),  # no complaint, no dislike: 1 - overdue per dossier
        "2.2": (8 * day + 4 * day + 3 * day + 2 * day, 4, 0),  # A, B, C, H (completed: 9 or 10)
        "4.1": (0, 0, 4),  # completed A, B, C, H; whether a written result is required is not stated
        "3.6": (0, 0, 8),  # processing started in March; fee not stated
        "3.5b": (0, 0, 0),  # no fee-bearing dossier: every derived indicator has its row, empty here
        **{code: (0, 0, 8) for code in ("3.3", "4.2", "4.3", "4.4", "4.5b")},  # received, facts not stated
    }
    assert national(client) == expected
    assert national(client, "quarter", "2025-01-01") == expected
    # judged at the end of 2025, E (still open, due 10 April) is late too
    assert national(client, "year", "2025-01-01") == {**expected, "2.1": (2, 6, 1), "5.4": (2, 6, 1)}
    # the newest event is in March: no April rows, although D and E are still open
    assert national(client, "month", "2025-04-01") == {}


def test_facts_and_procedure_counts_by_hand(client: Client) -> None:
    base = {"province_code": "79"}
    events = [
        # open, within their due date: fee-bearing dossiers of procedure 1.001 (one paid online), of 2.002 (none
        # paid); a fee-free one
        *lifecycle("I", (1, at(5)), due=at(10, month=4), fee_required=True, paid_online=True, **base),
        *lifecycle("J", (1, at(5)), due=at(10, month=4), fee_required=True, paid_online=False, **base),
        *lifecycle("K", (1, at(5)), due=at(10, month=4), fee_required=True, procedure_code="2.002", **base),
        *lifecycle("L", (1, at(5)), due=at(10, month=4), fee_required=False, procedure_code="2.003", **base),
        # 1.001 again in another province, paid online: nationally still one procedure
        *lifecycle("M", (1, at(5)), due=at(10, month=4), fee_required=True, paid_online=True, province_code="01"),
        # online, a written result required and issued electronically, components digitised, data reused;
        # resolved on the 6th; disliked: 5.4 counts 1 - 0 (on time) - 1 (dislike) = 0
        *lifecycle("N", (1, at(5)), (9, at(6)), due=at(30), requires_written_result=True, result_electronic=True,
                   digitized_components=True, reused_data=True, personal_store=False, population_data=True,
                   satisfaction_rating="dissatisfied", **base),
        # in person, no written result required: 3.3 no (not online), 4.2 yes (digitised, nothing required);
        # overdue and a complaint: 5.4 counts 1 - 1 - 1 = -1
        *lifecycle("O", (1, at(5)), due=at(6), channel=1, requires_written_result=False,
                   digitized_components=True, complaint=True, **base),
    ]
    # a later event restates N's rating: the latest statement wins (satisfied: no dislike)
    events.append(Ev("N-late-rating", "status_changed", 9, at(7), record_id="N", satisfaction_rating="satisfied",
                     **base))  # fmt: skip
    write(client, events)
    rows = client.query(
        f"SELECT indicator, numerator, denominator, unjudged FROM {DB}.v_766_province "
        "WHERE province_code = '79' AND period_kind = 'month' AND period = '2025-03-01'"
    ).result_rows
    province = {code: (numerator, denominator, unjudged) for code, numerator, denominator, unjudged in rows}
    assert province["3.6"] == (1, 3, 2)  # I paid, of I, J, K (L has no fee); N and O do not say
    assert province["3.5b"] == (1, 2, 0)  # procedures with a fee dossier: 1.001 (paid online), 2.002
    assert national(client)["3.5b"] == (1, 2, 0)  # 1.001 once although filed in two provinces
    assert province["3.3"] == (1, 2, 4)  # N online with its e-result; O in person; I-L unjudged
    assert province["4.1"] == (1, 1, 0)  # N completed, e-result required and issued
    assert province["4.2"] == (2, 2, 4)
    assert province["4.3"] == (1, 1, 5)
    assert province["4.4"] == (0, 1, 5)
    assert province["4.5b"] == (1, 1, 5)
    assert province["5.4"] == (1 + 1 + 1 + 1 + 1 - 1, 6, 0)  # I-L and N (rating restated): 1 each; O: -1
    assert province["2.1"] == (5, 6, 0)  # O overdue


def test_a_running_period_judges_open_dossiers_now(client: Client) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    received = now - timedelta(minutes=1)
    # open, due in an hour: within its due date now, though not at the end of its month or year
    write(client, lifecycle("P", (1, received), due=now + timedelta(hours=1)))
    year = received.astimezone(VIETNAM_TZ).strftime("%Y-01-01")
    assert national(client, "year", year)["2.1"] == (1, 1, 0)
