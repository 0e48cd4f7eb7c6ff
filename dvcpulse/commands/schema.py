"""`dvcpulse schema export`: the JSON Schema portal teams validate against before sending."""

from __future__ import annotations

from pathlib import Path

import orjson
import typer

from models.filing_event import FilingEvent


def event_json_schema() -> dict:
    schema = FilingEvent.model_json_schema(mode="validation", by_alias=True)
    schema["$id"] = "https://github.com/dvcpulse/dvcpulse/schemas/filing-event-v1.json"
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["description"] = (
        "One filing (hồ sơ) event, schema version 1. A Kafka message carries one event object or a JSON "
        "array of them (an envelope). Times need a UTC offset. applicant_id is stored only as a keyed hash."
    )
    return schema


def register(app: typer.Typer) -> None:
    schema_app = typer.Typer(help="The event schema.", no_args_is_help=True)
    app.add_typer(schema_app, name="schema")

    @schema_app.command("export")
    def export(
        out: Path = typer.Option(None, "--out", "-o", help="Write here instead of standard output."),
    ) -> None:
        """Write the FilingEvent JSON Schema (draft 2020-12)."""
        text = orjson.dumps(event_json_schema(), option=orjson.OPT_INDENT_2).decode() + "\n"
        if out is None:
            typer.echo(text, nl=False)
        else:
            out.write_text(text, encoding="utf-8")
            typer.echo(f"wrote {out}", err=True)
