"""FilingEvent, schema version 1: one change to one filing (hồ sơ), as a provincial system syncs it.

Decoding is pydantic's JSON validation (Rust); the Python on the hot path is a few small validators
(codes, the citizen-id hash) and one `after` model validator that maps legacy province codes.
"""

from __future__ import annotations

from datetime import UTC, datetime
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

from dvcpulse.models.privacy import Withheld, hash_citizen_id
from dvcpulse.seeds.reference import OnlineLevel, legacy_provinces, provinces, service_codes

SCHEMA_VERSION = 1
# The range of the ClickHouse DateTime columns that aggregate events by minute and day.
EARLIEST_EVENT_TIME = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_EVENT_TIME = datetime(2106, 1, 1, tzinfo=UTC)


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


def _known_province(code: str) -> str:
    if code not in _CURRENT and code not in _LEGACY_ONLY:
        raise ValueError(f"unknown province_code {code!r}: neither a 2025 nor a legacy (63-unit) code")
    return code


Code = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[\w.\-/:]+$")]


class FilingEvent(BaseModel):
    """One filing event. Times must carry a UTC offset; naive times are rejected."""

    # hide_input_in_errors: str(ValidationError) must not echo a line that may hold a citizen id;
    # models.decode.field_errors shows the offending values, redacted where needed.
    model_config = ConfigDict(
        frozen=True, extra="ignore", str_strip_whitespace=True, hide_input_in_errors=True
    )

    schema_version: Literal[1] = Field(SCHEMA_VERSION, description="Version of this schema.")
    event_id: Code = Field(description="Unique id of this event; a re-sent event keeps its id.")
    record_id: Code = Field(description="Mã hồ sơ: the filing this event belongs to.")
    procedure_code: Code = Field(description="Mã TTHC: the administrative procedure.")
    service_code: Annotated[str, AfterValidator(_known_service)] = Field(
        description="DV01..DV25 for the 25 essential services of Project 06, OTHER for any other procedure."
    )
    province_code: Annotated[str, Field(pattern=r"^\d{2}$"), AfterValidator(_known_province)] = Field(
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
    event_time: AwareDatetime = Field(
        ge=EARLIEST_EVENT_TIME,
        lt=LATEST_EVENT_TIME,
        description="When the change happened, with its UTC offset (1970-01-01 to 2105, as ClickHouse stores it).",
    )
    due_date: AwareDatetime | None = Field(None, description="Processing deadline, optional.")
    paid_online: bool | None = Field(None, description="Fees paid online, optional.")
    applicant_id: str | None = Field(
        None,
        exclude=True,
        repr=False,
        description="Input only: the citizen's CCCD/CMND number. Validated, then kept only as applicant_hash.",
    )
    applicant_hash: str | None = Field(None, description="Keyed hash of applicant_id (models.privacy).")

    # An `after` model validator, not a `before` one: a `before` one makes pydantic build a Python dict of
    # every event before validating it, which cost a quarter of the validation time.
    @model_validator(mode="after")
    def _map_legacy_and_keep_hash_only(self) -> FilingEvent:
        # A frozen model: its own last validation step sets the derived fields in pydantic's `__dict__`, where
        # pydantic v2 keeps field values (the legacy-code and applicant-hash tests of tests/models fail if not).
        fields = self.__dict__
        mapped = _LEGACY_ONLY.get(self.province_code)
        if mapped is not None:
            fields["province_code"], fields["province_code_original"] = mapped, self.province_code
        if self.applicant_id is not None:  # already the hash (_hash_applicant_id)
            fields["applicant_hash"], fields["applicant_id"] = self.applicant_id, None
        return self

    @field_validator("channel", mode="before")
    @classmethod
    def _channel_name(cls, value: Any) -> Any:
        return _CHANNEL_NAMES.get(value, value) if isinstance(value, str) else value

    @field_validator("applicant_id", mode="before")
    @classmethod
    def _hash_applicant_id(cls, value: Any, info: ValidationInfo) -> str | None:
        return None if value is None else hash_citizen_id(Withheld(value), info)

    @field_validator("applicant_hash", mode="before")
    @classmethod
    def _stored_hash(cls, value: Any, info: ValidationInfo) -> str | None:
        return hash_citizen_id(value, info)

    @property
    def event_time_utc(self) -> datetime:
        return self.event_time
