"""The JSON Schema of FilingEvent exported by `dvcpulse schema export` (dvcpulse/commands/schema.py): it must
accept exactly what the model accepts."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson
import pytest
import typer
from pydantic import ValidationError
from typer.testing import CliRunner

from dvcpulse.commands.schema import (
    CITIZEN_ID_PATTERN,
    EVENT_TIME_PATTERN,
    OFFSET_PATTERN,
    SCHEMA_ID,
    event_json_schema,
    register,
)
from dvcpulse.models.filing_event import SCHEMA_VERSION
from dvcpulse.models.index_766_facts import INDEX_766_FIELDS
from dvcpulse.seeds.reference import legacy_provinces, provinces
from tests.models.event_helpers import CCCD, CMND, DROP, VALID, decode, event

# --- the exported JSON Schema --------------------------------------------------------------------------------------

_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
    "object": (dict,),
    "array": (list,),
}


def _conforms(value: Any, schema: dict[str, Any]) -> bool:
    """A small JSON Schema check, enough for the keywords the exported schema uses (no dependency)."""
    if "type" in schema:
        types = _TYPES[schema["type"]]
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            return False
    if "anyOf" in schema and not any(_conforms(value, option) for option in schema["anyOf"]):
        return False
    if "const" in schema and not (type(value) is type(schema["const"]) and value == schema["const"]):
        return False
    if "enum" in schema and not any(type(value) is type(v) and value == v for v in schema["enum"]):
        return False
    if isinstance(value, str):
        if "pattern" in schema and not re.search(schema["pattern"], value, re.ASCII):
            return False
        if not schema.get("minLength", 0) <= len(value) <= schema.get("maxLength", len(value)):
            return False
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    if is_number and not schema.get("minimum", value) <= value <= schema.get("maximum", value):
        return False
    if isinstance(value, dict):
        if any(name not in value for name in schema.get("required", [])):
            return False
        properties = schema.get("properties", {})
        return all(_conforms(item, properties[name]) for name, item in value.items() if name in properties)
    return True


def _model_accepts(data: dict[str, Any]) -> bool:
    try:
        decode(data)
    except ValidationError:
        return False
    return True


# (changes to VALID): the schema and the model must agree on each; DROP leaves a field out.
SCHEMA_CHANGES: list[dict[str, Any]] = [
    {},
    {"schema_version": DROP, "agency_code": DROP, "due_date": DROP, "paid_online": DROP, "applicant_id": DROP},
    {"channel": "postal"},
    {"channel": 7},
    {"channel": "fax"},
    {"service_code": "OTHER"},
    {"service_code": "DV26"},
    {"province_code": "74"},
    {"province_code": "03"},
    {"province_code": "7"},
    {"status": 0},
    {"status": 11},
    {"event_time": "2025-08-01T03:00:00Z"},
    {"event_time": "2025-08-01T10:00:00+0700"},
    {"event_time": "2025-08-01T10:00:00"},
    {"due_date": "2025-08-01T10:00:00"},
    {"applicant_id": CMND},
    {"applicant_id": "12345"},
    {"applicant_id": int(CCCD)},
    {"online_level": "some"},
    {"event_type": "deleted"},
    {"schema_version": 2},
    {"event_id": ""},
    {"record_id": "two words"},
    {"paid_online": "maybe"},
    {"fee_required": True, "result_electronic": False, "complaint": None, "satisfaction_rating": "dissatisfied"},
    {"fee_required": 1},
    {"population_data": "yes"},
    {"satisfaction_rating": "angry"},
    {"satisfaction_rating": 5},
    *({field: DROP} for field in ("event_id", "service_code", "province_code", "event_time", "status")),
]
SCHEMA_CASES = [event(**changes) for changes in SCHEMA_CHANGES]


def _case_id(changes: dict[str, Any]) -> str:
    return ",".join(f"{k}={'(none)' if v is DROP else v}" for k, v in changes.items()) or "valid"


def test_schema_identity_and_version() -> None:
    schema = event_json_schema()
    assert schema["$id"] == SCHEMA_ID == "https://github.com/dvcpulse/dvcpulse/schemas/filing-event-v1.json"
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"] == "FilingEvent" and schema["type"] == "object"
    assert schema["properties"]["schema_version"]["const"] == SCHEMA_VERSION == 1
    assert "schema version 1" in schema["description"]


def test_schema_required_fields_and_input_names() -> None:
    schema = event_json_schema()
    assert set(schema["required"]) == {
        "event_id",
        "record_id",
        "procedure_code",
        "service_code",
        "province_code",
        "channel",
        "online_level",
        "event_type",
        "status",
        "event_time",
    }
    # applicant_hash is listed (readOnly) because the model checks it when sent: the schema must refuse what it refuses.
    assert "applicant_id" in schema["properties"] and schema["properties"]["applicant_hash"]["readOnly"] is True
    assert set(schema["properties"]) == {*VALID, "province_code_original", "applicant_hash", *INDEX_766_FIELDS}
    assert not set(INDEX_766_FIELDS) & set(schema["required"])  # optional: every v1 event stays valid


def test_schema_enums() -> None:
    props = event_json_schema()["properties"]
    assert props["service_code"]["enum"] == [f"DV{n:02d}" for n in range(1, 26)] + ["OTHER"]
    codes = props["province_code"]["enum"]
    assert set(codes) == set(provinces()) | set(legacy_provinces())
    assert len(codes) == len(set(codes)) == 34 + 63 - 34  # every 2025 code is also a legacy code
    assert "legacy" in props["province_code"]["description"] and "mapped" in props["province_code"]["description"]
    assert props["province_code_original"]["readOnly"] is True
    assert props["channel"]["anyOf"] == [
        {"type": "integer", "enum": [1, 2, 3]},
        {"type": "string", "enum": ["in_person", "online", "postal"]},
    ]
    assert props["online_level"]["enum"] == ["full", "partial", "none"]
    assert props["event_type"]["enum"] == ["submitted", "status_changed", "synced"]
    assert (props["status"]["minimum"], props["status"]["maximum"]) == (1, 10)


def test_schema_times_and_applicant_id() -> None:
    props = event_json_schema()["properties"]
    assert props["event_time"]["format"] == "date-time"
    assert props["event_time"]["pattern"] == EVENT_TIME_PATTERN
    assert "offset" in props["event_time"]["description"]
    assert {"type": "string", "format": "date-time", "pattern": OFFSET_PATTERN}.items() <= props["due_date"]["anyOf"][
        0
    ].items()
    applicant = props["applicant_id"]
    assert applicant["anyOf"][0] == {"type": "string", "pattern": CITIZEN_ID_PATTERN}
    assert applicant["writeOnly"] is True
    for words in ("12-digit CCCD", "9-digit CMND", "keyed hash"):
        assert words in applicant["description"]


def test_schema_has_no_dangling_refs() -> None:
    text = orjson.dumps(event_json_schema()).decode()
    for ref in re.findall(r'"\$ref":"#/\$defs/(\w+)"', text):
        assert ref in event_json_schema().get("$defs", {})


@pytest.mark.parametrize("changes", SCHEMA_CHANGES, ids=_case_id)
def test_schema_and_model_agree(changes: dict[str, Any]) -> None:
    case = event(**changes)
    assert _conforms(case, event_json_schema()) == _model_accepts(case)


def test_schema_example_is_a_valid_event() -> None:
    schema = event_json_schema()
    (example,) = schema["examples"]
    assert _conforms(example, schema)
    assert decode(example).event_id == example["event_id"]


def test_schema_with_jsonschema_if_installed() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft202012Validator(event_json_schema(), format_checker=jsonschema.FormatChecker())
    jsonschema.Draft202012Validator.check_schema(event_json_schema())
    for case in SCHEMA_CASES:
        assert validator.is_valid(case) == _model_accepts(case), case


def test_schema_export_command(tmp_path: Path) -> None:
    app = typer.Typer()
    register(app)
    app.command("noop")(lambda: None)  # a second command keeps `schema` a subcommand
    runner = CliRunner()
    result = runner.invoke(app, ["schema", "export"])
    assert result.exit_code == 0, result.output
    assert orjson.loads(result.stdout) == event_json_schema()
    out = tmp_path / "filing-event-v1.json"
    result = runner.invoke(app, ["schema", "export", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert orjson.loads(out.read_bytes()) == event_json_schema()
