"""Calibrated, deterministic simulator of filing events (FilingEvent schema v1 as JSON lines).

Quick start::

    dvcpulse simulate --profile 2025 --records 20000 --out out/events.jsonl     # + out/events.jsonl.truth.json
    python -c "from seeds.simulator import write_simulation; print(write_simulation('e.jsonl', records=1000))"

**Records.** Each record (hồ sơ) is one filing of one of the 25 essential services (DV01..DV25) or of another
procedure (`OTHER`) in one of the 34 provinces. Its events: `submitted` (status 1), then 1..4
`status_changed` (2 accepted, 4 processing, 5 supplement requested, 6 payment requested, 9 resolved; about
3.5% end refused 3, withdrawn 7 or stopped 8), then exactly one `synced` carrying the final status: 9 or 10,
or 3/7/8 for a refused/withdrawn/stopped record, because provincial systems sync every record's final
status to the national portal, refusals included; such a record therefore counts as synced. Times are
whole seconds in +07:00, monotone within a record, minutes to days apart.

**Calibration.** A profile fixes the target share of synced filings that were online (`2022`:
6,519,773 / 154,840,409 = 4.21%; `2025`: 12.1M / 14.5M = 83.4%, ~120k filings a day) and three assumptions:
an odds multiplier k applied to each service's `typical_online_share` from seeds (share s becomes
s·k / (1 − s + s·k), so 0% and 100% stay put; k = 0.65 turns lodging's 98.9% of 2023 into the 98.3%
published for 2022), the online-level mix of OTHER procedures and their online rate where offered online.
With the fixed volume mix m of the 25 services (SERVICE_VOLUME below), p25 = Σ m_s·share_s and the OTHER
online rate r, the OTHER share w of all records is solved in closed form so that the expected share is
exactly the target: (1 − w)·p25 + w·r = target, i.e. w = (p25 − target) / (p25 − r). Province and time do
not change the channel, so the expected synced-online share of a run equals the target; what a run
delivers differs only by sampling noise. Postal filings (channel 3) take a fixed fraction of the
non-online filings (about 1.4% of all filings in both profiles); they are in the denominator.

**Determinism.** Only `random.Random`, one stream per concern, seeded from the string
"dvcpulse-simulator:<seed>:<stream>" (string seeds are hashed with SHA-512, independent of
PYTHONHASHSEED). The base stream does not depend on the knobs: the same seed with and without
`--duplicates` gives the same events with the same ids. No wall clock unless `start="now"`; no set is
iterated; the same arguments give the same bytes.

**Arrival order.** Lines come out in arrival order: by the time an event happened (a record flagged late
arrives at that time but is stamped `late_by` earlier: a province syncing a backlog), then disturbed by
the knobs: `out_of_order` holds an event back 1..300 lines, `duplicates` re-sends an event's exact bytes
1..2,000 lines later, `malformed` adds an extra bad line (round-robin over MALFORMED_KINDS) within 50 lines
after a valid event. Fractions are per unique valid event, except `late` and `legacy_codes` (per record).
"""

from __future__ import annotations

import heapq
import math
import random
from bisect import bisect_right
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta, timezone
from functools import cache
from itertools import accumulate, count
from pathlib import Path
from typing import IO, Any

import orjson
from dvcpulse.seeds.ground_truth import (
    STATUS_CHANGED,
    SUBMITTED,
    SYNCED,
    VN_OFFSET_SECONDS,
    Cell,
    TruthAccumulator,
    truth_path_for,
    vn_date,
    vn_iso,
    write_truth,
)
from dvcpulse.seeds.reference import OTHER_SERVICE, legacy_provinces, provinces, services

VN_TZ = timezone(timedelta(hours=7), "Asia/Ho_Chi_Minh")
DEFAULT_START = datetime(2025, 9, 1, tzinfo=VN_TZ)
DEFAULT_LATE_BY = timedelta(days=2)

OUT_OF_ORDER_WINDOW = 300  # lines an out-of-order event is held back, at most
DUPLICATE_WINDOW = 2_000  # lines after the original that a re-sent copy arrives, at most
MALFORMED_WINDOW = 50  # lines after the valid event it was derived from that a bad line arrives, at most

CHANNEL_IN_PERSON, CHANNEL_ONLINE, CHANNEL_POSTAL = 1, 2, 3


