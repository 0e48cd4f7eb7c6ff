"""FilingEvent, schema version 1: one change to one filing (hồ sơ), as a provincial system syncs it.

Decoding is pydantic's JSON validation (Rust); the only Python on the hot path is one `before`
validator that maps legacy province codes and withholds citizen identifiers.
"""

from __future__ import annotations

from datetime import datetime
from enum import IntEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from models.privacy import Withheld, hash_citizen_id
from models.reference import OnlineLevel
from seeds.reference import legacy_provinces, provinces, service_codes

SCHEMA_VERSION = 1


class Channel(IntEnum):
    """Kênh nộp hồ sơ. Postal is shown apart and is not in the online-rate denominator."""

    in_person = 1
    online = 2
    postal = 3


EventType = Literal["submitted", "status_changed", "synced"]

_CHANNEL_NAMES = {c.name: c.value for c in Channel}
_CURRENT = frozenset(provinces())
_LEGACY_ONLY = {code: p.new_code for code, p in legacy_provinces().items() if code not in _CURRENT}


def _known_service(code: str) -> str:
    if code not in service_codes():
        raise ValueError(f"unknown service_code {code!r}: expected DV01..DV25 or OTHER")
    return code


def _current_province(code: str) -> str:
    if code not in _CURRENT:
        raise ValueError(f"unknown province_code {code!r}: neither a 2025 nor a legacy (63-unit) code")
    return code


Code = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[\w.\-/:]+$")]


class FilingEvent(BaseModel):
    """One filing event. Times must carry a UTC offset; naive times are rejected."""

    # hide_input_in_errors: str(ValidationError) must not echo a line that may hold a citizen id;
    # models.decode.field_errors shows the offending values, redacted where needed.
    model_config = ConfigDict(
        frozen=True, extra="ignore", populate_by_name=True, str_strip_whitespace=True, hide_input_in_errors=True
    )

    schema_version: Literal[1] = Field(SCHEMA_VERSION, description="Version of this schema.")
    event_id: Code = Field(description="Unique id of this event; a re-sent event keeps its id.")
    record_id: Code = Field(description="Mã hồ sơ: the filing this event belongs to.")
    procedure_code: Code = Field(description="Mã TTHC: the administrative procedure.")
    service_code: Annotated[str, AfterValidator(_known_service)] = Field(
        description="DV01..DV25 for the 25 essential services of Project 06, OTHER for any other procedure."
    )
    province_code: Annotated[str, Field(pattern=r"^\d{2}$"), AfterValidator(_current_province)] = Field(
        description="2025 two-digit province code; a legacy (63-unit) code is accepted and mapped."
    )
    province_code_original: str | None = Field(
        None, description="The legacy code as sent, when province_code was mapped from one."
    )
    agency_code: Code | None = Field(None, description="Receiving agency, optional.")
    # Plain integers, not the Channel enum: building an enum member per event cost a fifth of validation.
    channel: Literal[1, 2, 3] = Field(description="1 in person, 2 online, 3 public postal service (or the names).")
    online_level: OnlineLevel = Field(description="Online level of the procedure: full, partial or none.")
    event_type: EventType
    status: int = Field(ge=1, le=10, description="Record status code 1..10 (seeds/data/status_codes.csv).")
    event_time: AwareDatetime = Field(description="When the change happened, with its UTC offset.")
    due_date: AwareDatetime | None = Field(None, description="Processing deadline, optional.")
    paid_online: bool | None = Field(None, description="Fees paid online, optional.")
    applicant_hash: str | None = Field(
        None,
        validation_alias="applicant_id",
        description="Input: applicant_id, the citizen's CCCD/CMND number. Stored only as a keyed hash.",
    )

    @model_validator(mode="before")
    @classmethod
    def _map_legacy_and_withhold(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        legacy = data.get("province_code")
        if isinstance(legacy, str):
            legacy = legacy.strip()  # as str_strip_whitespace will, so that " 02" maps like "02"
        mapped = _LEGACY_ONLY.get(legacy) if isinstance(legacy, str) else None
        raw_id = data.get("applicant_id")
        if mapped is None and raw_id is None:
            return data
        data = dict(data)
        if mapped is not None:
            data["province_code"] = mapped
            data["province_code_original"] = legacy
        if raw_id is not None and not isinstance(raw_id, Withheld):
            data["applicant_id"] = Withheld(raw_id)
        return data

    @field_validator("channel", mode="before")
    @classmethod
    def _channel_name(cls, value: Any) -> Any:
        return _CHANNEL_NAMES.get(value, value) if isinstance(value, str) else value

    @field_validator("applicant_hash", mode="before")
    @classmethod
    def _hash_applicant(cls, value: Any, info: ValidationInfo) -> str | None:
        return hash_citizen_id(value, info)

    @property
    def event_time_utc(self) -> datetime:
        return self.event_time
