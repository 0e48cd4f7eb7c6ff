"""Typed reference entities: provinces, essential services and record status codes."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

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