# --------------------------------------------------------------------------------------------------------
# Profiles and calibration
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Profile:
    """Published target plus the assumptions that let the service mix reach it (see module docstring)."""

    name: str
    target_online_share: float
    odds_multiplier: float  # applied to each service's typical_online_share
    other_level_mix: tuple[tuple[str, float], ...]  # online levels of OTHER procedures
    other_online_rate_if_offered: float  # OTHER procedures offered online: share filed online
    postal_share_of_offline: float  # of the filings that are not online, the share sent by post
    records_per_day: int  # default volume: --records = records_per_day x --days
    source: str


PROFILES: dict[str, Profile] = {
    "2022": Profile(
        name="2022",
        target_online_share=6_519_773 / 154_840_409,
        odds_multiplier=0.65,
        other_level_mix=(("none", 0.55), ("partial", 0.30), ("full", 0.15)),
        other_online_rate_if_offered=0.015,
        postal_share_of_offline=0.015,
        records_per_day=160_000,  # 56,679,044 synced during 2022-01..12-21, about 160k a day
        source="by 2022-12-21: 154,840,409 synced filings, 6,519,773 online (reference README)",
    ),
    "2025": Profile(
        name="2025",
        target_online_share=12.1 / 14.5,
        odds_multiplier=2.5,
        other_level_mix=(("none", 0.05), ("partial", 0.35), ("full", 0.60)),
        other_online_rate_if_offered=0.75,
        postal_share_of_offline=0.08,
        records_per_day=120_000,  # 14.5M filings over 2025-07-01..10-28
        source="2025-07-01..10-28: 14.5M filings in 34 provinces, 12.1M online, ~120k a day (reference README)",
    ),
}

