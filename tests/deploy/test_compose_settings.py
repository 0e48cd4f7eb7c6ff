"""The environment docker-compose.yml gives the dvcpulse containers, against dvcpulse.settings, and the
commands they run, against the dvcpulse CLI: every variable means something to Settings, every command and
option is real.
"""

from __future__ import annotations

import shlex
import typing
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from pydantic.fields import FieldInfo
from typer.testing import CliRunner

from dvcpulse.cli import app
from dvcpulse.settings import Settings
from tests.deploy.compose_helpers import (
    ALL_SETTINGS_ENV,
    dockerfile_exec_form,
    env_example,
    environment,
    interpolate,
    parse_cli,
    settings_env_names,
)


def sample_value(field: FieldInfo) -> tuple[str, Any]:
    """An environment string for a field and the value Settings should read from it."""
    args = [a for a in typing.get_args(field.annotation) if a is not type(None)]
    kind = args[0] if len(args) == 1 else field.annotation
    if kind in (int, float):
        default = field.get_default() or 0
        value = kind(default * 2 + 1)  # differs from the default and stays within ge/gt bounds
        for bound in field.metadata:
            if getattr(bound, "le", None) is not None and value > bound.le:
                value = kind(bound.le)
        return str(value), value
    if kind is Path:
        return "/tmp/sample", Path("/tmp/sample")
    if kind is SecretStr:
        return "sample-secret", "sample-secret"
    if kind is bool:
        return "true", True
    if typing.get_origin(kind) is typing.Literal:
        choice = next(c for c in typing.get_args(kind) if c != field.get_default())
        return str(choice), choice
    return "sample", "sample"


# -- the worker's environment vs dvcpulse.settings -----------------------------------------------------------
@pytest.mark.parametrize("name", list(Settings.model_fields))
def test_settings_read_the_environment_names_we_derive(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The derivation used below (aliases, else DVCPULSE_ + name) is how pydantic-settings really reads."""
    field = Settings.model_fields[name]
    for env_name in settings_env_names(name, field):
        for other in ALL_SETTINGS_ENV:
            monkeypatch.delenv(other, raising=False)
        raw, expected = sample_value(field)
        monkeypatch.setenv(env_name, raw)
        value = getattr(Settings(_env_file=None), name)
        assert (value.get_secret_value() if isinstance(value, SecretStr) else value) == expected, env_name


def test_every_setting_is_set_on_the_worker_or_has_a_default(services: dict[str, dict[str, Any]]) -> None:
    worker_env = environment(services["worker"])
    for name, field in Settings.model_fields.items():
        names = settings_env_names(name, field)
        assert not field.is_required() or any(n in worker_env for n in names), f"{name}: set one of {names}"
    # Unset, these two mean the embedded development broker and ClickHouse: never in a container.
    assert worker_env["KAFKA_BOOTSTRAP"] == "kafka:9092"
    assert worker_env["CLICKHOUSE_DSN"].startswith("http://ingest:")
    assert worker_env["DVCPULSE_WEB_PORT"] == "0"
    assert "DVCPULSE_WORKER_ID" not in worker_env, "replicas of a scaled service would share one instance id"


@pytest.mark.parametrize("name", ["migrate", "topics", "worker", "simulator"])
def test_dvcpulse_environment_is_understood_by_settings(name: str, services: dict[str, dict[str, Any]]) -> None:
    for env in ({}, env_example()):
        service_env = environment(services[name], env)
        app_like = {k: v for k, v in service_env.items() if k.startswith(("DVCPULSE_", "KAFKA_", "CLICKHOUSE_"))}
        unknown = set(app_like) - set(ALL_SETTINGS_ENV)
        assert not unknown, f"{name} sets {unknown}, which dvcpulse does not read (a typo?)"
        settings = Settings(_env_file=None, **{ALL_SETTINGS_ENV[k]: v for k, v in app_like.items()})
        assert settings.kafka_bootstrap == "kafka:9092"
        assert settings.partitions == int(env.get("DVCPULSE_PARTITIONS", "8"))


def test_migrations_use_the_admin_and_no_database_in_the_dsn(services: dict[str, dict[str, Any]]) -> None:
    from urllib.parse import urlparse

    example = env_example()
    dsn = urlparse(environment(services["migrate"], example)["CLICKHOUSE_DSN"])
    assert dsn.username == example["CLICKHOUSE_ADMIN_USER"] and dsn.password == example["CLICKHOUSE_ADMIN_PASSWORD"]
    assert dsn.path in ("", "/"), "the database may not exist yet when migrations connect"
    worker = urlparse(environment(services["worker"], example)["CLICKHOUSE_DSN"])
    assert (worker.username, worker.password, worker.hostname) == (
        "ingest", example["CLICKHOUSE_INGEST_PASSWORD"], "clickhouse"
    )  # fmt: skip
    clickhouse_env = environment(services["clickhouse"], example)
    assert clickhouse_env["CLICKHOUSE_USER"] == dsn.username and clickhouse_env["CLICKHOUSE_PASSWORD"] == dsn.password


# -- commands the containers run ----------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["migrate", "worker", "simulator"])
def test_service_command_is_a_real_dvcpulse_command(name: str, services: dict[str, dict[str, Any]]) -> None:
    service = services[name]
    assert "entrypoint" not in service, f"{name} runs the image's dvcpulse entrypoint"
    for env in ({}, env_example()):
        command = interpolate(service.get("command") or dockerfile_exec_form("CMD"), env)
        if isinstance(command, str):
            command = shlex.split(command)
        words = command[: next((i for i, word in enumerate(command) if word.startswith("-")), len(command))]
        result = CliRunner().invoke(app, [*words, "--help"])
        assert result.exit_code == 0, f"dvcpulse {' '.join(words)} --help: {result.output}"
        parse_cli(command)  # raises a usage error on an unknown option or a bad value
