"""The Decision 766/QĐ-TTg index facts in seeds/data (groups and indicators), typed, with one cached loader each.

Copied from /work/shared/reference/index_766.md: every row keeps the short keys of its sources ([FD], [MX],
[SA], …, listed in seeds/data/SOURCES.md) and their confidence. The points and targets are the ones the
portal's API scores with (2025–2026), which differ from the unread 2022 appendix in places (see SOURCES.md).
This module reads only its own files, so models (which score with these facts) can import it like
seeds.reference.
"""

from __future__ import annotations

import csv
from functools import cache
from importlib.resources import files
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

# How points follow from a ratio r (see models.index_766.points): `linear` max·r; `capped` min(max, max·r);
# `target` min(max, max·r/target); `target_uncapped` max·r/target; `none` no points (tracking or display);
# `unresolved` the portal's formula is not known, so no points are computed.
Scoring = Literal["linear", "capped", "target", "target_uncapped", "none", "unresolved"]
# What a zero denominator scores: 0, full points, not known, or the portal's special fallback denominator.
IfEmpty = Literal["zero", "full", "unknown", "fallback"]
# dvcpulse's verdict for its events (schema v1 plus the optional 766 fields); `event_v1` is the reference's
# verdict for the v1 schema alone (D/P/N).
Derivable = Literal["derived", "partly", "not"]
GroupCode = Literal["CKMB", "TDGQ", "CLGQ", "TTTT", "MDSH", "MDHL"]
SOURCE_KEYS = frozenset({"VJ", "ST", "TND766", "QN892", "FD", "MX", "SA", "FM", "API", "CR", "QN1", "QN2"})


class IndexGroup(BaseModel):
    model_config = ConfigDict(frozen=True)

    code: GroupCode
    no: int = Field(ge=1, le=6)
    name_vi: str
    name_en: str
    api_endpoint: str
    max_points: float = Field(gt=0)
    sources: tuple[str, ...]
    confidence: Literal["H", "M", "L"]


class Indicator(BaseModel):
    model_config = ConfigDict(frozen=True)

    code: str  # the sources' number (1.1 … 5.4); MX6 and ECC for the two rows the sources leave unnumbered
    group: GroupCode
    name_vi: str
    name_en: str
    api_metric: str
    numerator: str
    denominator: str
    target: float | None = Field(gt=0, le=1)  # the ratio that earns full points, when there is one
    max_points: float | None = Field(ge=0)  # None: not published
    scoring: Scoring
    if_empty: IfEmpty
    province_only: bool
    event_v1: Literal["D", "P", "N"]
    dvcpulse: Derivable
    dvcpulse_reason: str
    sources: tuple[str, ...]
    confidence: Literal["H", "M", "L"]

    @property
    def scored(self) -> bool:
        """True when points follow from the ratio by a known rule."""
        return self.max_points is not None and self.scoring not in ("none", "unresolved")


def _rows(name: str) -> list[dict[str, str]]:
    text = files("dvcpulse.seeds").joinpath("data", name).read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines()))


def _sources(text: str) -> tuple[str, ...]:
    keys = tuple(text.split(";"))
    unknown = set(keys) - SOURCE_KEYS
    if unknown:
        raise ValueError(f"unknown source keys {sorted(unknown)}: see seeds/data/SOURCES.md")
    return keys


@cache
def index_groups() -> dict[str, IndexGroup]:
    """The six groups of the portal's 766 index by code (CKMB … MDHL), in the portal's order; maxima sum to 100."""
    result = {}
    for row in _rows("index_766_groups.csv"):
        source = row.pop("source")
        result[row["code"]] = IndexGroup(**row, sources=_sources(source))  # type: ignore[arg-type]
    return result


@cache
def index_indicators() -> dict[str, Indicator]:
    """Every indicator of the 766 index by code, with its rule, points, target and dvcpulse's verdict."""
    result = {}
    for row in _rows("index_766_indicators.csv"):
        source = row.pop("source")
        result[row["code"]] = Indicator(
            **{  # type: ignore[arg-type]
                **row,
                "target": float(row["target"]) if row["target"] else None,
                "max_points": float(row["max_points"]) if row["max_points"] else None,
                "province_only": row["province_only"] == "yes",
                "sources": _sources(source),
            }
        )
    return result
