"""Shared by the tests of docker-compose.yml, deploy/ and .env.example: paths, parsing, compose interpolation,
the environment names dvcpulse.settings reads, and resolving a `dvcpulse ...` command line.

Everything is checked by parsing the files (no Docker engine needed).
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import typer.main
from pydantic import AliasChoices, AliasPath
from pydantic.fields import FieldInfo

from dvcpulse.cli import app
from dvcpulse.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
DEPLOY = ROOT / "deploy"
DOCKERFILE = DEPLOY / "Dockerfile"
USERS_SCRIPT = DEPLOY / "clickhouse" / "initdb" / "users.sh"

DVCPULSE_IMAGE = "dvcpulse:"  # the image built from deploy/Dockerfile
# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}, ${NAME?error}; `$$` is a literal dollar.
VARIABLE = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


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
