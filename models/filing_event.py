"""FilingEvent, schema version 1: one change to one filing (hồ sơ), as a provincial system syncs it.

Decoding is pydantic's JSON validation (Rust); the Python on the hot path is a few small validators
(codes, the citizen-id hash) and one `after` model validator that maps legacy province codes.

Strict where the exported JSON Schema is (dvcpulse/commands/schema.py; tests/models/test_strict_model.py checks
that both accept the same events): no string, boolean or fractional number for an integer field, no number or
naive or non-RFC 3339 string for a time, no coercion of strings or booleans. A JSON number with no fractional
part (5.0) is the integer 5, as JSON Schema says. These rules are pydantic-core schemas (Rust), not Python.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import IntEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

from dvcpulse.models.privacy import Withheld, hash_citizen_id, is_citizen_number
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
SatisfactionRating = Literal["satisfied", "neutral", "dissatisfied"]
# An optional fact of the Decision 766 index: a JSON boolean or null (never 1, "true"); absent means "not stated".
Flag = Annotated[bool, Field(strict=True)] | None
# The optional fields of the 766 index (INDEX_766_FIELDS, models.index_766_facts): a v1 event without them stays
# valid and states none.

_CHANNEL_NAMES = {c.name: c.value for c in Channel}
_CURRENT = frozenset(provinces())
_LEGACY_ONLY = {code: p.new_code for code, p in legacy_provinces().items() if code not in _CURRENT}


def _known_service(code: str) -> str:
    if code not in service_codes():
        shown = "<withheld>" if is_citizen_number(code) else repr(code)  # never echo a citizen number
        raise ValueError(f"unknown service_code {shown}: expected DV01..DV25 or OTHER")
    return code


def _known_province(code: str) -> str:
    if code not in _CURRENT and code not in _LEGACY_ONLY:
        raise ValueError(f"unknown province_code {code!r}: neither a 2025 nor a legacy (63-unit) code")
    return code


# ASCII letters and digits spelled out: `\w` and `\d` mean different things to pydantic's Rust regex (Unicode),
# Python's re and ECMA-262 (ASCII), which JSON Schema validators use.
CODE_PATTERN = r"^[A-Za-z0-9_.\-/:]+$"
Code = Annotated[str, Field(strict=True, min_length=1, max_length=64, pattern=CODE_PATTERN)]
TWO_DIGITS = r"^[0-9]{2}$"
# RFC 3339 date-time with a UTC offset ("T" and "Z" in either case, 1 to 6 fraction digits). Pydantic's datetime
# parser alone would also take unix times as strings ("1722480000"), a space or "_" for "T", "+0700", no seconds.
TIME_PATTERN = (
    r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[Tt]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
    r"(\.[0-9]{1,6})?([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$"
)
TIME_ERROR = "Input should be an RFC 3339 datetime string with a timezone offset, e.g. 2025-08-01T09:30:00+07:00"


def _json_integer() -> core_schema.CoreSchema:
    """A JSON number with no fractional part, as an int (JSON Schema's "integer": 5 and 5.0 alike); never a
    string or a boolean. Rust only: strict int or strict float, then pydantic's int (which refuses 5.5)."""
    return core_schema.union_schema(
        [core_schema.int_schema(strict=True), core_schema.float_schema(strict=True, allow_inf_nan=False)],
        mode="left_to_right",
        custom_error_type="integer_type",
        custom_error_message="Input should be a valid integer",
    )


class JsonInt:
    """Annotation: an integer field that takes exactly what JSON Schema's {"type": "integer"} (with these bounds)
    takes."""

    def __init__(self, ge: int | None = None, le: int | None = None):
        self.ge, self.le = ge, le

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.chain_schema([_json_integer(), core_schema.int_schema(ge=self.ge, le=self.le)])

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        bounds = {"minimum": self.ge, "maximum": self.le}
        return {"type": "integer", **{k: v for k, v in bounds.items() if v is not None}}


class JsonIntLiteral:
    """Annotation: one of these integers (a JSON number: 2 or 2.0), or one of the names mapped to them."""

    def __init__(self, values: tuple[int, ...], names: dict[str, int] | None = None, message: str = ""):
        self.values, self.names = values, names or {}
        self.message = message or "Input should be " + " or ".join(str(v) for v in values)

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        numbers = core_schema.chain_schema([_json_integer(), core_schema.literal_schema(list(self.values))])
        choices: list[core_schema.CoreSchema] = [numbers]
        if self.names:  # a name costs one call of a C builtin (dict lookup); a number, no Python at all
            name = core_schema.literal_schema(list(self.names))
            choices.append(
                core_schema.no_info_after_validator_function(self.names.__getitem__, name)  # type: ignore[arg-type]
            )
        error = {"custom_error_type": "choice_error", "custom_error_message": self.message}
        if len(choices) == 1:  # a union of one is built as that one, without the union's error
            return core_schema.custom_error_schema(numbers, **error)  # type: ignore[arg-type]
        return core_schema.union_schema(choices, mode="left_to_right", **error)  # type: ignore[arg-type]

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        numbers = {"type": "integer", "enum": list(self.values)}
        if not self.names:
            return numbers if len(self.values) > 1 else {"const": self.values[0], "type": "integer"}
        return {"anyOf": [numbers, {"type": "string", "enum": list(self.names)}]}


def _to_millisecond(value: datetime) -> datetime:
    # The interface's precision: digits after the millisecond are dropped here, once, so every rule that
    # orders events (first by event time then event id, lateness, last status) sees the time ClickHouse's
    # DateTime64(3) stores, in the worker and in SQL alike.
    micro = value.microsecond
    return value if micro % 1000 == 0 else value.replace(microsecond=micro - micro % 1000)


class Rfc3339:
    """Annotation for an aware datetime: only a string matching TIME_PATTERN (checked in Rust), then pydantic's
    datetime parser (calendar) with the offset required and these bounds, then cut to the millisecond (the
    interface's precision: finer digits are accepted and truncated, as ClickHouse's DateTime64(3) does)."""

    def __init__(self, ge: datetime | None = None, lt: datetime | None = None):
        self.ge, self.lt = ge, lt

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        text = core_schema.str_schema(strict=True, pattern=TIME_PATTERN)
        moment = core_schema.no_info_after_validator_function(
            _to_millisecond, core_schema.datetime_schema(tz_constraint="aware", ge=self.ge, lt=self.lt)
        )

        def checked(first: core_schema.CoreSchema) -> core_schema.CoreSchema:
            error = {"custom_error_type": "rfc3339_datetime", "custom_error_message": TIME_ERROR}
            return core_schema.chain_schema([core_schema.custom_error_schema(first, **error), moment])

        # Python input (a model_dump, an envelope's items re-validated one by one) may also be a datetime.
        either = core_schema.union_schema([core_schema.is_instance_schema(datetime), text], mode="left_to_right")
        return core_schema.json_or_python_schema(json_schema=checked(text), python_schema=checked(either))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {
            "type": "string",
            "format": "date-time",
            "pattern": TIME_PATTERN,
            "description": "Millisecond precision: digits after the millisecond are accepted and dropped.",
        }


class FilingEvent(BaseModel):
    """One filing event. Times must carry a UTC offset; naive times are rejected."""

    # hide_input_in_errors: str(ValidationError) must not echo a line that may hold a citizen id;
    # models.decode.field_errors shows the offending values, redacted where needed.
    # No str_strip_whitespace: " 74 " is not a province code for the JSON Schema either (strict, as the schema).
    model_config = ConfigDict(frozen=True, extra="ignore", hide_input_in_errors=True)

    schema_version: Annotated[int, JsonIntLiteral((SCHEMA_VERSION,))] = Field(
        SCHEMA_VERSION, description="Version of this schema."
    )
    event_id: Code = Field(description="Unique id of this event; a re-sent event keeps its id.")
    record_id: Code = Field(description="Mã hồ sơ: the filing this event belongs to.")
    procedure_code: Code = Field(description="Mã TTHC: the administrative procedure.")
    service_code: Annotated[str, Field(strict=True), AfterValidator(_known_service)] = Field(
        description="DV01..DV25 for the 25 essential services of Project 06, OTHER for any other procedure."
    )
    province_code: Annotated[str, Field(strict=True, pattern=TWO_DIGITS), AfterValidator(_known_province)] = Field(
        description="2025 two-digit province code; a legacy (63-unit) code is accepted and mapped."
    )
    province_code_original: Annotated[str, Field(strict=True, pattern=TWO_DIGITS)] | None = Field(
        None,
        description=(
            "Set by dvcpulse: the legacy (63-unit) code as sent, when province_code was mapped from one; else null. "
            "A sender need not send it; if it does, it must be a legacy code no longer in force whose 2025 unit is "
            "province_code (or, when province_code is itself that legacy code, equal to it), or null; anything "
            "else is rejected."
        ),
    )
    agency_code: Code | None = Field(None, description="Receiving agency, optional.")
    # Plain integers, not the Channel enum: building an enum member per event cost a fifth of validation.
    channel: Annotated[
        int,
        JsonIntLiteral(
            tuple(_CHANNEL_NAMES.values()),
            _CHANNEL_NAMES,
            "Input should be 1, 2 or 3 (or " + ", ".join(_CHANNEL_NAMES) + ")",
        ),
    ] = Field(description="1 in person, 2 online, 3 public postal service (or the names).")
    online_level: OnlineLevel = Field(description="Online level of the procedure: full, partial or none.")
    event_type: EventType  # a JSON string literal takes only those strings
    status: Annotated[int, JsonInt(ge=1, le=10)] = Field(
        description="Record status code 1..10 (seeds/data/status_codes.csv)."
    )
    event_time: Annotated[datetime, Rfc3339(ge=EARLIEST_EVENT_TIME, lt=LATEST_EVENT_TIME)] = Field(
        description="When the change happened, with its UTC offset (1970-01-01 to 2105, as ClickHouse stores it).",
    )
    due_date: Annotated[datetime, Rfc3339()] | None = Field(None, description="Processing deadline, optional.")
    paid_online: Annotated[bool, Field(strict=True)] | None = Field(None, description="Fees paid online, optional.")
    # The Decision 766 facts, all optional and null by default (schema version 1 unchanged: old events stay valid).
    # Any event of a record may state one; the latest statement (by event time, then event id) is the record's.
    fee_required: Flag = Field(
        None, description="The dossier carries a non-zero fee or charge (766: 3.5b, 3.6 denominators), optional."
    )
    requires_written_result: Flag = Field(
        None, description="The procedure must return a written result (766: 3.3, 4.1, 4.2), optional."
    )
    result_electronic: Flag = Field(
        None, description="An electronic result (result code and file) was issued (766: 3.3, 4.1, 4.2), optional."
    )
    digitized_components: Flag = Field(
        None, description="Files are attached to the dossier's components (766: 4.2), optional."
    )
    reused_data: Flag = Field(
        None, description="At least one component reuses digitised data (766: 4.3), optional."
    )
    personal_store: Flag = Field(
        None,
        description=(
            "A component came from, or the result was pushed to, the citizen's personal data store on the "
            "national portal (766: 4.4), optional."
        ),
    )
    population_data: Flag = Field(
        None,
        description="VNeID-verified account or data from the national population database used (766: 4.5b), optional.",
    )
    satisfaction_rating: SatisfactionRating | None = Field(
        None, description="The applicant's rating of the handling: satisfied, neutral or dissatisfied (766: 5.4)."
    )
    complaint: Flag = Field(
        None, description="A complaint or petition (PAKN) about this dossier was received (766: 5.4), optional."
    )
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

    # Called only when a sender gives province_code_original (a default is not validated).
    @field_validator("province_code_original", mode="after")
    @classmethod
    def _consistent_original(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        if value not in _LEGACY_ONLY:
            raise ValueError(f"province_code_original {value!r} is not a legacy (63-unit) code no longer in force")
        sent = info.data.get("province_code")  # absent when province_code itself failed (reported there)
        if sent is not None and value != sent and _LEGACY_ONLY[value] != sent:
            raise ValueError(
                f"province_code_original {value!r} does not match province_code {sent!r}: legacy {value!r} maps to "
                f"{_LEGACY_ONLY[value]!r}"
            )
        return value

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
