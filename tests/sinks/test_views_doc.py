"""sinks/VIEWS.md against the real views.

Every view of sinks/migrations/0002_views.sql and every reference table has a `## <name>` section whose
column table equals `DESCRIBE` of the object, and every example (`dvcpulse sql "..."` in a ```sh block,
the only example format) runs on a chdb engine in a tmp dir, migrated with sinks.migrate and loaded
through the product's write path (streams.state.PartitionState -> sinks.writer.ClickHouseWriter).
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import clickhouse_connect
import orjson
import pytest
from clickhouse_connect.driver.client import Client

from dvcpulse.sinks.contract import EventRow
from dvcpulse.sinks.migrate import migrate
from dvcpulse.sinks.writer import ClickHouseWriter
from dvcpulse.streams.state import PartitionState

SOURCES = itertools.count(1)

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "sinks" / "VIEWS.md").read_text(encoding="utf-8")
VIEWS_SQL = (ROOT / "sinks" / "migrations" / "0002_views.sql").read_text(encoding="utf-8")
MIGRATIONS_SQL = "\n".join(
    path.read_text(encoding="utf-8") for path in sorted((ROOT / "sinks" / "migrations").glob("*.sql"))
)
DB = "dvcpulse"
REFERENCE_TABLES = ("provinces", "services", "status_codes", "index_766_groups", "index_766_indicators")
# every view any migration creates, in order of first appearance (0002 has most; later ones add some)
VIEWS = list(dict.fromkeys(re.findall(r"^CREATE OR REPLACE VIEW \{db\}\.(\w+)", MIGRATIONS_SQL, re.MULTILINE)))

MINUTE = 60_000
DAY = 24 * 60 * MINUTE
NEWS_DAY_MS = 1_671_580_800_000  # 2022-12-21T00:00:00Z


def sections() -> dict[str, str]:
    """`## `name`` heading -> the section's text up to the next `## ` heading."""
    parts = re.split(r"^## ", DOC, flags=re.MULTILINE)[1:]
    out = {}
    for part in parts:
        heading, _, body = part.partition("\n")
        match = re.fullmatch(r"`(\w+)`", heading.strip())
        if match:
            out[match[1]] = body
    return out


def documented_columns(body: str) -> list[tuple[str, str]]:
    return re.findall(r"^\| `(\w+)` \| `([^`]+)` \|", body, re.MULTILINE)


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """(info string, content) of every fenced block."""
    return re.findall(r"^```(\w*)\n(.*?)^```$", text, re.MULTILINE | re.DOTALL)


def examples(text: str) -> list[str]:
    return [query.strip() for _, block in fenced_blocks(text) for query in re.findall(r'dvcpulse sql "([^"]*)"', block)]


# -- data, through the product's write path ---------------------------------------------------------


def event(
    event_id: str,
    record: str,
    kind: str,
    t: int,
    *,
    status: int = 1,
    channel: int = 2,
    level: str = "full",
    service: str = "DV06",
    province: str = "79",
    late: bool = False,
) -> EventRow:
    """Each call stands for its own source message, so a repeated event id is a portal re-send."""
    return EventRow(
        event_id, record, "1.000001", service, province, "", "", channel, level, kind, status, t, None, None, "", late,
        next(SOURCES),
    )  # fmt: skip


def filing(record: str, t: int, **attrs: Any) -> list[EventRow]:
    """A record's life: submitted, accepted, processing, synced as resolved."""
    return [
        event(f"{record}-s", record, "submitted", t, **attrs),
        event(f"{record}-2", record, "status_changed", t + 2 * MINUTE, status=2, **attrs),
        event(f"{record}-4", record, "status_changed", t + 3 * MINUTE, status=4, **attrs),
        event(f"{record}-y", record, "synced", t + 4 * MINUTE, status=9, **attrs),
    ]


