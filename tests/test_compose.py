"""docker-compose.yml, deploy/ and .env.example, checked by parsing them (no Docker engine needed).

What a running stack would prove is out of reach here; what is checked instead: the compose file's shape
(pinned images, loopback ports, health checks, dependency conditions, existing bind mounts), that every
command a container runs is a real `dvcpulse` command with valid options, that the worker's environment
means something to dvcpulse.settings, that every compose variable is in .env.example with the same
default, the Dockerfile, the ClickHouse users script (run against a fake clickhouse-client, its SQL parsed
by the embedded ClickHouse engine), the generated settings doc, and the two helper scripts.
"""

from __future__ import annotations

import http.server
import importlib.util
import json
import os
import re
import shlex
import subprocess
import sys
import threading
import tomllib
import typing
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import typer.main
import yaml
from pydantic import AliasChoices, AliasPath, SecretStr
from pydantic.fields import FieldInfo
from typer.testing import CliRunner

from dvcpulse.cli import app
from dvcpulse.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
DEPLOY = ROOT / "deploy"
DOCKERFILE = DEPLOY / "Dockerfile"
USERS_SCRIPT = DEPLOY / "clickhouse" / "initdb" / "users.sh"

HEALTH_CHECKED = ("kafka", "clickhouse", "grafana")
DVCPULSE_IMAGE = "dvcpulse:"  # the image built from deploy/Dockerfile
SCRIPTS_IN_IMAGE = "/opt/dvcpulse/"  # where the Dockerfile copies deploy/scripts/
DATABASE = Settings.model_fields["clickhouse_database"].default
SECRET_KEY = re.compile(r"PASSWORD|SECRET|PII_KEY|_DSN$")
# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}, ${NAME?error}; `$$` is a literal dollar.
VARIABLE = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


# -- helpers ----------------------------------------------------------------------------------------------
def load_module(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"deploy_{path.stem}", path)
    assert spec and spec.loader, path
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def env_example() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's variable interpolation, for the forms docker-compose.yml uses."""
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if not isinstance(value, str):
        return value

    def replace(match: re.Match[str]) -> str:
        name, operator, argument = match.groups()
        current = env.get(name)
        if operator in (":-", "-"):
            return current if current or (operator == "-" and current is not None) else argument
        if operator in (":?", "?") and not current:
            raise AssertionError(f"${{{name}}} is required: {argument}")
        return current or ""

    return VARIABLE.sub(replace, value).replace("$$", "$")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def environment(service: dict[str, Any], env: dict[str, str] | None = None) -> dict[str, str]:
    """A service's environment as strings, interpolated with `env` (compose defaults when empty)."""
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        raw = dict(item.split("=", 1) if "=" in item else (item, "") for item in raw)
    return {key: str(interpolate(value, env or {})) for key, value in raw.items()}


