"""Points of the 766 index from ratios, with the portal's targets and caps, for the part filing events derive.

Each indicator's rule is in seeds/data/index_766_indicators.csv (`scoring`, `target`, `max_points`,
`if_empty`). A group's and the total's points are the sum over the indicators whose points could be
computed, always shown beside the maximum those indicators can earn and the codes that could not be scored
(not derivable from filings, formula unresolved, or an empty denominator whose score is unknown): the rest of
the 100 points is reported as missing, never filled in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from dvcpulse.seeds.index_766 import Indicator, index_groups, index_indicators

TOTAL_POINTS = 100.0


def points(indicator: Indicator, ratio: float | None) -> float | None:
    """The points a ratio earns; None when they cannot be computed (no rule, unpublished maximum, or an empty
    denominator whose score the portal's behaviour leaves unknown)."""
    if not indicator.scored:
        return None
    top = indicator.max_points
    assert top is not None  # scored
    if ratio is None:  # an empty denominator
        return {"zero": 0.0, "full": top}.get(indicator.if_empty)
    ratio = max(ratio, 0.0)  # 5.4 can go below 0 (overdue and disliked counted twice); points never do
    if indicator.scoring == "linear":
        return top * ratio
    if indicator.scoring == "capped":
        return min(top, top * ratio)
    assert indicator.target is not None, indicator.code  # target rules (checked in tests/seeds)
    scaled = top * ratio / indicator.target
    return min(top, scaled) if indicator.scoring == "target" else scaled


@dataclass(frozen=True, slots=True)
class Score:
    """Points of a group or of the whole index, over what could be scored."""

    code: str
    points: float  # sum over the scored indicators
    scored_max: float  # what those indicators can earn at most
    max_points: float  # the group's (or the index's) maximum
    scored: tuple[str, ...]  # indicator codes with points
    partly: tuple[str, ...]  # of those, the ones only partly derived (seeds: dvcpulse = partly)
    missing: tuple[str, ...]  # indicators with points in the index that could not be scored here

    @property
    def missing_points(self) -> float:
        return self.max_points - self.scored_max


def indicator_points(ratios: Mapping[str, float | None]) -> dict[str, float | None]:
    """Points per indicator code for the ratios given; an indicator not in `ratios` gets None (not derived)."""
    catalogue = index_indicators()
    return {code: points(item, ratios[code]) if code in ratios else None for code, item in catalogue.items()}


def group_scores(ratios: Mapping[str, float | None]) -> dict[str, Score]:
    """One Score per group (CKMB … MDHL) from the ratios of the indicators derived."""
    earned = indicator_points(ratios)
    catalogue = index_indicators()
    out = {}
    for code, group in index_groups().items():
        members = [item for item in catalogue.values() if item.group == code]
        scored = [item for item in members if earned[item.code] is not None]
        out[code] = Score(
            code=code,
            points=sum(earned[item.code] or 0.0 for item in scored),
            scored_max=sum(item.max_points or 0.0 for item in scored),
            max_points=group.max_points,
            scored=tuple(item.code for item in scored),
            partly=tuple(item.code for item in scored if item.dvcpulse == "partly"),
            missing=tuple(
                item.code for item in members if earned[item.code] is None and (item.max_points or 0.0) > 0
            ),
        )
    return out


def total_score(groups: Mapping[str, Score]) -> Score:
    """The index over every group: the points scored, out of what could be scored, and what is missing."""
    ordered = [groups[code] for code in index_groups()]
    return Score(
        code="TOTAL",
        points=sum(g.points for g in ordered),
        scored_max=sum(g.scored_max for g in ordered),
        max_points=TOTAL_POINTS,
        scored=tuple(code for g in ordered for code in g.scored),
        partly=tuple(code for g in ordered for code in g.partly),
        missing=tuple(code for g in ordered for code in g.missing),
    )
