"""The reference data in seeds/data: its typed entities and one cached loader per table."""

from __future__ import annotations

import csv
from datetime import timedelta, timezone
from functools import cache
from importlib.resources import files
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

OTHER_SERVICE = "OTHER"
# Vietnam's time (Asia/Ho_Chi_Minh) is UTC+07:00 all year, with no daylight saving: its days and hours.
VIETNAM_UTC_OFFSET_SECONDS = 7 * 3600
VIETNAM_TZ = timezone(timedelta(seconds=VIETNAM_UTC_OFFSET_SECONDS), "Asia/Ho_Chi_Minh")


OnlineLevel = Literal["full", "partial", "none"]


class Province(BaseModel):
    model_config = ConfigDict(frozen=True)

    code: str = Field(pattern=r"^\d{2}$")
    name: str


class LegacyProvince(BaseModel):
    model_config = ConfigDict(frozen=True)

    old_code: str = Field(pattern=r"^\d{2}$")
    old_name: str
    new_code: str = Field(pattern=r"^\d{2}$")


class Service(BaseModel):
    model_config = ConfigDict(frozen=True)

    code: str = Field(pattern=r"^DV\d{2}$")
    no: int = Field(ge=1, le=25)
    name_vi: str
    gloss_en: str
    authority: str
    high_volume: bool
    online_level: OnlineLevel
    typical_online_share: float = Field(ge=0, le=1)
    share_source: str


class StatusCode(BaseModel):
    model_config = ConfigDict(frozen=True)

    code: int = Field(ge=1, le=10)
    name_vi: str
    name_en: str
    terminal: bool


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