def dvcpulse_services(services: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {name: s for name, s in services.items() if str(s.get("image", "")).startswith(DVCPULSE_IMAGE)}


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text(encoding="utf-8").replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            out.append((keyword.upper(), rest.strip()))
    return out


def image_reference_is_pinned(reference: str) -> bool:
    name = reference.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return ":" in last and last.rsplit(":", 1)[1] not in ("", "latest")


def settings_env_names(name: str, field: FieldInfo) -> list[str]:
    """Environment variables pydantic-settings reads for a field: its aliases, else prefix + name."""
    alias = field.validation_alias or field.alias
    if alias is None:
        return [(Settings.model_config["env_prefix"] + name).upper()]
    choices = alias.choices if isinstance(alias, AliasChoices) else [alias]
    return [str(c.path[0] if isinstance(c, AliasPath) else c).upper() for c in choices]


ALL_SETTINGS_ENV = {env: name for name, f in Settings.model_fields.items() for env in settings_env_names(name, f)}


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


# -- the compose file -------------------------------------------------------------------------------------
def test_compose_file_parses_with_the_expected_services(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"kafka", "clickhouse", "migrate", "topics", "worker", "grafana", "simulator", "verify"} <= set(services)
    assert services["simulator"]["profiles"] == ["sim"]
    assert services["verify"]["profiles"] == ["verify"]
    for name in ("kafka", "clickhouse", "migrate", "topics", "worker", "grafana"):
        assert "profiles" not in services[name], f"{name} must start with a plain `docker compose up`"


def test_every_bind_mount_exists_and_named_volumes_are_declared(compose: dict[str, Any]) -> None:
    declared = set(compose.get("volumes") or {})
    checked = 0
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            if isinstance(volume, dict):
                source, kind = volume.get("source", ""), volume.get("type")
            else:
                source = volume.split(":", 1)[0]
                kind = "bind" if source.startswith((".", "/", "~")) else "volume"
            if kind == "bind":
                path = (ROOT / source).resolve()
                assert path.exists(), f"{name}: bind mount {source} does not exist in the repository"
                assert str(path).startswith(str(ROOT)), f"{name}: {source} is outside the repository"
                assert isinstance(volume, str) and volume.endswith(":ro"), f"{name}: mount {source} read-only"
                checked += 1
            else:
                assert source in declared, f"{name}: named volume {source} is not declared under volumes:"
    assert checked >= 6


def test_grafana_provisioning_is_mounted_where_grafana_and_its_provider_read_it(
    services: dict[str, dict[str, Any]],
) -> None:
    mounts = dict(v.split(":")[:2][::-1] for v in services["grafana"]["volumes"] if v.startswith("."))
    for kind in ("datasources", "dashboards", "alerting"):
        assert mounts[f"/etc/grafana/provisioning/{kind}"] == f"./dashboards/provisioning/{kind}"
    for provider_file in (ROOT / "dashboards/provisioning/dashboards").glob("*.y*ml"):
        for provider in yaml.safe_load(provider_file.read_text(encoding="utf-8")).get("providers", []):
            path = provider["options"]["path"]
            assert mounts.get(path) == "./dashboards/json", f"{provider_file.name} reads {path}: mount it"
    assert list((ROOT / "dashboards/json").glob("*.json")), "no dashboard JSON to provision"


def test_grafana_has_every_variable_its_provisioning_expands(services: dict[str, dict[str, Any]]) -> None:
    """Grafana expands $VAR / ${VAR} in data source and dashboard provider files from its environment."""
    grafana_env = environment(services["grafana"])
    files = [*(ROOT / "dashboards/provisioning/datasources").glob("*.y*ml")]
    files += (ROOT / "dashboards/provisioning/dashboards").glob("*.y*ml")
    assert files
    for path in files:
        text = "\n".join(line.split("#", 1)[0] for line in path.read_text(encoding="utf-8").splitlines())
        for match in re.finditer(r"(?<!\$)\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", text):
            assert match[1] in grafana_env, f"{path.name} uses ${match[1]}, not set on the grafana service"
    sources = [
        ds for path in (ROOT / "dashboards/provisioning/datasources").glob("*.y*ml")
        for ds in yaml.safe_load(path.read_text(encoding="utf-8")).get("datasources", [])
    ]  # fmt: skip
    clickhouse = [ds for ds in sources if ds.get("uid") == "dvcpulse-clickhouse"]
    assert clickhouse and clickhouse[0]["jsonData"]["username"] == "grafana", "dashboards must read as `grafana`"
    assert clickhouse[0]["type"] in services["grafana"]["environment"]["GF_INSTALL_PLUGINS"]


def test_every_image_is_pinned(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        image = service.get("image")
        assert image, f"{name} has no image (a built service needs `image:` to be tagged)"
        assert image_reference_is_pinned(interpolate(image, {})), f"{name}: {image} is not pinned"
        assert image_reference_is_pinned(interpolate(image, env_example())), f"{name}: {image} with .env.example"
    plugins = services["grafana"]["environment"]["GF_INSTALL_PLUGINS"]
    for plugin in plugins.split(","):
        assert re.fullmatch(r"[\w-]+ \d+\.\d+\.\d+", plugin.strip()), f"plugin {plugin!r} is not pinned"
    assert services["grafana"]["image"].startswith("grafana/grafana:11.6.")
    for keyword, rest in dockerfile_instructions():
        if keyword == "FROM":
            reference = rest.split()[0]
            assert image_reference_is_pinned(reference), f"Dockerfile: FROM {reference} is not pinned"


def test_ports_are_bound_to_loopback_and_scalable_services_have_none(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        assert "container_name" not in service, f"{name}: container_name prevents scaling and parallel stacks"
        for port in service.get("ports", []):
            if isinstance(port, dict):
                assert port.get("host_ip") == "127.0.0.1", f"{name}: {port}"
            else:
                assert str(port).startswith("127.0.0.1:"), f"{name}: port {port} is not bound to 127.0.0.1"
    for name in dvcpulse_services(services):
        assert not services[name].get("ports"), f"{name} runs dvcpulse: no host ports (it must scale)"


def test_health_checks_and_dependency_conditions(services: dict[str, dict[str, Any]]) -> None:
    for name in HEALTH_CHECKED:
        test = services[name].get("healthcheck", {}).get("test")
        assert test and test[0] in ("CMD", "CMD-SHELL"), f"{name} has no health check"
    one_shots = {"migrate", "topics"}
    for name, service in services.items():
        depends = service.get("depends_on") or {}
        assert isinstance(depends, dict), f"{name}: depends_on needs conditions"
        for target, rule in depends.items():
            assert target in services, f"{name} depends on unknown {target}"
            condition = rule["condition"]
            if condition == "service_healthy":
                assert "healthcheck" in services[target], f"{name} waits for {target} to be healthy: it has no check"
            elif condition == "service_completed_successfully":
                assert target in one_shots, f"{name} waits for {target} to finish, but it runs forever"
            else:
                assert condition == "service_started", condition
            # A service outside any profile may not need one that only a profile starts.
            assert "profiles" not in services[target] or "profiles" in service, f"{name} -> {target}"
    for name in one_shots:
        assert services[name].get("restart") == "no", f"{name} is one-shot"
    worker_needs = services["worker"]["depends_on"]
    assert worker_needs["migrate"]["condition"] == "service_completed_successfully"
    assert worker_needs["topics"]["condition"] == "service_completed_successfully"
    assert worker_needs["kafka"]["condition"] == worker_needs["clickhouse"]["condition"] == "service_healthy"
    assert services["worker"].get("restart") in ("unless-stopped", "always", "on-failure")


def test_clickhouse_health_check_is_not_fooled_by_the_init_server(services: dict[str, dict[str, Any]]) -> None:
    # During /docker-entrypoint-initdb.d the image runs a temporary server on 127.0.0.1 only.
    test = " ".join(services["clickhouse"]["healthcheck"]["test"])
    assert "127.0.0.1" not in test and "localhost" not in test


# -- variables and secrets --------------------------------------------------------------------------------
def strings_in(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings_in(item)
    elif isinstance(value, str):
        yield value


def test_every_compose_variable_is_in_env_example_with_the_same_default(compose: dict[str, Any]) -> None:
    example = env_example()
    used: dict[str, set[str]] = {}
    for match in (m for text in strings_in(compose) for m in VARIABLE.finditer(text)):
        name, operator, argument = match.groups()
        used.setdefault(name, set())
        if operator in (":-", "-"):
            used[name].add(argument)
    assert used
    for name, defaults in sorted(used.items()):
        assert name in example, f"${{{name}}} is used in docker-compose.yml but missing from .env.example"
        assert len(defaults) <= 1, f"${{{name}}} has different defaults: {defaults}"
        if defaults:
            assert example[name] == next(iter(defaults)), f"{name}: .env.example and the compose default differ"
    assert set(example) <= set(used), f"unused in docker-compose.yml: {set(example) - set(used)}"


def test_no_secret_is_written_into_the_compose_file(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        for key, value in (service.get("environment") or {}).items():
            if SECRET_KEY.search(key):
                assert "${" in str(value), f"{name}.{key} must come from a variable (.env), not the file"


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
def dockerfile_exec_form(keyword: str) -> list[str]:
    found = [json.loads(rest) for kw, rest in dockerfile_instructions() if kw == keyword]
    assert found, f"Dockerfile has no {keyword} (exec form)"
    return found[-1]


def parse_cli(args: list[str]) -> Any:
    """Resolve `dvcpulse ARGS` down to its command and parse every option (types and choices too).

    Returns the command's click context; a bad option or value raises click's usage errors.
    """
    command = typer.main.get_command(app)  # typer's own (vendored) click: duck-typed here
    name, rest, parent = "dvcpulse", list(args), None
    while hasattr(command, "list_commands"):  # a group; dvcpulse's groups take no options of their own
        parent = command.context_class(command, info_name=name, parent=parent)
        name = rest.pop(0)
        sub = command.get_command(parent, name)
        assert sub is not None, f"no command {name!r} in {' '.join(args)}"
        command = sub
    return command.make_context(name, rest, parent=parent)


def test_dockerfile_entrypoint_and_default_command() -> None:
    assert dockerfile_exec_form("ENTRYPOINT") == ["dvcpulse"]
    assert dockerfile_exec_form("CMD") == ["worker", "--no-migrate"]


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


def test_worker_default_command_does_not_migrate() -> None:
    ctx = parse_cli(dockerfile_exec_form("CMD"))
    assert ctx.params["migrate_first"] is False  # migrations are the `migrate` service's job (admin user)


@pytest.mark.parametrize("name", ["topics", "verify"])
def test_helper_scripts_run_by_services_are_in_the_image(name: str, services: dict[str, dict[str, Any]]) -> None:
    entrypoint = services[name]["entrypoint"]
    assert entrypoint[0] == "python" and entrypoint[1].startswith(SCRIPTS_IN_IMAGE)
    script = DEPLOY / "scripts" / entrypoint[1].removeprefix(SCRIPTS_IN_IMAGE)
    assert script.is_file(), script
    copies = [rest.split() for kw, rest in dockerfile_instructions() if kw == "COPY"]
    assert ["deploy/scripts/", SCRIPTS_IN_IMAGE] in copies


# -- the Dockerfile -----------------------------------------------------------------------------------------
def test_dockerfile_installs_the_whole_project_as_non_root() -> None:
    instructions = dockerfile_instructions()
    froms = [rest.split()[0] for kw, rest in instructions if kw == "FROM"]
    assert froms and all(f.startswith("python:3.11-slim") for f in froms)
    runs = " ".join(rest for kw, rest in instructions if kw == "RUN")
    assert re.search(r"pip install (--[\w-]+ )*\.(\s|$)", runs), "the project is not pip-installed"
    sources = [
        source
        for keyword, rest in instructions
        if keyword == "COPY" and not rest.startswith("--from")
        for source in rest.split()[:-1]
        if "*" not in source  # README.md* is optional on purpose
    ]
    for source in sources:
        assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
    copied = {source.rstrip("/").split("/")[0] for source in sources}
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    folders = set(pyproject["tool"]["setuptools"]["package-dir"].values())
    assert "dvcpulse" in folders
    for folder in folders:
        assert folder in copied, f"folder {folder} (pyproject.toml package-dir) is not copied into the image"
    assert "pyproject.toml" in copied
    image_env = [item.split("=", 1)[0] for kw, rest in instructions if kw == "ENV" for item in rest.split()]
    assert {name for name in image_env if name.startswith("DVCPULSE_")} <= set(ALL_SETTINGS_ENV)
    users = [rest for kw, rest in instructions if kw == "USER"]
    assert users and users[-1] not in ("root", "0"), "the image must run as a non-root user"
    # The build context filter (everything excluded, then exceptions) must not drop what the Dockerfile copies.
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text(encoding="utf-8").split()
    assert "*" in ignore
    kept = [pattern[1:].rstrip("/") for pattern in ignore if pattern.startswith("!")]
    for source in sources:
        path = source.rstrip("/")
        assert any(path == k or path.startswith(k + "/") for k in kept), f"{source} is not in the build context"


# -- ClickHouse users -----------------------------------------------------------------------------------------
TRICKY_PASSWORDS = {
    "CLICKHOUSE_INGEST_PASSWORD": "in'gest\\pa$HOME`x`",
    "CLICKHOUSE_GRAFANA_PASSWORD": "graf ana';DROP USER admin;--",
    "CLICKHOUSE_ANALYST_PASSWORD": "analyst-plain",
}


@pytest.fixture(scope="module")
def users_sql(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, list[str]]:
    """Source users.sh the way the image's entrypoint does, with a fake clickhouse-client capturing it."""
    folder = tmp_path_factory.mktemp("initdb")
    captured, argv = folder / "stdin.sql", folder / "argv"
    fake = folder / "clickhouse-client"
    fake.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {argv}\ncat > {captured}\n')
    fake.chmod(0o755)
    env = {
        "PATH": f"{folder}:{os.environ['PATH']}",
        "CLICKHOUSE_USER": "admin",
        "CLICKHOUSE_PASSWORD": "admin-password",
        **TRICKY_PASSWORDS,
    }
    subprocess.run(
        ["bash", "-c", f'set -eo pipefail; . "{USERS_SCRIPT}"; echo sourced-ok'],
        env=env, check=True, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    return captured.read_text(), argv.read_text().splitlines()


def sql_statements(sql: str) -> list[str]:
    """Split on ';' outside string literals (where \\ escapes the next character)."""
    statements, current, quoted, escape = [], [], False, False
    for char in sql:
        if quoted:
            if escape:
                escape = False
            elif char == "\\":
                escape = True
            elif char == "'":
                quoted = False
        elif char == "'":
            quoted = True
        elif char == ";":
            statements.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    return [statement for statement in [*statements, "".join(current).strip()] if statement]


def test_users_script_connects_as_the_admin_to_the_init_server(users_sql: tuple[str, list[str]]) -> None:
    _, argv = users_sql
    assert argv[argv.index("--host") + 1] == "127.0.0.1"
    assert argv[argv.index("--user") + 1] == "admin"
    assert argv[argv.index("--password") + 1] == "admin-password"


def test_users_script_is_valid_clickhouse_sql(users_sql: tuple[str, list[str]]) -> None:
    import chdb

    for statement in sql_statements(users_sql[0]):
        literal = "'" + statement.replace("\\", "\\\\").replace("'", "\\'") + "'"
        result = chdb.query(f"SELECT formatQuery({literal})", "TSV")  # parses it; raises on a syntax error
        assert str(result).strip(), statement


def test_users_passwords_survive_shell_and_sql_quoting(users_sql: tuple[str, list[str]]) -> None:
    passwords = {}
    for statement in sql_statements(users_sql[0]):
        match = re.match(
            r"CREATE USER IF NOT EXISTS (\w+) IDENTIFIED WITH sha256_password BY '((?:[^'\\]|\\.)*)'", statement
        )
        if match:
            passwords[match[1]] = re.sub(r"\\(.)", r"\1", match[2])
    assert passwords == {
        "ingest": TRICKY_PASSWORDS["CLICKHOUSE_INGEST_PASSWORD"],
        "grafana": TRICKY_PASSWORDS["CLICKHOUSE_GRAFANA_PASSWORD"],
        "analyst": TRICKY_PASSWORDS["CLICKHOUSE_ANALYST_PASSWORD"],
    }


def test_users_get_least_privilege(users_sql: tuple[str, list[str]]) -> None:
    statements = [re.sub(r"\s+", " ", s) for s in sql_statements(users_sql[0])]
    grants: dict[str, set[str]] = {}
    for statement in statements:
        if statement.upper().startswith(("GRANT", "REVOKE")):
            # Only privileges, on the one database, to one user: no ALL, no roles, no GRANT OPTION.
            match = re.fullmatch(r"GRANT ((?:SELECT|INSERT)(?:, (?:SELECT|INSERT))*) ON (\S+) TO (\w+)", statement)
            assert match, f"unexpected grant: {statement}"
            assert match[2] == f"{DATABASE}.*", statement
            grants.setdefault(match[3], set()).update(p.strip() for p in match[1].split(","))
    assert grants == {"ingest": {"SELECT", "INSERT"}, "grafana": {"SELECT"}, "analyst": {"SELECT"}}
    profiles = {
        m[1]: m[2]
        for s in statements
        if (m := re.match(r"CREATE SETTINGS PROFILE IF NOT EXISTS (\w+) SETTINGS (.*)", s))
    }
    users = {m[1]: s for s in statements if (m := re.match(r"CREATE USER IF NOT EXISTS (\w+) ", s))}
    assert set(users) == {"ingest", "grafana", "analyst"}
    for reader, readonly in (("grafana", "1"), ("analyst", "2")):
        profile = re.search(r"SETTINGS PROFILE '(\w+)'", users[reader])
        assert profile, f"{reader} has no settings profile"
        assert re.search(rf"\breadonly = {readonly}\b", profiles[profile[1]]), f"{reader} must be readonly={readonly}"
    # The Grafana ClickHouse plugin sets max_execution_time on every query; readonly=1 needs this.
    assert (
        "max_execution_time" in profiles["dvcpulse_dashboards"]
        and "CHANGEABLE_IN_READONLY" in profiles["dvcpulse_dashboards"]
    )


def test_initdb_folder_holds_only_scripts_the_entrypoint_runs() -> None:
    for path in (DEPLOY / "clickhouse" / "initdb").iterdir():
        assert path.suffix in (".sh", ".sql"), f"{path.name} would be ignored by the entrypoint"
    assert not os.access(USERS_SCRIPT, os.X_OK), "keep users.sh sourced (not executable): it has no shebang"


# -- documentation ------------------------------------------------------------------------------------------
def test_configuration_doc_lists_every_setting_and_is_up_to_date() -> None:
    doc = (DEPLOY / "CONFIGURATION.md").read_text(encoding="utf-8")
    for name, field in Settings.model_fields.items():
        assert f"`{name}`" in doc, f"setting {name} is missing from deploy/CONFIGURATION.md"
        for env_name in settings_env_names(name, field):
            assert f"`{env_name}`" in doc, f"{env_name} is missing from deploy/CONFIGURATION.md"
    generator = load_module(DEPLOY / "gen_configuration.py")
    assert "TODO" not in generator.table(), "a setting has no description: add one in dvcpulse/settings.py"
    assert generator.render(doc) == doc, "deploy/CONFIGURATION.md is stale: run python deploy/gen_configuration.py"


def test_deploy_docs_cover_the_checklist() -> None:
    scaling = (DEPLOY / "SCALING.md").read_text(encoding="utf-8")
    for needle in ("DVCPULSE_PARTITIONS", "CRC-32", "DVCPULSE_WORKER_ID", "ReplicatedReplacingMergeTree",
                   "Distributed", "FINAL", "--scale"):  # fmt: skip
        assert needle in scaling, f"SCALING.md: {needle}"
    production = (DEPLOY / "PRODUCTION.md").read_text(encoding="utf-8")
    for needle in ("KAFKA_SECURITY_PROTOCOL", "KAFKA_SASL_MECHANISM", "KAFKA_SSL_CAFILE", "DVCPULSE_PII_KEY",
                   "retention.ms", "BACKUP", "TTL", "readonly", "DVCPULSE_WORKER_ID", "lag"):  # fmt: skip
        assert needle in production, f"PRODUCTION.md: {needle}"


# -- deploy/scripts/create_topics.py ---------------------------------------------------------------------------
@pytest.mark.integration
def test_create_topics_script_creates_the_topics(broker: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import asyncio

    from aiokafka.admin import AIOKafkaAdminClient

    suffix = uuid.uuid4().hex[:8]
    names = {
        "DVCPULSE_EVENTS_TOPIC": f"compose.events.{suffix}",
        "DVCPULSE_DEAD_LETTER_TOPIC": f"compose.dlq.{suffix}",
    }
    monkeypatch.chdir(tmp_path)  # no stray .env
    for key in ALL_SETTINGS_ENV:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("KAFKA_BOOTSTRAP", broker)
    monkeypatch.setenv("DVCPULSE_PARTITIONS", "3")
    for key, value in names.items():
        monkeypatch.setenv(key, value)
    script = load_module(DEPLOY / "scripts" / "create_topics.py")
    assert script.main() == 0
    assert script.main() == 0  # existing topics are fine

    async def partitions() -> dict[str, int]:
        admin = AIOKafkaAdminClient(bootstrap_servers=broker)
        await admin.start()
        try:
            described = await admin.describe_topics(list(names.values()))
        finally:
            await admin.close()
        return {d["topic"]: len(d["partitions"]) for d in described}

    assert asyncio.run(partitions()) == dict.fromkeys(names.values(), 3)


def test_create_topics_script_needs_a_bootstrap(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    for key in ALL_SETTINGS_ENV:
        monkeypatch.delenv(key, raising=False)
    assert load_module(DEPLOY / "scripts" / "create_topics.py").main() == 2


# -- deploy/scripts/verify_grafana.py --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def verify() -> ModuleType:
    return load_module(DEPLOY / "scripts" / "verify_grafana.py")


def _target(sql: str, uid: str = "dvcpulse-clickhouse", **extra: Any) -> dict[str, Any]:
    return {"refId": "A", "datasource": {"type": "grafana-clickhouse-datasource", "uid": uid}, "rawSql": sql, **extra}


def test_verify_picks_a_runnable_panel(verify: ModuleType, tmp_path: Path) -> None:
    dashboard = {
        "title": "D",
        "templating": {"list": [
            {"name": "province", "current": {"value": "01"}},
            {"name": "service", "current": {"value": "$__all"}},
        ]},
        "panels": [
            {"title": "other source", "targets": [_target("SELECT 1", uid="prometheus")]},
            {"title": "hidden", "targets": [_target("SELECT 2", hide=True)]},
            {"title": "all services", "targets": [_target("SELECT 3 WHERE s IN ($service)")]},
            {"type": "row", "title": "row", "panels": [
                {"title": "one province",
                 "targets": [_target("SELECT 4 WHERE p = '${province}' AND $__timeFilter(t)")]},
                {"title": "plain", "datasource": {"uid": "dvcpulse-clickhouse"},
                 "targets": [{"refId": "B", "rawSql": "SELECT 5"}]},
            ]},
        ],
    }  # fmt: skip
    (tmp_path / "d.json").write_text(json.dumps(dashboard))
    found = verify.candidates(tmp_path)
    assert [(c.panel, c.sql) for c in found] == [
        ("plain", "SELECT 5"),
        ("one province", "SELECT 4 WHERE p = '01' AND $__timeFilter(t)"),
    ]
    assert found[0].query["datasource"] == {"type": "grafana-clickhouse-datasource", "uid": "dvcpulse-clickhouse"}


def test_verify_counts_only_rows_with_data(verify: ModuleType) -> None:
    def answer(*columns: list[Any]) -> dict[str, Any]:
        return {"results": {"A": {"status": 200, "frames": [{"data": {"values": list(columns)}}]}}}

    assert verify.data_rows(answer([0], [None]), "A") == 0  # a count over nothing is not data
    assert verify.data_rows(answer([], []), "A") == 0
    assert verify.data_rows(answer([1700000000000, 1700000060000], [0, 12]), "A") == 2
    with pytest.raises(verify.VerifyError, match="boom"):
        verify.data_rows({"results": {"A": {"error": "boom", "status": 400}}}, "A")


class FakeGrafana(http.server.BaseHTTPRequestHandler):
    answers: typing.ClassVar[list[tuple[int, dict[str, Any]]]] = []
    requests: typing.ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
        status, answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def fake_grafana() -> Iterator[tuple[str, type[FakeGrafana]]]:
    handler = type("Handler", (FakeGrafana,), {"answers": [], "requests": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()


def test_verify_waits_for_data_then_passes(
    verify: ModuleType, fake_grafana: tuple[str, type[FakeGrafana]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, handler = fake_grafana
    empty = {"results": {"A": {"status": 200, "frames": [{"data": {"values": [[0]]}}]}}}
    full = {"results": {"A": {"status": 200, "frames": [{"data": {"values": [[42]]}}]}}}
    handler.answers.extend([(200, empty), (500, {"message": "plugin starting"}), (200, full)])
    (tmp_path / "d.json").write_text(
        json.dumps({"title": "D", "panels": [{"title": "P", "targets": [_target("SELECT 42")]}]})
    )
    for key, value in {
        "GRAFANA_URL": url, "GRAFANA_USER": "admin", "GRAFANA_PASSWORD": "pw", "VERIFY_DASHBOARDS": str(tmp_path),
        "VERIFY_TIMEOUT_SECONDS": "20", "VERIFY_INTERVAL_SECONDS": "0.05",
    }.items():  # fmt: skip
        monkeypatch.setenv(key, value)
    assert verify.main() == 0
    assert len(handler.requests) == 3
    request = handler.requests[-1]
    assert request["path"] == "/api/ds/query" and request["auth"] == "Basic YWRtaW46cHc="
    assert request["body"]["queries"][0]["rawSql"] == "SELECT 42"
    assert request["body"]["queries"][0]["datasource"]["uid"] == "dvcpulse-clickhouse"


def test_verify_fails_when_the_query_keeps_failing(
    verify: ModuleType, fake_grafana: tuple[str, type[FakeGrafana]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, handler = fake_grafana
    handler.answers.append((400, {"results": {"A": {"error": "Unknown table dvcpulse.v_totals", "status": 400}}}))
    (tmp_path / "d.json").write_text(json.dumps({"panels": [{"title": "P", "targets": [_target("SELECT 1")]}]}))
    for key, value in {"GRAFANA_URL": url, "VERIFY_DASHBOARDS": str(tmp_path), "VERIFY_TIMEOUT_SECONDS": "0.3",
                       "VERIFY_INTERVAL_SECONDS": "0.05", "GRAFANA_USER": ""}.items():  # fmt: skip
        monkeypatch.setenv(key, value)
    assert verify.main() == 1
    assert handler.requests and handler.requests[0]["auth"] is None


def test_the_provisioned_dashboards_give_verify_a_panel_to_run(verify: ModuleType, services: dict[str, Any]) -> None:
    found = verify.candidates(ROOT / "dashboards" / "json")
    assert found, "no panel with a runnable SQL query on dvcpulse-clickhouse in dashboards/json"
    assert environment(services["verify"])["VERIFY_DASHBOARDS"] == "/dashboards"
