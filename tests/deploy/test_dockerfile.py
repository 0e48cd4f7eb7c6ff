"""deploy/Dockerfile (and its .dockerignore): what the image installs, runs and copies, checked by parsing it."""

from __future__ import annotations

import re
import tomllib
from typing import Any

import pytest

from tests.deploy.compose_helpers import (
    ALL_SETTINGS_ENV,
    DEPLOY,
    ROOT,
    dockerfile_exec_form,
    dockerfile_instructions,
    parse_cli,
)

SCRIPTS_IN_IMAGE = "/opt/dvcpulse/"  # where the Dockerfile copies deploy/scripts/


# -- commands the image runs ---------------------------------------------------------------------------------
def test_dockerfile_entrypoint_and_default_command() -> None:
    assert dockerfile_exec_form("ENTRYPOINT") == ["dvcpulse"]
    assert dockerfile_exec_form("CMD") == ["worker", "--no-migrate"]


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
