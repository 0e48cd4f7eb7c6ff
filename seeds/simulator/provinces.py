"""Provinces: population weights over the 63 pre-2025 units, mapped to the 34 provinces of 2025.

A record is drawn in a pre-2025 unit in proportion to its population and counts under that unit's 2025
province. With `legacy_codes` it may still send the unit's old code; only units whose old code is not also
a 2025 code can, which caps the fraction at `legacy_capacity()`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from dvcpulse.seeds.reference import legacy_provinces, provinces

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
    """The 63 pre-2025 units, sorted by legacy code (the order records are drawn in)."""
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
