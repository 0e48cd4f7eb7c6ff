"""deploy/SCALING.md and deploy/PRODUCTION.md, held to the code they describe.

What the operator is told to set, run, open or query must exist: every DVCPULSE_/KAFKA_/CLICKHOUSE_ variable
is read by dvcpulse.settings or set by the compose stack, documented values are accepted (down to the Kafka
client), quoted defaults are the defaults, every `dvcpulse ...` command and `--scale` service exists, every
link and anchor resolves, every repository path and `package.module.name` exists, and every ClickHouse
object named is created by the migrations. (Which topics the checklist covers is for a reviewer to judge,
not a keyword list.)
"""

from __future__ import annotations

import asyncio
import importlib
import re
from pathlib import Path
from typing import Any

import pytest
import typer.main
from aiokafka.client import AIOKafkaClient
from pydantic import SecretStr

from dvcpulse.cli import app
from dvcpulse.settings import Settings
from tests.deploy.compose_helpers import (
    ALL_SETTINGS_ENV,
    DEPLOY,
    ROOT,
    dvcpulse_services,
    env_example,
    environment,
)

DOCS = ("SCALING.md", "PRODUCTION.md")
# Variables of dvcpulse, its Kafka client and ClickHouse; GF_* are Grafana's own.
OUR_VARIABLE = re.compile(r"\b(?:DVCPULSE|KAFKA|CLICKHOUSE)_[A-Z0-9_]*[A-Z0-9]\b")
# `NAME=value`, optionally followed by alternatives: (or `other`, `another`)
ASSIGNMENT = re.compile(r"`([A-Z][A-Z0-9_]+)=([^`]+)`(?: \(or ((?:`[^`]+`(?:, )?)+))?")
# `NAME` (30 s)  and  (`NAME`, `default`)
QUOTED_SECONDS = re.compile(r"`([A-Z][A-Z0-9_]+)` \((\d+(?:\.\d+)?) s\)")
QUOTED_DEFAULT = re.compile(r"\(`([A-Z][A-Z0-9_]+)`, `([^`]+)`\)")
COMMAND = re.compile(r"`dvcpulse((?: [a-z][\w-]*)+)")
SCALE = re.compile(r"--scale ([\w-]+)=")
LINK = re.compile(r"\[[^\]]+\]\(([^)\s]+)\)")
REPOSITORY_PATH = re.compile(r"(?<![\w./-])((?:deploy|sinks|dashboards|streams|models|seeds|dvcpulse)/[\w./-]*[\w/])")
CODE_REFERENCE = re.compile(r"`((?:streams|sinks|models|seeds|dashboards)(?:\.\w+)+)`")
# dvcpulse.<object> (not when the doc calls it a topic) and views by name.
CLICKHOUSE_OBJECT = re.compile(r"\bdvcpulse\.(\w+)\b(?!`? topic)|`(v_\w+)`")
CREATED = re.compile(r"CREATE (?:OR REPLACE )?(?:MATERIALIZED )?(?:TABLE|VIEW)(?: IF NOT EXISTS)? \{db\}\.(\w+)")


def doc(name: str) -> str:
    return (DEPLOY / name).read_text(encoding="utf-8")


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def clickhouse_objects() -> set[str]:
    """Tables and views the migrations create, and the migrations' own table."""
    sql = "\n".join(p.read_text(encoding="utf-8") for p in sorted((ROOT / "sinks" / "migrations").glob("*.sql")))
    created = set(CREATED.findall(sql))
    migrate = (ROOT / "sinks" / "migrate.py").read_text(encoding="utf-8")
    created |= set(re.findall(r"CREATE TABLE IF NOT EXISTS \{database\}\.(\w+)", migrate))
    assert {"events", "v_pipeline", "schema_migrations"} <= created, created
    return created


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in ALL_SETTINGS_ENV:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.mark.parametrize("name", DOCS)
def test_every_variable_named_exists(name: str, services: dict[str, dict[str, Any]]) -> None:
    """Read by dvcpulse.settings, or a variable of the compose stack (.env.example, a service's environment)."""
    compose_env = {key for service in services.values() for key in environment(service)}
    known = set(ALL_SETTINGS_ENV) | set(env_example()) | compose_env
    named = set(OUR_VARIABLE.findall(doc(name)))
    assert named, f"{name} names no variable: is the pattern still right?"
    assert sorted(named - known) == [], f"{name} names variables nothing reads"


def documented_assignments() -> dict[str, set[str]]:
    """NAME -> every value the docs tell the operator to give it (alternatives included)."""
    values: dict[str, set[str]] = {}
    for name in DOCS:
        for variable, value, alternatives in ASSIGNMENT.findall(doc(name)):
            values.setdefault(variable, set()).add(value)
            values[variable].update(re.findall(r"`([^`]+)`", alternatives or ""))
    return values


def test_documented_values_are_accepted_by_settings(clean_environment: pytest.MonkeyPatch) -> None:
    checked = 0
    for variable, values in documented_assignments().items():
        if variable not in ALL_SETTINGS_ENV:
            continue  # a compose or ClickHouse variable, checked above
        for value in values:
            if "…" in value:
                continue  # a placeholder (https://…:8443)
            clean_environment.setenv(variable, value)
            read = getattr(Settings(_env_file=None), ALL_SETTINGS_ENV[variable])
            clean_environment.delenv(variable)
            read = read.get_secret_value() if isinstance(read, SecretStr) else read
            assert str(read) == value, f"{variable}={value} is read as {read!r}"
            checked += 1
    assert checked >= 4, documented_assignments()


