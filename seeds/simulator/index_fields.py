"""The optional Decision 766 facts a simulated record states, per profile (only `2025` states any).

Rates are assumptions anchored where a public figure exists (index_766.md §2): digitisation at 76.9% of
one-stop shops (11/2023), the portal's 4.4 ratios observed at zero, Quảng Nam's 2024 digitisation group at
15.6/22. Fee-bearing dossiers are the ones whose lifecycle requests payment (status 6), so `fee_required`
agrees with the v1 `paid_online` flag, which the simulator sends only for them. What a record states goes on
its `submitted` event (facts known at reception) and its `synced` event (the result and the applicant's
rating), so a run cut off by `until` states only what was emitted. Draws come from their own random stream
(`Streams.index`), so the v1 members of every line are the bytes they were before these fields existed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from dvcpulse.seeds.simulator.profiles import CHANNEL_ONLINE

_RESOLVED, _RETURNED, _PAYMENT_REQUESTED = 9, 10, 6


@dataclass(frozen=True, slots=True)
class IndexRates:
    """Probabilities of each fact, by channel where it differs (online, otherwise)."""

    requires_written_result: float
    result_electronic: tuple[float, float]  # of completed dossiers that require a written result
    digitized_components: tuple[float, float]
    reused_data: float
    personal_store: float
    population_data: tuple[float, float]
    rated: float  # share of completed dossiers the applicant rates
    dissatisfied: float  # of the ratings
    neutral: float
    complaint: float


INDEX_RATES: dict[str, IndexRates] = {
    "2025": IndexRates(
        requires_written_result=0.7,
        result_electronic=(0.8, 0.55),
        digitized_components=(0.9, 0.65),  # 76.9% of one-stop shops digitised in 11/2023
        reused_data=0.35,
        personal_store=0.03,  # the portal's 4.4 ratios were observed at zero
        population_data=(0.75, 0.3),  # online accounts log in with VNeID
        rated=0.25,
        dissatisfied=0.04,
        neutral=0.16,
        complaint=0.004,
    ),
}

# The facts of one record: (stated on its submitted event, stated on its synced event).
IndexFacts = tuple[dict[str, bool | str], dict[str, bool | str]]
NO_FACTS: IndexFacts = ({}, {})


def draw_index_facts(
    rng: random.Random, rates: IndexRates | None, channel: int, changes: tuple[int, ...], final_status: int
) -> IndexFacts:
    """The facts a record states; none without rates (profiles before the 766 fields). Always the same number of
    draws per record, so one record's facts never shift another's."""
    if rates is None:
        return NO_FACTS
    online = channel == CHANNEL_ONLINE
    draws = [rng.random() for _ in range(9)]
    requires = draws[0] < rates.requires_written_result
    submitted: dict[str, bool | str] = {
        "fee_required": _PAYMENT_REQUESTED in changes,
        "requires_written_result": requires,
        "digitized_components": draws[1] < rates.digitized_components[0 if online else 1],
        "reused_data": draws[2] < rates.reused_data,
        "personal_store": draws[3] < rates.personal_store,
        "population_data": draws[4] < rates.population_data[0 if online else 1],
    }
    synced: dict[str, bool | str] = {}
    if final_status in (_RESOLVED, _RETURNED):
        if requires:
            synced["result_electronic"] = draws[5] < rates.result_electronic[0 if online else 1]
        if draws[6] < rates.rated:
            pick = draws[7]
            synced["satisfaction_rating"] = (
                "dissatisfied" if pick < rates.dissatisfied
                else "neutral" if pick < rates.dissatisfied + rates.neutral
                else "satisfied"
            )  # fmt: skip
    if draws[8] < rates.complaint:
        synced["complaint"] = True
    return submitted, synced


def json_members(facts: dict[str, bool | str]) -> str:
    """`,"name":value` for each fact, in a fixed order (the dict's), as the line's tail."""
    parts = []
    for name, value in facts.items():
        text = ("true" if value else "false") if isinstance(value, bool) else f'"{value}"'
        parts.append(f',"{name}":{text}')
    return "".join(parts)
