"""Regenerate the settings table of deploy/CONFIGURATION.md from dvcpulse.settings.Settings.

    python deploy/gen_configuration.py            # rewrite the table in place
    python deploy/gen_configuration.py --check    # exit 1 if the table is out of date

Only the part between the BEGIN/END markers is generated; the prose around it is kept.
tests/deploy/test_configuration_doc.py fails when the table is out of date, e.g. after a setting was added.
"""

from __future__ import annotations

import sys
import typing
from pathlib import Path

import annotated_types
from pydantic import AliasChoices, AliasPath, SecretStr
from pydantic.fields import FieldInfo

from dvcpulse.settings import DEV_PII_KEY, Settings

DOC = Path(__file__).with_name("CONFIGURATION.md")
BEGIN = "<!-- BEGIN GENERATED: python deploy/gen_configuration.py -->"
END = "<!-- END GENERATED -->"

# Meanings for settings whose Field has no description (settings.py is the place to add one instead).
NOTES = {
    "kafka_security_protocol": "PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL (aiokafka's names).",
    "kafka_sasl_mechanism": "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512; unset = no SASL.",
    "kafka_sasl_username": "SASL user name.",
    "kafka_sasl_password": "SASL password (secret).",
    "kafka_ssl_cafile": "CA bundle (PEM) to verify the brokers with SSL/SASL_SSL; unset = the system CAs.",
    "events_topic": "Topic the portals publish filing events to.",
    "dead_letter_topic": "Topic receiving rejected events (also stored in ClickHouse `dead_letters`).",
    "replication_factor": "Replication factor of the topics dvcpulse creates (3 in production).",
    "clickhouse_database": "ClickHouse database holding the schema; migrations create it.",
    "app_id": "Faust application id: the Kafka consumer group and the prefix of Faust's own topics.",
}


BOUNDS = (
    (annotated_types.Ge, "ge", "≥"),
    (annotated_types.Gt, "gt", ">"),
    (annotated_types.Le, "le", "≤"),
    (annotated_types.Lt, "lt", "<"),
)
TYPE_NAMES = {str: "text", int: "integer", float: "number", bool: "boolean", Path: "path", SecretStr: "secret"}


def env_names(name: str, field: FieldInfo) -> list[str]:
    """The environment variables pydantic-settings reads for a field (an alias replaces the prefix)."""
    alias = field.validation_alias or field.alias
    if alias is None:
        return [(Settings.model_config.get("env_prefix", "") + name).upper()]
    choices = alias.choices if isinstance(alias, AliasChoices) else [alias]
    names = []
    for choice in choices:
        if isinstance(choice, AliasPath):
            choice = choice.path[0]
        names.append(str(choice).upper())
    return names


def _type(field: FieldInfo) -> str:
    annotation = field.annotation
    args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
    base = args[0] if len(args) == 1 else annotation  # X | None -> X
    text = TYPE_NAMES.get(base, getattr(base, "__name__", str(base)))
    bounds = []
    for item in field.metadata:
        for kind, attribute, sign in BOUNDS:
            if isinstance(item, kind):
                bounds.append(f"{sign} {getattr(item, attribute)}")
    return text + (f" ({', '.join(bounds)})" if bounds else "")


def _default(field: FieldInfo) -> str:
    value = field.get_default(call_default_factory=True)
    if value is None:
        return "unset"
    if isinstance(value, SecretStr):
        shown = "development key" if value.get_secret_value() == DEV_PII_KEY else "(secret)"
        return shown
    return f"`{value}`"


def _meaning(name: str, field: FieldInfo) -> str:
    text = field.description or NOTES.get(name) or "TODO: undocumented (add a description in settings.py)"
    if isinstance(field.get_default(), SecretStr) and field.get_default().get_secret_value() == DEV_PII_KEY:
        text += " The development default is public and the worker warns about it: set a secret."
    return text.replace("|", "\\|")


def table() -> str:
    rows = [
        "| Environment variable | Setting | Type | Default | Meaning |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, field in Settings.model_fields.items():
        names = env_names(name, field)
        variables = f"`{names[0]}`" + "".join(f" (or `{other}`)" for other in names[1:])
        rows.append(f"| {variables} | `{name}` | {_type(field)} | {_default(field)} | {_meaning(name, field)} |")
    return "\n".join(rows)


def render(current: str) -> str:
    """`current` with the generated block replaced (appended when the markers are missing)."""
    block = f"{BEGIN}\n{table()}\n{END}"
    if BEGIN in current and END in current:
        head, rest = current.split(BEGIN, 1)
        return head + block + rest.split(END, 1)[1]
    return current.rstrip("\n") + "\n\n" + block + "\n"


def main(argv: list[str]) -> int:
    current = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
    wanted = render(current)
    if "--check" in argv:
        if wanted != current:
            print(f"{DOC} is out of date: run python deploy/gen_configuration.py", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(wanted, encoding="utf-8")
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
