"""Calibrated, deterministic simulator of filing events (FilingEvent schema v1 as JSON lines).

Quick start::

    dvcpulse simulate --profile 2025 --records 20000 --out out/events.jsonl     # + out/events.jsonl.truth.json
    python -c "from dvcpulse.seeds.simulator import write_simulation; print(write_simulation('e.jsonl', records=1000))"

The same arguments give the same bytes. Where each part lives: `profiles` (calibration to the published
online share), `provinces`, `timing` (diurnal and weekly patterns), `records` (who files what, where, how,
when), `lifecycles`, `events` (serialised lines in arrival order), `arrival` (out-of-order, duplicate and
malformed lines), `malformed`, `randomness` (seeded streams: determinism), `config`, `run`.
"""

from __future__ import annotations

from dvcpulse.seeds.simulator.arrival import DUPLICATE_WINDOW, MALFORMED_WINDOW, OUT_OF_ORDER_WINDOW
from dvcpulse.seeds.simulator.config import (
    DEFAULT_LATE_BY,
    DEFAULT_START,
    VIETNAM_TZ,
    SimulationConfig,
    parse_duration,
    parse_start,
)
from dvcpulse.seeds.simulator.lifecycles import DUE_DAYS, LIFECYCLES, PAYMENT_REQUESTED
from dvcpulse.seeds.simulator.malformed import MALFORMED_KINDS, malformed_line, unknown_province_codes
from dvcpulse.seeds.simulator.profiles import (
    CHANNEL_IN_PERSON,
    CHANNEL_ONLINE,
    CHANNEL_POSTAL,
    PROFILES,
    SERVICE_VOLUME,
    Profile,
    ServiceEntry,
    expected_online_share,
    odds_scaled,
    service_mix,
    solve_other_share,
)
from dvcpulse.seeds.simulator.provinces import (
    LEGACY_POPULATION_THOUSANDS,
    ProvinceUnit,
    legacy_capacity,
    province_units,
    province_weights,
)
from dvcpulse.seeds.simulator.run import Simulation, simulate, write_lines, write_simulation
from dvcpulse.seeds.simulator.timing import HALF_HOUR, TimeSampler, in_person_rate, online_rate

__all__ = [
    "CHANNEL_IN_PERSON",
    "CHANNEL_ONLINE",
    "CHANNEL_POSTAL",
    "DEFAULT_LATE_BY",
    "DEFAULT_START",
    "DUE_DAYS",
    "DUPLICATE_WINDOW",
    "HALF_HOUR",
    "LEGACY_POPULATION_THOUSANDS",
    "LIFECYCLES",
    "MALFORMED_KINDS",
    "MALFORMED_WINDOW",
    "OUT_OF_ORDER_WINDOW",
    "PAYMENT_REQUESTED",
    "PROFILES",
    "SERVICE_VOLUME",
    "VIETNAM_TZ",
    "Profile",
    "ProvinceUnit",
    "ServiceEntry",
    "Simulation",
    "SimulationConfig",
    "TimeSampler",
    "expected_online_share",
    "in_person_rate",
    "legacy_capacity",
    "malformed_line",
    "odds_scaled",
    "online_rate",
    "parse_duration",
    "parse_start",
    "province_units",
    "province_weights",
    "service_mix",
    "simulate",
    "solve_other_share",
    "unknown_province_codes",
    "write_lines",
    "write_simulation",
]
