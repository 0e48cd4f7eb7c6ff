"""Lifecycles: the statuses a record passes through and the gaps between them.

A record's events: `submitted` (status 1), then 1..4 `status_changed` (2 accepted, 4 processing,
5 supplement requested, 6 payment requested, 9 resolved; about 3.5% end refused 3, withdrawn 7 or stopped 8),
then exactly one `synced` carrying the final status: 9 or 10, or 3/7/8 for a refused/withdrawn/stopped
record, because provincial systems sync every record's final status to the national portal, refusals
included; such a record therefore counts as synced. Times are whole seconds, monotone within a record,
minutes to days apart.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from itertools import accumulate

from dvcpulse.seeds.ground_truth import STATUS_CHANGED, SUBMITTED, SYNCED
from dvcpulse.seeds.reference import VIETNAM_UTC_OFFSET_SECONDS
from dvcpulse.seeds.simulator.profiles import CHANNEL_ONLINE, CHANNEL_POSTAL

# (status_changed statuses, synced status, relative weight). 96.5% end resolved/returned, 3.5% refused (3),
# withdrawn (7) or stopped (8); those still sync their final status (see the module docstring).
LIFECYCLES: tuple[tuple[tuple[int, ...], int, float], ...] = (
    ((2,), 10, 0.22),
    ((2,), 9, 0.08),
    ((2, 4), 10, 0.20),
    ((2, 4), 9, 0.065),
    ((2, 4, 9), 10, 0.25),
    ((2, 5, 4, 9), 10, 0.06),
    ((2, 4, 6, 9), 10, 0.07),
    ((2, 4, 5, 9), 10, 0.02),
    ((3,), 3, 0.015),
    ((2, 7), 7, 0.01),
    ((2, 5, 7), 7, 0.005),
    ((2, 4, 8), 8, 0.005),
)
_LIFECYCLE_CUMULATIVE = tuple(accumulate(weight for _, _, weight in LIFECYCLES))
PAYMENT_REQUESTED = 6
DUE_DAYS = (1, 3, 5, 7, 10, 15, 20)
# Due days per profile where they differ from DUE_DAYS (drawn with the same one draw, so the lifecycle stream
# stays aligned): 2025's shorter time limits bring the 766 on-time share (2.1) of a month to about 78%, the
# portal's national monthly onTimePct of mid-2026 (index_766.md §2: 82.01, 77.24, 78.12% in Jun-Aug).
DUE_DAYS_BY_PROFILE: dict[str, tuple[int, ...]] = {"2025": (0, 1, 1, 1, 2, 5, 7)}

# One event of a lifecycle: (time it happened, event type, status).
LifecycleEvent = tuple[int, str, int]


def _log_bounds(low_seconds: int, high_seconds: int) -> tuple[float, float]:
    return math.log(low_seconds), math.log(high_seconds) - math.log(low_seconds)


# Gaps between events in seconds, drawn log-uniformly (minutes to days), kept as (log low, log span).
_GAP_FIRST_COUNTER = _log_bounds(60, 1_800)  # in person: accepted at the counter
_GAP_FIRST_POSTAL = _log_bounds(3_600, 2 * 86_400)  # postal: the envelope has to arrive
_GAP_FIRST_ONLINE = _log_bounds(300, 8 * 3_600)  # online: an officer picks it up
_GAP_PROCESSING = _log_bounds(1_800, 3 * 86_400)
_GAP_SYNC = _log_bounds(60, 2 * 3_600)


def _log_uniform(rng: random.Random, bounds: tuple[float, float]) -> int:
    return int(math.exp(bounds[0] + bounds[1] * rng.random()))


def draw_lifecycle(rng: random.Random, channel: int, submitted_at: int) -> tuple[tuple[int, ...], list[LifecycleEvent]]:
    """A record's status changes and its events, submitted first, synced last, in time order."""
    pick = rng.random() * _LIFECYCLE_CUMULATIVE[-1]
    changes, final_status, _ = LIFECYCLES[min(bisect_right(_LIFECYCLE_CUMULATIVE, pick), len(LIFECYCLES) - 1)]
    first_gap = (
        _GAP_FIRST_ONLINE if channel == CHANNEL_ONLINE
        else _GAP_FIRST_POSTAL if channel == CHANNEL_POSTAL
        else _GAP_FIRST_COUNTER
    )  # fmt: skip
    events: list[LifecycleEvent] = [(submitted_at, SUBMITTED, 1)]
    moment = submitted_at
    for step, status in enumerate(changes):
        moment += _log_uniform(rng, first_gap if step == 0 else _GAP_PROCESSING)
        events.append((moment, STATUS_CHANGED, status))
    events.append((moment + _log_uniform(rng, _GAP_SYNC), SYNCED, final_status))
    return changes, events


def due_date(submitted: int, days: int) -> int:
    """17:00 Vietnam time, `days` calendar days after submission."""
    local_day = (submitted + VIETNAM_UTC_OFFSET_SECONDS) // 86_400 + days
    return local_day * 86_400 + 17 * 3_600 - VIETNAM_UTC_OFFSET_SECONDS