def load(client: Client, now_ms: int) -> None:
    """Write a few filings, a re-sent and a late event in two records partitions, and a dead letter."""
    recent = now_ms - 30 * MINUTE
    p0, p1 = PartitionState(partition=0), PartitionState(partition=1)
    p0.apply_message(0, filing("H79-000001", recent) + filing("H79-000002", recent + MINUTE, channel=1))
    p0.apply_message(1, filing("H01-000003", recent, province="01", service="DV02", level="partial"))
    p0.apply_message(2, filing("H01-000004", recent, province="01", channel=3))
    p1.apply_message(0, filing("H48-000005", NEWS_DAY_MS, province="48") + filing("H48-000006", now_ms - 400 * DAY))
    p1.apply_message(1, filing("H92-000007", now_ms - 40 * DAY, province="92", service="OTHER", level="none"))
    p1.apply_message(2, [event("H92-000008-s", "H92-000008", "submitted", now_ms - 35 * DAY, province="92")])
    p0.apply_message(3, [event("H79-000001-s", "H79-000001", "submitted", recent)])  # re-sent: ignored
    p1.apply_message(3, [event("H79-000009-s", "H79-000009", "submitted", now_ms - 20 * DAY, late=True)])
    writer = ClickHouseWriter(client, DB)
    writer.write([p0.take_changes(), p1.take_changes()])
    errors = [{"field": "province_code", "value": "99", "reason": "unknown province_code"}]
    writer.write_dead_letters(
        [["dvc.filing-events", 0, 17, -1, "province_code=99: unknown province_code", orjson.dumps(errors).decode(),
          '{"province_code": "99"}', now_ms - MINUTE]]
    )  # fmt: skip


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    """One chdb data dir for the module (chdb allows one engine path per process)."""
    dsn = f"chdb://{tmp_path_factory.mktemp('views-doc')}"
    db = clickhouse_connect.get_client(dsn=dsn, database=None)  # the database does not exist yet
    try:
        migrate(db, DB)
        db.database = DB  # what `dvcpulse sql` uses by default
        load(db, int(time.time() * 1000))
        yield db
    finally:
        db.close()


# -- the document ---------------------------------------------------------------------------------


def test_views_found_in_the_migration() -> None:
    in_0002 = re.findall(r"^CREATE OR REPLACE VIEW \{db\}\.(\w+)", VIEWS_SQL, re.MULTILINE)
    assert len(in_0002) == VIEWS_SQL.count("CREATE OR REPLACE VIEW") and "v_totals" in in_0002
    assert VIEWS[: len(in_0002)] == in_0002 and "v_hourly" in VIEWS


def test_every_view_and_reference_table_has_a_section() -> None:
    documented = sections()
    assert not [name for name in (*VIEWS, *REFERENCE_TABLES) if name not in documented]
    assert not [name for name in documented if name not in (*VIEWS, *REFERENCE_TABLES)]


def test_one_example_format_and_every_section_has_one() -> None:
    blocks = fenced_blocks(DOC)
    assert blocks and all(info == "sh" for info, _ in blocks), "examples are ```sh blocks only"
    for _, block in blocks:
        assert len(re.findall(r'dvcpulse sql "[^"]*"', block)) == 1, block
        assert block.strip().startswith('dvcpulse sql "') and block.strip().endswith('"'), block
    for name, body in sections().items():
        assert examples(body), f"no example in the {name} section"


@pytest.mark.parametrize("query", examples(DOC), ids=lambda q: " ".join(q.split())[:60])
def test_example_is_safe_in_double_quotes(query: str) -> None:
    """Pasted into a shell: nothing inside the double quotes may be expanded or end them."""
    assert not set(query) & set('$`\\"!')


@pytest.mark.parametrize("query", examples(DOC), ids=lambda q: " ".join(q.split())[:60])
def test_example_runs(client: Client, query: str) -> None:
    client.query(query)


@pytest.mark.parametrize("name", [*VIEWS, *REFERENCE_TABLES])
def test_documented_columns_equal_the_actual_ones(client: Client, name: str) -> None:
    actual = [(row[0], row[1]) for row in client.query(f"DESCRIBE {DB}.{name}").result_rows]
    assert documented_columns(sections()[name]) == actual


def test_fixture_went_through_the_write_path(client: Client) -> None:
    synced, synced_online, submitted = client.query("SELECT synced, synced_online, submitted FROM v_totals").first_row
    assert (synced, synced_online, submitted) == (7, 5, 8)  # the re-sent and the late event count nothing
    rolling = client.query("SELECT online, in_person, postal FROM v_online_rate_rolling WHERE scope = 'national' "
                           "AND window = '1h'").first_row  # fmt: skip
    assert rolling == (2, 1, 1)
    assert client.query("SELECT processed, duplicates, late FROM v_freshness").first_row == (31, 1, 1)