# Relative volume of the 25 essential services (assumption): lodging notification is by far the largest,
# then the high-volume services of essential_services_25.csv; DV13/DV14 (seals) are rare.
SERVICE_VOLUME: dict[str, float] = {
    "DV01": 2.0, "DV02": 8.0, "DV03": 4.0, "DV04": 6.0, "DV05": 1.0,
    "DV06": 30.0, "DV07": 5.0, "DV08": 3.0, "DV09": 5.0, "DV10": 1.5,
    "DV11": 1.5, "DV12": 3.0, "DV13": 0.3, "DV14": 0.2, "DV15": 3.0,
    "DV16": 0.8, "DV17": 6.0, "DV18": 2.0, "DV19": 3.0, "DV20": 4.0,
    "DV21": 5.0, "DV22": 2.0, "DV23": 1.0, "DV24": 1.0, "DV25": 1.0,
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class ServiceEntry:
    """One row of the mix: a kind of record, its share of all records and its channel probabilities."""

    service_code: str
    online_level: str
    weight: float
    online: float  # P(channel 2)
    postal: float  # P(channel 3); the rest is in person
    procedure_codes: tuple[str, ...]


def odds_scaled(share: float, multiplier: float) -> float:
    """Scale a share's odds: 0 and 1 stay put, everything else moves smoothly towards them."""
    if share <= 0.0 or share >= 1.0:
        return share
    odds = share / (1.0 - share) * multiplier
    return odds / (1.0 + odds)


def solve_other_share(services_share: float, other_rate: float, target: float) -> float:
    """The OTHER share w of all records such that (1 − w)·services_share + w·other_rate = target."""
    low, high = sorted((services_share, other_rate))
    if not low < target < high:
        raise ValueError(
            f"target online share {target:.4f} is not between the 25 services' {services_share:.4f} and "
            f"OTHER's {other_rate:.4f}; change the profile's odds multiplier or OTHER rate"
        )
    return (services_share - target) / (services_share - other_rate)


def _service_procedure_codes(number: int) -> tuple[str, ...]:
    # Invented but plausible mã TTHC ("1.00xxxx"), two per service and distinct across services.
    return (f"1.00{number:02d}{11:02d}", f"1.00{number:02d}{37:02d}")


def _other_procedure_codes() -> tuple[str, ...]:
    # 300 invented codes outside the services' range; i * 7919 mod 10000 keeps them distinct.
    prefixes = ("1.01", "2.00", "3.00")
    return tuple(f"{prefixes[i % 3]}{(i * 7919) % 10_000:04d}" for i in range(1, 301))


def service_mix(profile: Profile) -> tuple[ServiceEntry, ...]:
    """The calibrated mix: 25 service rows and one OTHER row per online level; weights sum to 1."""
    catalogue = services()
    volume_total = sum(SERVICE_VOLUME[code] for code in catalogue)
    shares = {code: odds_scaled(s.typical_online_share, profile.odds_multiplier) for code, s in catalogue.items()}
    services_share = sum(SERVICE_VOLUME[code] * shares[code] for code in catalogue) / volume_total
    offered = sum(weight for level, weight in profile.other_level_mix if level != "none")
    other_rate = offered * profile.other_online_rate_if_offered
    other_share = solve_other_share(services_share, other_rate, profile.target_online_share)
    rows = [
        _entry(code, s.online_level, (1 - other_share) * SERVICE_VOLUME[code] / volume_total, shares[code],
               profile, _service_procedure_codes(s.no))
        for code, s in sorted(catalogue.items())
    ]  # fmt: skip
    other_codes = _other_procedure_codes()
    for level, weight in profile.other_level_mix:
        online = 0.0 if level == "none" else profile.other_online_rate_if_offered
        rows.append(_entry(OTHER_SERVICE, level, other_share * weight, online, profile, other_codes))
    return tuple(rows)


def _entry(
    code: str, level: str, weight: float, online: float, profile: Profile, procedures: tuple[str, ...]
) -> ServiceEntry:
    postal = profile.postal_share_of_offline * (1.0 - online)
    return ServiceEntry(code, level, weight, online, postal, procedures)


def expected_online_share(mix: Sequence[ServiceEntry]) -> float:
    """Expected synced-online share of a mix (every record syncs once, channel independent of the rest)."""
    return sum(e.weight * e.online for e in mix) / sum(e.weight for e in mix)


# --------------------------------------------------------------------------------------------------------
# Provinces: population weights over the 63 pre-2025 units, mapped to the 34 of 2025
# --------------------------------------------------------------------------------------------------------

# Rough population in thousands (about 2023) of the 63 pre-2025 units; a 2025 province weighs the sum of its
# members, so TP Hồ Chí Minh (79 + Bình Dương 74 + Bà Rịa - Vũng Tàu 77) and Hà Nội come out largest.
LEGACY_POPULATION_THOUSANDS: dict[str, int] = {
    "01": 8587, "02": 902, "04": 547, "06": 326, "08": 805, "10": 770, "11": 640, "12": 482, "14": 1300,
    "15": 842, "17": 880, "19": 1338, "20": 802, "22": 1362, "24": 1922, "25": 1495, "26": 1211, "27": 1488,
    "30": 1946, "31": 2097, "33": 1290, "34": 1882, "35": 878, "36": 1887, "37": 1010, "38": 3760, "40": 3442,
    "42": 1324, "44": 913, "45": 650, "46": 1160, "48": 1245, "49": 1520, "51": 1250, "52": 1500, "54": 880,
    "56": 1260, "58": 600, "60": 1260, "62": 590, "64": 1600, "66": 1920, "67": 680, "68": 1330, "70": 1030,
    "72": 1190, "74": 2760, "75": 3310, "77": 1190, "79": 9460, "80": 1730, "82": 1790, "83": 1300, "84": 1020,
    "86": 1030, "87": 1600, "89": 1900, "91": 1760, "92": 1260, "93": 730, "94": 1200, "95": 920, "96": 1210,
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class ProvinceUnit:
    """A pre-2025 unit: the code it may still send, the 2025 code it counts under, its population."""

    legacy_code: str
    code_2025: str
    population: int

    @property
    def legacy_only(self) -> bool:
        """True when sending this code is a legacy code (it is not also a 2025 code)."""
        return self.legacy_code != self.code_2025 and self.legacy_code not in provinces()


@cache
def province_units() -> tuple[ProvinceUnit, ...]:
    legacy = legacy_provinces()
    if set(legacy) != set(LEGACY_POPULATION_THOUSANDS):
        raise ValueError("LEGACY_POPULATION_THOUSANDS must list exactly the 63 legacy codes of seeds/data")
    return tuple(
        ProvinceUnit(code, legacy[code].new_code, LEGACY_POPULATION_THOUSANDS[code]) for code in sorted(legacy)
    )


def province_weights() -> dict[str, float]:
    """Share of records per 2025 province code."""
    units = province_units()
    total = sum(u.population for u in units)
    weights: dict[str, float] = dict.fromkeys(sorted(provinces()), 0.0)
    for unit in units:
        weights[unit.code_2025] += unit.population / total
    return weights


@cache
def legacy_capacity() -> float:
    """Largest `legacy_codes` fraction: the population share of units whose old code is not a 2025 code."""
    units = province_units()
    return sum(u.population for u in units if u.legacy_only) / sum(u.population for u in units)


# --------------------------------------------------------------------------------------------------------
# Time: diurnal and weekly patterns of submissions
# --------------------------------------------------------------------------------------------------------

# In person (and postal, handed in at a post office): offices open 7:30-11:30 and 13:30-17:00.
# Weight per half hour from 07:30 (index 15) to 17:00 (index 34), peaking mid-morning.
_IN_PERSON_HALF_HOURS = {
    15: 0.6, 16: 0.9, 17: 1.0, 18: 1.0, 19: 1.0, 20: 0.9, 21: 0.8, 22: 0.6,
    27: 0.6, 28: 0.85, 29: 0.9, 30: 0.85, 31: 0.75, 32: 0.6, 33: 0.4,
}  # fmt: skip
# Online: around the clock, with office-hour peaks and an evening peak after work.
_ONLINE_HOURS = (
    0.15, 0.08, 0.05, 0.04, 0.05, 0.12, 0.3, 0.6, 0.9, 1.0, 1.0, 0.85,
    0.6, 0.7, 0.9, 0.95, 0.9, 0.7, 0.6, 0.7, 0.8, 0.75, 0.55, 0.3,
)  # fmt: skip
# Monday..Sunday: one-stop shops are busiest on Monday, open a little on Saturday, barely on Sunday.
_IN_PERSON_WEEKDAYS = (1.1, 1.0, 1.0, 1.0, 0.95, 0.3, 0.05)
_ONLINE_WEEKDAYS = (1.0, 1.0, 1.0, 1.0, 0.95, 0.75, 0.65)

HALF_HOUR = 1800


def in_person_rate(half_hour: int, weekday: int) -> float:
    return _IN_PERSON_HALF_HOURS.get(half_hour, 0.0) * _IN_PERSON_WEEKDAYS[weekday]


def online_rate(half_hour: int, weekday: int) -> float:
    return _ONLINE_HOURS[half_hour // 2] * _ONLINE_WEEKDAYS[weekday]


@dataclass(frozen=True, slots=True)
class TimeSampler:
    """Draws an instant in [start, end) with density proportional to a rate per local half hour."""

    starts: tuple[int, ...]
    lengths: tuple[int, ...]
    cumulative: tuple[float, ...]

    @classmethod
    def build(cls, start: int, end: int, rate: Callable[[int, int], float]) -> TimeSampler:
        starts, lengths, weights = [], [], []
        cursor = start
        while cursor < end:
            boundary = min(end, (cursor // HALF_HOUR + 1) * HALF_HOUR)  # +07:00 keeps half hours aligned
            local = cursor + VN_OFFSET_SECONDS
            weekday = (local // 86400 + 3) % 7  # 1970-01-01 was a Thursday
            starts.append(cursor)
            lengths.append(boundary - cursor)
            weights.append(rate((local % 86400) // HALF_HOUR, weekday) * (boundary - cursor))
            cursor = boundary
        if sum(weights) <= 0:  # e.g. a short window at night for in-person filings: spread evenly
            weights = [float(length) for length in lengths]
        return cls(tuple(starts), tuple(lengths), tuple(accumulate(weights)))

    def sample(self, rng: random.Random) -> int:
        index = bisect_right(self.cumulative, rng.random() * self.cumulative[-1])
        index = min(index, len(self.starts) - 1)
        return self.starts[index] + int(rng.random() * self.lengths[index])


# --------------------------------------------------------------------------------------------------------
# Lifecycles
# --------------------------------------------------------------------------------------------------------

# (status_changed statuses, synced status, relative weight). 96.5% end resolved/returned, 3.5% refused (3),
# withdrawn (7) or stopped (8); those still sync their final status (see module docstring).
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


# --------------------------------------------------------------------------------------------------------
# Malformed lines
# --------------------------------------------------------------------------------------------------------

MALFORMED_KINDS = (
    "invalid_json",
    "missing_field",
    "unknown_province",
    "naive_event_time",
    "channel_7",
    "status_11",
    "bad_applicant_id",
)
_REQUIRED_FIELDS = (
    "event_id", "record_id", "procedure_code", "service_code", "province_code",
    "channel", "online_level", "event_type", "status", "event_time",
)  # fmt: skip


def unknown_province_codes() -> tuple[str, ...]:
    """Two-digit codes that are neither 2025 nor legacy codes."""
    known = set(provinces()) | set(legacy_provinces())
    return tuple(code for code in (f"{n:02d}" for n in range(100)) if code not in known)


def malformed_line(valid_line: bytes, kind: str, event_id: str, rng: random.Random) -> bytes:
    """A copy of a valid event, with a fresh event id, broken in one way the decoder must reject."""
    event = orjson.loads(valid_line)
    event["event_id"] = event_id
    if kind == "invalid_json":
        text = orjson.dumps(event)
        return text[: rng.randrange(10, len(text) - 1)]  # a proper prefix of an object is never valid JSON
    if kind == "missing_field":
        del event[rng.choice(_REQUIRED_FIELDS)]
    elif kind == "unknown_province":
        event["province_code"] = rng.choice(unknown_province_codes())
    elif kind == "naive_event_time":
        event["event_time"] = event["event_time"].removesuffix("+07:00")
    elif kind == "channel_7":
        event["channel"] = 7
    elif kind == "status_11":
        event["status"] = 11
    elif kind == "bad_applicant_id":
        event["applicant_id"] = rng.choice(("0791234567", "07920301234X", "0792030123456", "CCCD"))
    else:
        raise ValueError(f"unknown malformed kind {kind!r}")
    return orjson.dumps(event)


# --------------------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SimulationConfig:
    """Everything a run depends on; the same config gives the same bytes (unless start is "now")."""

    profile: str = "2025"
    records: int | None = None  # None: the profile's records_per_day x days
    seed: int = 1
    start: datetime | str = DEFAULT_START  # aware datetime, ISO 8601 text, or "now"
    days: float = 1.0
    duplicates: float = 0.0
    out_of_order: float = 0.0
    late: float = 0.0
    late_by: timedelta = DEFAULT_LATE_BY
    malformed: float = 0.0
    legacy_codes: float = 0.0

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise ValueError(f"profile must be one of {', '.join(PROFILES)}, not {self.profile!r}")
        if self.records is not None and self.records < 0:
            raise ValueError("records must be >= 0")
        if not self.days > 0:
            raise ValueError("days must be > 0")
        for name in ("duplicates", "out_of_order", "late", "malformed", "legacy_codes"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be a fraction in [0, 1]")
        if self.legacy_codes > legacy_capacity():
            raise ValueError(
                f"legacy_codes can be at most {legacy_capacity():.3f}: the population share of pre-2025 units "
                "whose code is not also a 2025 code"
            )
        if self.late_by < timedelta(0):
            raise ValueError("late_by must not be negative")
        parse_start(self.start)  # fail early on a bad start

    @property
    def record_count(self) -> int:
        if self.records is not None:
            return self.records
        return round(PROFILES[self.profile].records_per_day * self.days)

    def start_epoch(self) -> int:
        return int(parse_start(self.start).timestamp())

    def facts(self, start_epoch: int) -> dict[str, Any]:
        return {
            "profile": self.profile,
            "seed": self.seed,
            "records": self.record_count,
            "options": {
                "start": vn_iso(start_epoch),
                "days": self.days,
                "duplicates": self.duplicates,
                "out_of_order": self.out_of_order,
                "late": self.late,
                "late_by_seconds": int(self.late_by.total_seconds()),
                "malformed": self.malformed,
                "legacy_codes": self.legacy_codes,
            },
        }


def parse_start(value: datetime | str) -> datetime:
    """An aware datetime from a datetime, ISO 8601 text or "now"; a time without offset is Vietnam time."""
    if isinstance(value, str) and value.strip().lower() == "now":
        return datetime.now(VN_TZ).replace(microsecond=0)
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            example = "2025-09-01T00:00:00+07:00"
            raise ValueError(f"start must be ISO 8601 (e.g. {example}) or 'now', not {value!r}") from None
    return value if value.tzinfo is not None else value.replace(tzinfo=VN_TZ)


def parse_duration(text: str) -> timedelta:
    """A duration written 2d, 36h, 90m or 45s; a bare number means days."""
    text = text.strip().lower()
    units = {"d": 86_400, "h": 3_600, "m": 60, "s": 1}
    try:
        if text and text[-1] in units:
            return timedelta(seconds=float(text[:-1]) * units[text[-1]])
        return timedelta(days=float(text))
    except ValueError:
        raise ValueError(f"not a duration: {text!r} (use e.g. 2d, 36h, 90m)") from None


# --------------------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------------------


def _stream(seed: int, name: str) -> random.Random:
    return random.Random(f"dvcpulse-simulator:{seed}:{name}")


def _event_id(rng: random.Random) -> str:
    bits = rng.getrandbits(128)
    bits = (bits & ~(0xF000 << 64)) | (0x4000 << 64)  # version 4
    bits = (bits & ~(0xC000 << 48)) | (0x8000 << 48)  # RFC 4122 variant
    h = f"{bits:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


@dataclass(slots=True)
class _Record:
    """What every event of one record shares, pre-serialised."""

    body: str  # JSON members from record_id to online_level, without braces
    tail: str  # ,"due_date":... (JSON members after the per-event ones)
    applicant_id: str
    shift: int  # seconds the record is stamped earlier than it arrives (late records)
    cell: Cell
    paid_online: bool | None


# A base event waiting for its arrival: (arrival time, order, record, event type, status).
_Pending = tuple[int, int, _Record, str, int]

_ORIGINAL, _COPY, _MALFORMED = 0, 1, 2


@dataclass(slots=True)
class _Streams:
    records: random.Random
    lifecycle: random.Random
    ids: random.Random
    legacy: random.Random
    late: random.Random
    out_of_order: random.Random
    duplicates: random.Random
    malformed: random.Random

    @classmethod
    def for_seed(cls, seed: int) -> _Streams:
        return cls(*(_stream(seed, f.name) for f in fields(cls)))


class Simulation:
    """An iterator over the lines (bytes, no newline) of one run; `truth()` once it is exhausted."""

    def __init__(self, config: SimulationConfig):
        self.config = config
        self._truth = TruthAccumulator()
        self._result: dict[str, Any] | None = None
        self._lines: Iterator[bytes] | None = None

    def __iter__(self) -> Iterator[bytes]:
        return self._started()  # the generator itself: no extra Python call per line in a for loop

    def __next__(self) -> bytes:
        return next(self._started())

    def _started(self) -> Iterator[bytes]:
        if self._lines is None:
            self._lines = self._run()
        return self._lines

    def truth(self) -> dict[str, Any]:
        """The ground truth of what was emitted; only after the last line."""
        if self._result is None:
            raise RuntimeError("iterate the simulation to the end before asking for its truth")
        return self._result

    # -- the pipeline: records -> events in arrival order -> knobs -> lines ---------------------------

    def _run(self) -> Iterator[bytes]:
        config = self.config
        start = config.start_epoch()
        streams = _Streams.for_seed(config.seed)
        profile = PROFILES[config.profile]
        mix = service_mix(profile)
        drafts = _draw_records(config, start, mix, streams)
        events = _EventWriter(config, mix, streams).events(drafts)
        yield from _Arrival(config, streams, self._truth).lines(events)
        facts = config.facts(start)
        facts["expected_online_share"] = expected_online_share(mix)
        facts["late_records"] = sum(1 for d in drafts if d[6])
        facts["legacy_code_records"] = sum(1 for d in drafts if d[5])
        self._result = self._truth.result(facts)


# A record before its lifecycle: (submitted at, draw order, mix row, province unit, channel, legacy, late).
_Draft = tuple[int, int, int, int, int, bool, bool]


def _draw_records(config: SimulationConfig, start: int, mix: Sequence[ServiceEntry], streams: _Streams) -> list[_Draft]:
    """Who files what, where, how and when; sorted by submission time (ties keep draw order)."""
    end = start + int(config.days * 86_400)
    counter_hours = TimeSampler.build(start, end, in_person_rate)
    any_hours = TimeSampler.build(start, end, online_rate)
    units = province_units()
    unit_cumulative = tuple(accumulate(u.population for u in units))
    mix_cumulative = tuple(accumulate(e.weight for e in mix))
    legacy_probability = config.legacy_codes / legacy_capacity() if config.legacy_codes else 0.0
    rng, legacy_rng, late_rng = streams.records, streams.legacy, streams.late
    drafts: list[_Draft] = []
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


class _EventWriter:
    """Turns records into serialised events in arrival order."""

    def __init__(self, config: SimulationConfig, mix: Sequence[ServiceEntry], streams: _Streams):
        self.mix = mix
        self.units = province_units()
        self.late_by = int(config.late_by.total_seconds())
        self.rng = streams.lifecycle
        self.ids = streams.ids
        self.serials: dict[tuple[str, str], int] = {}  # (agency, date) -> last record serial that day

    def events(self, drafts: Sequence[_Draft]) -> Iterator[tuple[bytes, Cell, str, int]]:
        """(line, cell, event type, stamped time) per event, ordered by (arrival time, creation order).

        Pending events wait in one bucket per minute: a heap of a million lifecycles in flight spends most
        of its time on cache misses, while a bucket is sorted once, when its minute comes.
        """
        buckets: dict[int, list[_Pending]] = {}
        order = count()
        index, total = 0, len(drafts)
        minute = drafts[0][0] // 60 if drafts else 0
        last_minute = minute
        while index < total or buckets:
            while index < total and drafts[index][0] // 60 == minute:
                record, lifecycle = self._lifecycle(drafts[index])
                index += 1
                for arrival, event_type, status in lifecycle:
                    key = arrival // 60
                    buckets.setdefault(key, []).append((arrival, next(order), record, event_type, status))
                    last_minute = max(last_minute, key)
            due = buckets.pop(minute, None)
            if due:
                due.sort()  # (arrival, order) is unique, so the record is never compared
                for pending in due:
                    yield self._line(pending)
            if index < total and not buckets:
                minute = drafts[index][0] // 60  # skip quiet minutes
            elif minute < last_minute or index < total:
                minute += 1

    def _line(self, pending: _Pending) -> tuple[bytes, Cell, str, int]:
        arrival, _, record, event_type, status = pending
        stamped = arrival - record.shift
        extra = ""
        if event_type == SUBMITTED:
            extra = f',"applicant_id":"{record.applicant_id}"'
        elif event_type == SYNCED and record.paid_online is not None:
            extra = f',"paid_online":{"true" if record.paid_online else "false"}'
        line = (
            f'{{"schema_version":1,"event_id":"{_event_id(self.ids)}",{record.body},"event_type":"{event_type}",'
            f'"status":{status},"event_time":"{vn_iso(stamped)}"{record.tail}{extra}}}'
        )
        return line.encode(), record.cell, event_type, stamped

    def _lifecycle(self, draft: _Draft) -> tuple[_Record, list[tuple[int, str, int]]]:
        """The record and its events as (arrival time, event type, status), submitted first."""
        submitted_at, _, row, unit_index, channel, legacy, late = draft
        rng = self.rng
        entry, unit = self.mix[row], self.units[unit_index]
        pick = rng.random() * _LIFECYCLE_CUMULATIVE[-1]
        changes, final_status, _ = LIFECYCLES[min(bisect_right(_LIFECYCLE_CUMULATIVE, pick), len(LIFECYCLES) - 1)]
        first_gap = (
            _GAP_FIRST_ONLINE if channel == CHANNEL_ONLINE
            else _GAP_FIRST_POSTAL if channel == CHANNEL_POSTAL
            else _GAP_FIRST_COUNTER
        )  # fmt: skip
        later: list[tuple[int, str, int]] = [(submitted_at, SUBMITTED, 1)]
        moment = submitted_at
        for step, status in enumerate(changes):
            moment += _log_uniform(rng, first_gap if step == 0 else _GAP_PROCESSING)
            later.append((moment, STATUS_CHANGED, status))
        later.append((moment + _log_uniform(rng, _GAP_SYNC), SYNCED, final_status))
        shift = self.late_by if late else 0
        sent_code = unit.legacy_code if legacy else unit.code_2025
        record = self._record(entry, unit, sent_code, channel, submitted_at - shift, shift, changes)
        return record, later

    def _record(
        self, entry: ServiceEntry, unit: ProvinceUnit, sent_code: str, channel: int, stamped: int, shift: int,
        changes: tuple[int, ...],
    ) -> _Record:  # fmt: skip
        rng = self.rng
        agency = f"H{sent_code}.{1 + int(30 * rng.random() ** 2):02d}"  # a few busy agencies, many quiet
        day = vn_date(stamped)
        serial_key = (agency, day)
        serial = self.serials.get(serial_key, 0) + 1
        self.serials[serial_key] = serial
        codes = entry.procedure_codes
        members: dict[str, Any] = {
            "record_id": f"{agency}-{day[2:4]}{day[5:7]}{day[8:10]}-{serial:06d}",
            "procedure_code": codes[int(len(codes) * rng.random() ** 2)],
            "service_code": entry.service_code,
            "province_code": sent_code,
        }
        if rng.random() < 0.9:  # agency_code is optional; some portals leave it out
            members["agency_code"] = agency
        members["channel"] = channel
        members["online_level"] = entry.online_level
        due = _due_date(stamped, DUE_DAYS[int(len(DUE_DAYS) * rng.random())])
        paid = (channel == CHANNEL_ONLINE) if PAYMENT_REQUESTED in changes else None
        cell = (entry.service_code, unit.code_2025, channel, entry.online_level)
        body = orjson.dumps(members).decode()[1:-1]
        return _Record(body, f',"due_date":"{vn_iso(due)}"', _applicant_id(rng, unit), shift, cell, paid)


def _due_date(submitted: int, days: int) -> int:
    """17:00 Vietnam time, `days` calendar days after submission."""
    local_day = (submitted + VN_OFFSET_SECONDS) // 86_400 + days
    return local_day * 86_400 + 17 * 3_600 - VN_OFFSET_SECONDS


def _applicant_id(rng: random.Random, unit: ProvinceUnit) -> str:
    """A fake 12-digit CCCD: birth-province code (0 + old code), gender/century digit, year, 6 digits."""
    birth = unit.legacy_code if rng.random() < 0.85 else f"{1 + int(rng.random() * 96):02d}"
    year = 1945 + int(rng.random() * 63)
    gender_century = (0 if year < 2000 else 2) + (rng.random() < 0.5)
    return f"0{birth}{gender_century}{year % 100:02d}{int(rng.random() * 1_000_000):06d}"


class _Arrival:
    """Applies out-of-order, duplicates and malformed lines to the event stream; reports every line."""

    def __init__(self, config: SimulationConfig, streams: _Streams, truth: TruthAccumulator):
        self.config = config
        self.streams = streams
        self.truth = truth
        self.held: list[tuple[int, int, int, bytes, Any]] = []  # (release after line, order, role, line, meta)
        self.order = count()
        self.malformed_count = 0

    def lines(self, events: Iterator[tuple[bytes, Cell, str, int]]) -> Iterator[bytes]:
        out_of_order = self.config.out_of_order
        displace = self.streams.out_of_order
        held, truth = self.held, self.truth
        for event in events:
            if out_of_order and displace.random() < out_of_order:
                self._hold(displace.randint(1, OUT_OF_ORDER_WINDOW), _ORIGINAL, event[0], event)
            else:
                yield event[0]
                self._emitted(_ORIGINAL, event[0], event)
            while held and held[0][0] <= truth.lines:
                yield self._release()
        while held:
            yield self._release()

    def _hold(self, delay: int, role: int, line: bytes, meta: Any) -> None:
        heapq.heappush(self.held, (self.truth.lines + delay, next(self.order), role, line, meta))

    def _release(self) -> bytes:
        _, _, role, line, meta = heapq.heappop(self.held)
        self._emitted(role, line, meta)
        return line

    def _emitted(self, role: int, line: bytes, meta: Any) -> None:
        """Count a line just yielded; an original may schedule its re-sent copy and a malformed sibling."""
        if role == _MALFORMED:
            self.truth.malformed_line()
            return
        _, cell, event_type, stamped = meta
        self.truth.valid_line(cell, event_type, stamped, role == _COPY)
        if role == _COPY:
            return
        config, streams = self.config, self.streams
        if config.duplicates and streams.duplicates.random() < config.duplicates:
            self._hold(streams.duplicates.randint(1, DUPLICATE_WINDOW), _COPY, line, meta)
        if config.malformed and streams.malformed.random() < config.malformed:
            self._hold(streams.malformed.randint(0, MALFORMED_WINDOW), _MALFORMED, self._malformed(line), None)

    def _malformed(self, line: bytes) -> bytes:
        rng = self.streams.malformed
        if self.malformed_count == 0:
            self.malformed_count = rng.randrange(len(MALFORMED_KINDS))  # random first kind, then round-robin
        kind = MALFORMED_KINDS[self.malformed_count % len(MALFORMED_KINDS)]
        self.malformed_count += 1
        return malformed_line(line, kind, _event_id(rng), rng)


# --------------------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------------------


def simulate(config: SimulationConfig | None = None, **options: Any) -> Simulation:
    """The lines of a run (bytes without newline), lazily; call `.truth()` on the result when exhausted."""
    if config is None:
        config = SimulationConfig(**options)
    elif options:
        raise TypeError("pass either a SimulationConfig or keyword options, not both")
    return Simulation(config)


def write_lines(lines: Iterator[bytes], sink: IO[bytes], batch: int = 10_000) -> None:
    """Write lines with a newline each, in batches (much faster than one write per line)."""
    chunk: list[bytes] = []
    for line in lines:
        chunk.append(line)
        if len(chunk) >= batch:
            sink.write(b"\n".join(chunk) + b"\n")
            chunk.clear()
    if chunk:
        sink.write(b"\n".join(chunk) + b"\n")


def write_simulation(path: str | Path, truth_path: str | Path | None = None, **options: Any) -> dict[str, Any]:
    """Write a run's JSONL to `path` and its truth to `truth_path` (default `<path>.truth.json`); return it."""
    path = Path(path)
    run = simulate(SimulationConfig(**options))
    with path.open("wb") as sink:
        write_lines(run, sink)
    truth = run.truth()
    write_truth(Path(truth_path) if truth_path else truth_path_for(path), truth)
    return truth
