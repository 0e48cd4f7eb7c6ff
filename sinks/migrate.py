"""Versioned, idempotent schema migrations, recorded in `<db>.schema_migrations`.

Files are sinks/migrations/NNNN_name.sql; `{db}` stands for the database name. A migration that was
applied is never run again; one whose file changed since is reported, not silently re-run.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib.resources import files

from clickhouse_connect.driver.client import Client

from dvcpulse.seeds.index_766 import index_groups, index_indicators
from dvcpulse.seeds.reference import provinces, services, status_codes

_NAME = re.compile(r"^(\d{4})_([\w-]+)\.sql$")
_END = re.compile(r";[ \t]*$", re.MULTILINE)


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()[:16]

    def statements(self, database: str) -> list[str]:
        body = "\n".join(line for line in self.sql.splitlines() if not line.lstrip().startswith("--"))
        # a statement ends with ';' at the end of a line (a ';' inside a COMMENT string does not)
        return [s.strip().replace("{db}", database) for s in _END.split(body) if s.strip()]


def available() -> list[Migration]:
    folder = files("dvcpulse.sinks").joinpath("migrations")
    found = []
    for entry in folder.iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    return sorted(found, key=lambda m: m.version)


def _applied(client: Client, database: str) -> dict[int, str]:
    client.command(
        f"CREATE TABLE IF NOT EXISTS {database}.schema_migrations "
        "(version UInt32, name String, checksum String, applied_at DateTime64(3, 'UTC') DEFAULT now64(3)) "
        "ENGINE = ReplacingMergeTree ORDER BY version"
    )
    rows = client.query(f"SELECT version, checksum FROM {database}.schema_migrations FINAL").result_rows
    return {int(version): checksum for version, checksum in rows}


def load_reference_data(client: Client, database: str) -> None:
    """Reference tables for dashboards and analysts (ReplacingMergeTree: reloading is harmless)."""
    client.insert(f"{database}.provinces", [[p.code, p.name] for p in provinces().values()], ["code", "name"])
    client.insert(
        f"{database}.services",
        [
            [s.code, s.no, s.name_vi, s.gloss_en, s.authority, s.online_level, s.typical_online_share]
            for s in services().values()
        ]
        + [["OTHER", 0, "Thủ tục hành chính khác", "Other procedures", "", "partial", 0.0]],
        ["code", "no", "name_vi", "gloss_en", "authority", "online_level", "typical_online_share"],
    )
    client.insert(
        f"{database}.status_codes",
        [[s.code, s.name_vi, s.name_en] for s in status_codes().values()],
        ["code", "name_vi", "name_en"],
    )
    _load_index_766(client, database)


def _load_index_766(client: Client, database: str) -> None:
    """The 766 index's groups and indicators (seeds/data/index_766_*.csv), which its views score with (0011).
    Loaded only once the tables exist, so a partly migrated database still loads the rest."""
    tables = client.query(
        "SELECT name FROM system.tables WHERE database = {db:String} AND name LIKE 'index_766_%'",
        parameters={"db": database},
    ).result_rows
    if len(tables) < 2:
        return
    client.insert(
        f"{database}.index_766_groups",
        [[g.code, g.no, g.name_vi, g.name_en, g.max_points] for g in index_groups().values()],
        ["code", "no", "name_vi", "name_en", "max_points"],
    )
    names = ["code", "group", "name_vi", "name_en", "target", "max_points", "scoring", "if_empty", "dvcpulse",
             "dvcpulse_reason"]  # fmt: skip
    rows = [[getattr(i, name) for name in names] for i in index_indicators().values()]
    client.insert(f"{database}.index_766_indicators", rows, ["group_code" if n == "group" else n for n in names])


def migrate(client: Client, database: str) -> list[Migration]:
    """Apply pending migrations in order; returns the ones applied now."""
    client.command(f"CREATE DATABASE IF NOT EXISTS {database}")
    applied = _applied(client, database)
    done = []
    for migration in available():
        if migration.version in applied:
            continue
        for statement in migration.statements(database):
            client.command(statement)
        client.insert(
            f"{database}.schema_migrations",
            [[migration.version, migration.name, migration.checksum]],
            ["version", "name", "checksum"],
        )
        done.append(migration)
    if done:
        load_reference_data(client, database)
    return done


def changed_since_applied(client: Client, database: str) -> list[Migration]:
    applied = _applied(client, database)
    return [m for m in available() if m.version in applied and applied[m.version] != m.checksum]
