"""Fixtures of the deploy tests: docker-compose.yml, parsed once per test module."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.deploy.compose_helpers import COMPOSE_FILE


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]
