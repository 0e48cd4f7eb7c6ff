"""docker-compose.yml, checked by parsing it (no Docker engine needed): its shape (pinned images, loopback
ports, health checks, dependency conditions, existing bind mounts, Grafana's provisioning) and that every
compose variable is in .env.example with the same default, with no secret written into the file.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import yaml

from tests.deploy.compose_helpers import (
    ROOT,
    VARIABLE,
    dockerfile_instructions,
    dvcpulse_services,
    env_example,
    environment,
    image_reference_is_pinned,
    interpolate,
)

HEALTH_CHECKED = ("kafka", "clickhouse", "grafana")
SECRET_KEY = re.compile(r"PASSWORD|SECRET|PII_KEY|_DSN$")


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