def test_documented_kafka_security_works_with_the_kafka_client() -> None:
    """Every documented protocol with every documented SASL mechanism, as the worker passes them to aiokafka."""
    values = documented_assignments()
    protocols, mechanisms = values["KAFKA_SECURITY_PROTOCOL"], values["KAFKA_SASL_MECHANISM"]
    assert {"SASL_SSL", "SSL"} <= protocols and len(mechanisms) >= 2, values

    async def client(settings: Settings) -> None:
        made = AIOKafkaClient(bootstrap_servers="kafka:9092", **settings.kafka_client_options())  # validates
        await made.close()

    for protocol in protocols:
        for mechanism in sorted(mechanisms) if protocol.startswith("SASL_") else [None]:
            settings = Settings(
                _env_file=None,
                kafka_security_protocol=protocol,
                kafka_sasl_mechanism=mechanism,
                kafka_sasl_username="user",
                kafka_sasl_password="password",
            )
            try:
                asyncio.run(client(settings))
            except ValueError as error:  # what aiokafka does not support
                pytest.fail(f"documented KAFKA_SECURITY_PROTOCOL={protocol}, KAFKA_SASL_MECHANISM={mechanism}: {error}")


def test_quoted_defaults_are_the_settings_defaults() -> None:
    quoted = [(v, float(s)) for name in DOCS for v, s in QUOTED_SECONDS.findall(doc(name))]
    quoted += [(v, d) for name in DOCS for v, d in QUOTED_DEFAULT.findall(doc(name))]
    quoted = [(v, d) for v, d in quoted if v in ALL_SETTINGS_ENV]
    assert len(quoted) >= 2, "no quoted default found: is the pattern still right?"
    for variable, default in quoted:
        actual = Settings.model_fields[ALL_SETTINGS_ENV[variable]].get_default()
        assert actual == default, f"the docs say {variable} defaults to {default!r}; it is {actual!r}"


def test_every_dvcpulse_command_exists() -> None:
    commands = [(name, words.split()) for name in DOCS for words in COMMAND.findall(doc(name))]
    assert commands, "the docs name no dvcpulse command: is the pattern still right?"
    root = typer.main.get_command(app)
    for name, words in commands:
        command, parent = root, None
        for word in words:
            if not hasattr(command, "list_commands"):
                break  # the rest are arguments
            parent = command.context_class(command, info_name=word, parent=parent)
            sub = command.get_command(parent, word)
            assert sub is not None, f"{name}: `dvcpulse {' '.join(words)}`: no command {word!r}"
            command = sub
        assert not hasattr(command, "list_commands"), f"{name}: `dvcpulse {' '.join(words)}` is a group"


def test_scaled_services_exist_and_run_dvcpulse(services: dict[str, dict[str, Any]]) -> None:
    scaled = {service for name in DOCS for service in SCALE.findall(doc(name))}
    assert scaled, "no `--scale` in the docs: is the pattern still right?"
    assert scaled <= set(dvcpulse_services(services)), f"--scale names {scaled}: not dvcpulse services"


def test_links_and_anchors_resolve() -> None:
    links = [(name, target) for name in DOCS for target in LINK.findall(doc(name))]
    assert links, "the docs link nothing: is the pattern still right?"
    for name, target in links:
        if re.match(r"[a-z]+://", target):
            continue
        path, _, anchor = target.partition("#")
        file = (DEPLOY / path).resolve() if path else DEPLOY / name
        assert file.is_file(), f"{name}: link to {target}: no such file"
        if anchor:
            headings = re.findall(r"^#+ (.+)$", file.read_text(encoding="utf-8"), re.MULTILINE)
            assert anchor in {github_anchor(h) for h in headings}, f"{name}: link to {target}: no such heading"


@pytest.mark.parametrize("name", DOCS)
def test_repository_paths_and_code_references_exist(name: str) -> None:
    text = doc(name)
    assert REPOSITORY_PATH.search(text) or CODE_REFERENCE.search(text), f"{name}: nothing to check"
    for path in REPOSITORY_PATH.findall(text):
        assert (ROOT / path).exists(), f"{name} names {path}: not in the repository"
    for reference in CODE_REFERENCE.findall(text):
        parts = reference.split(".")
        for cut in range(len(parts), 0, -1):
            try:
                target: object = importlib.import_module("dvcpulse." + ".".join(parts[:cut]))
            except ModuleNotFoundError:
                continue
            for attribute in parts[cut:]:
                assert hasattr(target, attribute), f"{name} names `{reference}`: {attribute} does not exist"
                target = getattr(target, attribute)
            break
        else:
            raise AssertionError(f"{name} names `{reference}`: no such module")


@pytest.mark.parametrize("name", DOCS)
def test_every_clickhouse_object_named_is_created_by_the_migrations(name: str) -> None:
    named = {a or b for a, b in CLICKHOUSE_OBJECT.findall(doc(name))}
    assert named, f"{name} names no ClickHouse object: is the pattern still right?"
    assert sorted(named - clickhouse_objects()) == [], f"{name} names objects the migrations do not create"
