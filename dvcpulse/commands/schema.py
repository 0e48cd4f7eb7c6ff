"""`dvcpulse schema export`: the JSON Schema portal teams validate against before sending."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from dvcpulse.commands.common import group
from dvcpulse.models.filing_event import CODE_PATTERN, SCHEMA_VERSION, TIME_PATTERN, Channel, FilingEvent
from dvcpulse.seeds.reference import OTHER_SERVICE, legacy_provinces, provinces, service_codes

SCHEMA_ID = f"https://github.com/dvcpulse/dvcpulse/schemas/filing-event-v{SCHEMA_VERSION}.json"


def _whole(pattern: str) -> str:
    """A ^...$ pattern that also refuses a trailing newline in Python's `re` (which JSON Schema validators written
    in Python use, and where `$` matches before a final newline); ECMA-262 and Rust read it the same as ^...$."""
    return pattern + r"(?!\n)"


# The model's own patterns (models/filing_event.py), so the two cannot drift apart.
CODE_PATTERN_WHOLE = _whole(CODE_PATTERN)
# An RFC 3339 date-time with its offset, exactly what the decoder takes (`format` is only an annotation in draft
# 2020-12, so the pattern is what makes a validator reject naive times, unix times, "+0700", a space for "T").
OFFSET_PATTERN = _whole(TIME_PATTERN)
# event_time also within the years ClickHouse stores (1970-2105, see the description for the edges).
EVENT_TIME_PATTERN = _whole(TIME_PATTERN.replace("^[0-9]{4}-", "^(19[7-9][0-9]|20[0-9]{2}|210[0-5])-", 1))
CITIZEN_ID_PATTERN = _whole(r"^([0-9]{12}|[0-9]{9})$")
HASH_PATTERN = _whole(r"^[0-9a-f]{32}$")

EXAMPLE_EVENT: dict[str, Any] = {
    "schema_version": SCHEMA_VERSION,
    "event_id": "HCM-2025-000123-e1",
    "record_id": "000.00.01.H29-250801-0001",
    "procedure_code": "1.001612",
    "service_code": "DV03",
    "province_code": "79",
    "agency_code": "H29.01",
    "channel": "online",
    "online_level": "full",
    "event_type": "submitted",
    "status": 1,
    "event_time": "2025-08-01T09:30:00+07:00",
    "due_date": "2025-08-08T17:00:00+07:00",
    "paid_online": True,
    "applicant_id": "079012345678",
    "fee_required": True,
    "requires_written_result": True,
    "digitized_components": True,
    "population_data": True,
}


def _date_time(description: str, pattern: str = OFFSET_PATTERN) -> dict[str, Any]:
    return {"type": "string", "format": "date-time", "pattern": pattern, "description": description}


def event_json_schema() -> dict[str, Any]:
    """FilingEvent's JSON Schema (draft 2020-12) as a portal sees it: the input accepted, enums spelled out."""
    schema = FilingEvent.model_json_schema(mode="validation", by_alias=True)
    props: dict[str, dict[str, Any]] = schema["properties"]
    current = sorted(provinces())
    legacy_only = sorted(set(legacy_provinces()) - set(current))
    mapped = {code: legacy_provinces()[code].new_code for code in legacy_only}

    props["schema_version"]["description"] = f"Version of this schema: {SCHEMA_VERSION}; other versions are rejected."
    for name in ("event_id", "record_id", "procedure_code"):
        props[name]["pattern"] = CODE_PATTERN_WHOLE
    props["agency_code"]["anyOf"][0]["pattern"] = CODE_PATTERN_WHOLE
    props["service_code"] = {
        "title": "Service Code",
        "type": "string",
        "enum": [*sorted(service_codes() - {OTHER_SERVICE}), OTHER_SERVICE],
        "description": props["service_code"]["description"],
    }
    props["province_code"] = {
        "title": "Province Code",
        "type": "string",
        "enum": sorted({*current, *legacy_only}),
        "description": (
            f"Two-digit province code: one of the {len(current)} codes in force since 2025-07-01 "
            f"({', '.join(current)}), or a legacy (63-unit) code ({', '.join(legacy_only)}), which is mapped to "
            "its 2025 unit; the legacy code is kept in province_code_original."
        ),
    }
    props["province_code_original"] = {
        "title": "Province Code Original",
        "anyOf": [{"type": "string", "enum": legacy_only}, {"type": "null"}],
        "default": None,
        "readOnly": True,
        "description": (
            "Set by dvcpulse: the legacy code as sent, when province_code was mapped from one. Portals need not "
            "send it; if sent, it must be null or a legacy code no longer in force whose 2025 unit is province_code "
            "(or equal to province_code, when that is the legacy code itself): see allOf."
        ),
    }
    # province_code_original, when given, must agree with province_code (as the model's validator checks).
    schema["allOf"] = [
        {
            "if": {"properties": {"province_code_original": {"const": code}}, "required": ["province_code_original"]},
            "then": {"properties": {"province_code": {"enum": sorted({code, mapped[code]})}}},
        }
        for code in legacy_only
    ]
    props["channel"] = {
        "title": "Channel",
        "description": "Kênh nộp hồ sơ: 1 or in_person, 2 or online, 3 or postal (public postal service).",
        "anyOf": [
            {"type": "integer", "enum": [c.value for c in Channel]},
            {"type": "string", "enum": [c.name for c in Channel]},
        ],
    }
    props["event_time"] = {
        "title": "Event Time",
        **_date_time(
            "When the change happened: RFC 3339 (YYYY-MM-DDTHH:MM:SS[.ffffff]), with its UTC offset (Z or +07:00); "
            "naive times, unix times and other spellings are rejected. From 1970-01-01T00:00:00Z to before "
            "2106-01-01T00:00:00Z (the pattern checks the years; the exact instant at either end is checked by "
            "dvcpulse).",
            EVENT_TIME_PATTERN,
        ),
    }
    props["due_date"]["anyOf"] = [
        _date_time("Processing deadline: RFC 3339, with its UTC offset (Z or +07:00)."),
        {"type": "null"},
    ]
    props["applicant_id"] = {
        "title": "Applicant Id",
        "description": (
            "Input only: the applicant's citizen id, a 12-digit CCCD or an old 9-digit CMND number, as a string. "
            "It is validated, then stored only as a keyed hash (HMAC-SHA256, field applicant_hash); the number "
            "itself is never stored, logged or echoed in errors."
        ),
        "anyOf": [{"type": "string", "pattern": CITIZEN_ID_PATTERN}, {"type": "null"}],
        "default": None,
        "writeOnly": True,
    }
    props["applicant_hash"] = {
        "title": "Applicant Hash",
        "description": (
            "Set by dvcpulse: the keyed hash of applicant_id (32 lowercase hex characters). Portals send applicant_id "
            "instead; a value sent here must be such a hash or null (a citizen number here is rejected, never stored)."
        ),
        "anyOf": [{"type": "string", "pattern": HASH_PATTERN}, {"type": "null"}],
        "default": None,
        "readOnly": True,
    }
    if "Channel" in schema.get("$defs", {}):
        del schema["$defs"]["Channel"]
        if not schema["$defs"]:
            del schema["$defs"]

    schema["$id"] = SCHEMA_ID
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["description"] = (
        f"One filing (hồ sơ) event, schema version {SCHEMA_VERSION}. A Kafka message carries one event object or "
        "a JSON array of them (an envelope). Times need a UTC offset. applicant_id is stored only as a keyed hash. "
        "Unknown fields are ignored. The Decision 766 fields (fee_required … complaint) are optional: an event "
        "without them is as valid as before and states nothing about them. Integers are JSON numbers without a "
        "fractional part (2 or 2.0), never strings or booleans; calendar validity of times (format date-time) needs "
        "a validator with format assertion."
    )
    schema["examples"] = [EXAMPLE_EVENT]
    return schema


def export(
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write here instead of standard output.")] = None,
) -> None:
    """Write the FilingEvent JSON Schema (draft 2020-12)."""
    text = orjson.dumps(event_json_schema(), option=orjson.OPT_INDENT_2).decode() + "\n"
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {out}", err=True)


def register(app: typer.Typer) -> None:
    schema_app = group(help="The event schema.", no_args_is_help=True)
    schema_app.command("export")(export)
    app.add_typer(schema_app, name="schema")
