"""Records: who files what, where, how and when.

Each record (hồ sơ) is one filing of one of the 25 essential services (DV01..DV25) or of another procedure
(`OTHER`) in one of the 34 provinces: a row of the calibrated mix, a pre-2025 unit weighted by population,
a channel from the row's probabilities and a submission time from that channel's diurnal and weekly
pattern. `legacy_codes` and `late` flag records (not events), each from its own random stream.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from itertools import accumulate

from dvcpulse.seeds.simulator.config import SimulationConfig
from dvcpulse.seeds.simulator.profiles import CHANNEL_IN_PERSON, CHANNEL_ONLINE, CHANNEL_POSTAL, ServiceEntry
from dvcpulse.seeds.simulator.provinces import legacy_capacity, province_units
from dvcpulse.seeds.simulator.randomness import Streams
from dvcpulse.seeds.simulator.timing import TimeSampler, in_person_rate, online_rate

# A record before its lifecycle: (submitted at, draw order, mix row, province unit, channel, legacy, late).
Draft = tuple[int, int, int, int, int, bool, bool]


def draw_records(config: SimulationConfig, start: int, mix: Sequence[ServiceEntry], streams: Streams) -> list[Draft]:
    """Who files what, where, how and when; sorted by submission time (ties keep draw order)."""
    end = start + int(config.days * 86_400)
    counter_hours = TimeSampler.build(start, end, in_person_rate)
    any_hours = TimeSampler.build(start, end, online_rate)
    units = province_units()
    unit_cumulative = tuple(accumulate(u.population for u in units))
    mix_cumulative = tuple(accumulate(e.weight for e in mix))
    legacy_probability = config.legacy_codes / legacy_capacity() if config.legacy_codes else 0.0
    rng, legacy_rng, late_rng = streams.records, streams.legacy, streams.late
    drafts: list[Draft] = []
    for order in range(config.record_count):
        row = min(bisect_right(mix_cumulative, rng.random() * mix_cumulative[-1]), len(mix) - 1)
        unit = min(bisect_right(unit_cumulative, rng.random() * unit_cumulative[-1]), len(units) - 1)
        entry = mix[row]
        draw = rng.random()
        channel = (
            CHANNEL_ONLINE if draw < entry.online
            else CHANNEL_POSTAL if draw < entry.online + entry.postal
            else CHANNEL_IN_PERSON
        )  # fmt: skip
        submitted_at = (any_hours if channel == CHANNEL_ONLINE else counter_hours).sample(rng)
        legacy = legacy_probability > 0 and units[unit].legacy_only and legacy_rng.random() < legacy_probability
        late = config.late > 0 and late_rng.random() < config.late
        drafts.append((submitted_at, order, row, unit, channel, legacy, late))
    drafts.sort()
    return drafts
