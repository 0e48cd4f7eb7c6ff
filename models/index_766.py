"""Decision 766/QĐ-TTg indicators, one record at a time: what a record contributes to each indicator that
filing events can carry, for one period. Pure and incremental: no I/O, no clock, no state.

The rules are the portal's, as /work/shared/reference/index_766.md gives them ([FD] for the rules; the facts
are in seeds/data/index_766_indicators.csv). Every contribution is a function of the record's set of events
(models.index_766_facts), so it does not depend on arrival order, copies or replays; an aggregator keeps, per
record, the contribution it last added and replaces it when the record changes (subtract, then add): sums
at any grain (province × service × procedure, province, national) stay exact. Late events (models.lateness)
must be left out of a record's events, as they are of every other aggregate.

A record whose facts do not let a rule judge it (a v1 event states none of the 766 fields) is counted as
`unjudged` for that indicator, in neither numerator nor denominator: a ratio is over the records that say,
and `unjudged` shows how many did not. Nothing is guessed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from dvcpulse.models.index_766_facts import (
    ACCEPTED,
    DISSATISFIED,
    ONLINE,
    REFUSED,
    RESOLVED,
    RETURNED,
    STOPPED,
    WITHDRAWN,
    RecordFacts,
)
from dvcpulse.models.index_766_periods import Period

# The indicators computed here (seeds: dvcpulse = derived or partly). 3.5b counts procedures, not records:
# a record contributes its procedure to Contribution.fee_procedure, and Totals counts the procedures.
DERIVED_INDICATORS = ("1.4", "2.1", "2.2", "3.3", "3.5b", "3.6", "4.1", "4.2", "4.3", "4.4", "4.5b", "5.4")
# 2.2 adds seconds of handling time over completed dossiers, not a count of dossiers.
SECONDS_INDICATORS = frozenset({"2.2"})


@dataclass(frozen=True, slots=True)
class Tally:
    """A numerator, a denominator and the records in scope that could not be judged; adds and subtracts."""

    numerator: float = 0.0
    denominator: float = 0.0
    unjudged: int = 0

    def __add__(self, other: Tally) -> Tally:
        return Tally(self.numerator + other.numerator, self.denominator + other.denominator,
                     self.unjudged + other.unjudged)  # fmt: skip

    def __neg__(self) -> Tally:
        return Tally(-self.numerator, -self.denominator, -self.unjudged)

    @property
    def ratio(self) -> float | None:
        """numerator / denominator; None when nothing was judged (the portal's empty-denominator rule then
        decides the points, see models.index_766_scoring)."""
        return self.numerator / self.denominator if self.denominator else None


JUDGED_YES, JUDGED_NO, UNJUDGED = Tally(1, 1), Tally(0, 1), Tally(0, 0, 1)


@dataclass(frozen=True, slots=True)
class HandlingEnd:
    time: datetime
    status: int


@dataclass(frozen=True, slots=True)
class Contribution:
    """What one record adds to one period: a Tally per indicator it is in scope of (absent: not in scope)."""

    tallies: dict[str, Tally]
    fee_procedure: tuple[str, bool] | None = None  # 3.5b: (procedure_code, paid online) for a fee-bearing dossier


def handling_end(facts: RecordFacts) -> HandlingEnd | None:
    """When handling ended, by the portal's precedence: resolved (9) first, then returned (10), then the
    earliest of stopped (8), refused (3) and withdrawn (7), withdrawal only once accepted (2) before it."""
    for status in (RESOLVED, RETURNED):
        time = facts.reached(status)
        if time is not None:
            return HandlingEnd(time, status)
    candidates = [(t, s) for s in (STOPPED, REFUSED) if (t := facts.reached(s)) is not None]
    withdrawn = facts.reached(WITHDRAWN)
    if withdrawn is not None and _accepted_by(facts, withdrawn):
        candidates.append((withdrawn, WITHDRAWN))
    if not candidates:
        return None
    time, status = min(candidates)
    return HandlingEnd(time, status)


def _accepted_by(facts: RecordFacts, moment: datetime) -> bool:
    accepted = facts.reached(ACCEPTED)
    return accepted is not None and accepted <= moment


def withdrawn_before_acceptance(facts: RecordFacts) -> bool:
    """Withdrawn (7) without having been accepted first: the portal leaves such a dossier out of 2.1."""
    withdrawn = facts.reached(WITHDRAWN)
    return withdrawn is not None and not _accepted_by(facts, withdrawn)


def processing_started(facts: RecordFacts) -> datetime | None:
    """Acceptance (2), or the receipt when no acceptance was seen: the start of processing (2.2, 3.5b, 3.6)."""
    return facts.reached(ACCEPTED) or facts.received_at


def on_time(facts: RecordFacts, judged_at: datetime) -> bool | None:
    """2.1's verdict at `judged_at` (the end of handling, or the period's end for an open dossier): within the
    due date extended by the time waited on supplements, and never more than one supplement request. None
    without a due date (the legal maximum time that would replace it is not carried)."""
    due = facts.stated["due_date"]
    if due is None:
        return None
    if facts.supplement_requests(before=judged_at) > 1:
        return False
    return judged_at <= due + facts.paused(judged_at)


def _flag(facts: RecordFacts, name: str) -> bool | None:
    return facts.stated[name]


def contribute(facts: RecordFacts, period: Period, as_of: datetime | None = None) -> Contribution:
    """What `facts` adds to each derived indicator of `period`.

    `as_of` judges open dossiers at that instant instead of the period's end (a period still running); by
    default the period's end, which is what the portal shows once the period is over.
    """
    closing = period.end if as_of is None else min(period.end, as_of)
    tallies: dict[str, Tally] = {}
    received = facts.received_at
    received_in = received is not None and period.start <= received < closing
    end = handling_end(facts)
    if received_in:
        _received_indicators(facts, tallies)
    _timeliness(facts, period, closing, end, tallies)
    completed = end is not None and end.status in (RESOLVED, RETURNED)
    if completed and period.start <= end.time < closing:  # 4.1: completed in the period
        requires = _flag(facts, "requires_written_result")
        if requires is None:
            tallies["4.1"] = UNJUDGED
        elif requires:
            tallies["4.1"] = JUDGED_YES if _flag(facts, "result_electronic") else JUDGED_NO
    started = processing_started(facts)
    fee_procedure = None
    if started is not None and period.start <= started < closing:
        if completed:  # 2.2: completed dossiers whose processing started in the period
            handled = end.time - started - facts.paused(end.time)
            tallies["2.2"] = Tally(max(handled, timedelta(0)).total_seconds(), 1)
        fee = _flag(facts, "fee_required")
        if fee is None:
            tallies["3.6"] = UNJUDGED
        elif fee:
            paid = _flag(facts, "paid_online") is True
            tallies["3.6"] = JUDGED_YES if paid else JUDGED_NO
            fee_procedure = (facts.procedure_code, paid)
    return Contribution(tallies, fee_procedure)


def _received_indicators(facts: RecordFacts, tallies: dict[str, Tally]) -> None:
    """1.4, 3.3, 4.2-4.5b: dossiers received in the period."""
    tallies["1.4"] = JUDGED_YES if facts.synced else JUDGED_NO
    requires = _flag(facts, "requires_written_result")
    electronic = _flag(facts, "result_electronic") is True
    result_ok = None if requires is None else (not requires or electronic)  # an e-result where one is required
    if result_ok is None:
        tallies["3.3"] = UNJUDGED
    else:
        tallies["3.3"] = JUDGED_YES if facts.channel == ONLINE and result_ok else JUDGED_NO
    digitized = _flag(facts, "digitized_components")
    if digitized is None or result_ok is None:
        tallies["4.2"] = UNJUDGED
    else:
        tallies["4.2"] = JUDGED_YES if digitized and result_ok else JUDGED_NO
    for code, name in (("4.3", "reused_data"), ("4.4", "personal_store"), ("4.5b", "population_data")):
        value = _flag(facts, name)
        tallies[code] = UNJUDGED if value is None else JUDGED_YES if value else JUDGED_NO


def _timeliness(
    facts: RecordFacts, period: Period, closing: datetime, end: HandlingEnd | None, tallies: dict[str, Tally]
) -> None:
    """2.1 and 5.4: dossiers received or handled in the period, i.e. received before its end and not finished
    before its start; a dossier withdrawn before acceptance is left out."""
    received = facts.received_at
    if received is None or received >= closing or (end is not None and end.time < period.start):
        return
    if end is None and withdrawn_before_acceptance(facts):
        return
    judged_at = end.time if end is not None and end.time < closing else closing
    verdict = on_time(facts, judged_at)
    if verdict is None:
        tallies["2.1"] = tallies["5.4"] = UNJUDGED
        return
    tallies["2.1"] = JUDGED_YES if verdict else JUDGED_NO
    # 5.4 = 100% - (overdue share + share with a complaint or a dislike): per dossier 1 - overdue - bad.
    bad = _flag(facts, "complaint") is True or facts.stated["satisfaction_rating"] == DISSATISFIED
    tallies["5.4"] = Tally(1 - (0 if verdict else 1) - (1 if bad else 0), 1)


@dataclass(slots=True)
class Totals:
    """Sums of contributions at one grain and period; `add(c, -1)` takes a record's old contribution back."""

    tallies: dict[str, Tally] = field(default_factory=dict)
    fee_procedures: dict[str, list[int]] = field(default_factory=dict)  # procedure -> [fee dossiers, paid online]

    def add(self, contribution: Contribution, sign: int = 1) -> None:
        for code, tally in contribution.tallies.items():
            self.tallies[code] = self.tallies.get(code, Tally()) + (tally if sign > 0 else -tally)
        if contribution.fee_procedure is not None:
            procedure, paid = contribution.fee_procedure
            counts = self.fee_procedures.setdefault(procedure, [0, 0])
            counts[0] += sign
            counts[1] += sign if paid else 0
            if counts == [0, 0]:
                del self.fee_procedures[procedure]

    def tally(self, code: str) -> Tally:
        """The tally of one indicator; 3.5b counts procedures: with a fee-bearing dossier, and of those, with one
        paid online."""
        if code == "3.5b":
            fee = sum(1 for counts in self.fee_procedures.values() if counts[0] > 0)
            paid = sum(1 for counts in self.fee_procedures.values() if counts[1] > 0)
            return Tally(paid, fee)
        return self.tallies.get(code, Tally())

    def ratios(self) -> dict[str, float | None]:
        """Each derived indicator's ratio as the portal scores it: 3.3 is the online share times the 1.4 rate;
        2.2 is the average handling time in days."""
        out = {code: self.tally(code).ratio for code in DERIVED_INDICATORS}
        share, sync = out["3.3"], out["1.4"]
        out["3.3"] = None if share is None or sync is None else share * sync
        if out["2.2"] is not None:
            out["2.2"] = out["2.2"] / 86_400
        return out


def totals_of(contributions: Mapping[str, Contribution]) -> Totals:
    """Totals of many records' contributions (record id -> contribution)."""
    totals = Totals()
    for contribution in contributions.values():
        totals.add(contribution)
    return totals
