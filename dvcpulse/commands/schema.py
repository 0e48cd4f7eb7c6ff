"""`dvcpulse schema export`: the JSON Schema portal teams validate against before sending."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from dvcpulse.models.filing_event import SCHEMA_VERSION, Channel, FilingEvent
from dvcpulse.seeds.reference import OTHER_SERVICE, legacy_provinces, provinces, service_codes

SCHEMA_ID = f"https://github.com/dvcpulse/dvcpulse/schemas/filing-event-v{SCHEMA_VERSION}.json"
# RFC 3339 already requires an offset in a date-time, but `format` is only an annotation in draft 2020-12:
# this pattern makes a validator reject naive times as the decoder does (Z, +07:00 and +0700 are accepted).
OFFSET_PATTERN = r"([Zz]|[+-][0-9]{2}:?[0-9]{2})$"
CITIZEN_ID_PATTERN = r"^([0-9]{12}|[0-9]{9})$"

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
}


def _date_time(description: str) -> dict[str, Any]:
    return {"type": "string", "format": "date-time", "pattern": OFFSET_PATTERN, "description": description}


def event_json_schema() -> dict[str, Any]:
    """FilingEvent's JSON Schema (draft 2020-12) as a portal sees it: the input accepted, enums spelled out."""
    schema = FilingEvent.model_json_schema(mode="validation", by_alias=True)
    props: dict[str, dict[str, Any]] = schema["properties"]
    current = sorted(provinces())
    legacy_only = sorted(set(legacy_provinces()) - set(current))

    props["schema_version"]["description"] = f"Version of this schema: {SCHEMA_VERSION}; other versions are rejected."
    props["service_code"]["enum"] = [*sorted(service_codes() - {OTHER_SERVICE}), OTHER_SERVICE]
    props["province_code"]["enum"] = sorted({*current, *legacy_only})
    props["province_code"]["description"] = (
        f"Two-digit province code: one of the {len(current)} codes in force since 2025-07-01 "
        f"({', '.join(current)}), or a legacy (63-unit) code ({', '.join(legacy_only)}), which is mapped to "
        "its 2025 unit; the legacy code is kept in province_code_original."
    )
    props["province_code_original"]["readOnly"] = True
    props["province_code_original"]["description"] = (
        "Set by dvcpulse: the legacy code as sent, when province_code was mapped from one. Portals need not send it."
    )
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
            "When the change happened: RFC 3339, with its UTC offset (Z or +07:00); naive times are rejected."
        ),
    }
    props["due_date"]["anyOf"] = [_date_time("Processing deadline: RFC 3339, with its UTC offset."), {"type": "null"}]
    props.pop("applicant_hash")  # what dvcpulse stores; portals send applicant_id
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
    if "Channel" in schema.get("$defs", {}):
        del schema["$defs"]["Channel"]
        if not schema["$defs"]:
            del schema["$defs"]

    schema["$id"] = SCHEMA_ID
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["description"] = (
        f"One filing (hồ sơ) event, schema version {SCHEMA_VERSION}. A Kafka message carries one event object or "
        "a JSON array of them (an envelope). Times need a UTC offset. applicant_id is stored only as a keyed hash. "
        "Unknown fields are ignored."
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
    schema_app = typer.Typer(help="The event schema.", no_args_is_help=True)
    schema_app.command("export")(export)
    app.add_typer(schema_app, name="schema")
