"""deploy/clickhouse/initdb/users.sh, run against a fake clickhouse-client, its SQL parsed by the embedded
ClickHouse engine: the users, their passwords and their least privileges."""

from __future__ import annotations

import os
import re
import subprocess

import pytest

from dvcpulse.settings import Settings
from tests.deploy.compose_helpers import DEPLOY, USERS_SCRIPT

DATABASE = Settings.model_fields["clickhouse_database"].default


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
