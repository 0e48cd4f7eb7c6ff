"""Cached loaders for the reference data in seeds/data (one loader per table)."""

from __future__ import annotations

import csv
from functools import cache
from importlib.resources import files

from dvcpulse.models.reference import LegacyProvince, Province, Service, StatusCode

OTHER_SERVICE = "OTHER"


def _rows(name: str) -> list[dict[str, str]]:
    text = files("dvcpulse.seeds").joinpath("data", name).read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines()))


@cache
def provinces() -> dict[str, Province]:
    """The 34 provincial units in force since 2025-07-01, by two-digit code."""
    return {row["code"]: Province(**row) for row in _rows("provinces_2025.csv")}


@cache
def legacy_provinces() -> dict[str, LegacyProvince]:
    """The 63 units before 2025-07-01, by their old code."""
    return {row["old_code"]: LegacyProvince(**row) for row in _rows("provinces_legacy_63.csv")}


@cache
def services() -> dict[str, Service]:
    """The 25 essential services of Project 06 by code (DV01..DV25)."""
    names = {int(row["no"]): row for row in _rows("essential_services_25.csv")}
    result = {}
    for profile in _rows("service_profiles.csv"):
        listed = names[int(profile["no"])]
        result[profile["code"]] = Service(
            code=profile["code"],
            no=int(profile["no"]),
            name_vi=listed["name_vi"],
            gloss_en=listed["gloss_en"],
            authority=listed["authority_2025"],
            high_volume=listed["high_volume"].startswith("yes"),
            online_level=profile["online_level"],
            typical_online_share=float(profile["typical_online_share"]),
            share_source=profile["share_source"],
        )
    return result


@cache
def service_codes() -> frozenset[str]:
    """Every accepted service code: the 25 essential services and OTHER."""
    return frozenset(services()) | {OTHER_SERVICE}


@cache
def status_codes() -> dict[int, StatusCode]:
    """Record status codes 1..10 with Vietnamese and English names."""
    return {
        int(row["code"]): StatusCode(
            code=int(row["code"]), name_vi=row["name_vi"], name_en=row["name_en"], terminal=row["terminal"] == "yes"
        )
        for row in _rows("status_codes.csv")
    }


def to_2025_province(code: str) -> str | None:
    """The 2025 code for a 2025 or legacy code; None when the code is neither."""
    if code in provinces():
        return code
    legacy = legacy_provinces().get(code)
    return legacy.new_code if legacy else None
