"""v_events with the skipping indexes of migration 0007: the same rows as reading `events` FINAL whole, when
events were written twice (a replay) and in several parts, for record lookups and late events."""

from __future__ import annotations

import itertools

from clickhouse_connect.driver.client import Client

from dvcpulse.sinks.contract import EventRow
from dvcpulse.sinks.writer import ClickHouseWriter
from dvcpulse.streams.state import PartitionState
from tests.sinks.conftest import DB

T0 = 1_756_684_800_000  # 2025-09-01T00:00:00Z
SOURCES = itertools.count(1)


def event(record: str, n: int, *, late: bool = False) -> EventRow:
    kind = "submitted" if n == 0 else "status_changed"
    return EventRow(
        f"{record}-{n}", record, "1.001", "DV06", ("01", "79")[n % 2], "", "", 2, "full", kind, 1 + n, T0 + n * 60_000,
        None, None, "", late, next(SOURCES),
    )  # fmt: skip


def test_record_and_late_lookups_equal_a_full_read(client: Client) -> None:
    writer = ClickHouseWriter(client, DB)
    state = PartitionState(partition=0)
    for offset in range(20):  # twenty inserts: as many parts
        state.apply_message(
            offset, [event(f"R{offset}-{k}", n, late=k == 0 and n == 3) for k in range(50) for n in range(4)]
        )
        changes = state.take_changes()
        writer.write([changes])
        if offset % 5 == 0:
            writer.write([changes])  # written again, as a replay does: a second version of each row
    full = f"SELECT event_id, is_late FROM {DB}.events FINAL SETTINGS use_skip_indexes = 0"
    for record in ("R0-0", "R7-3", "R19-49", "missing"):
        got = client.query(f"SELECT event_id, is_late FROM {DB}.v_events WHERE record_id = '{record}'").result_rows
        expected = [r for r in client.query(full).result_rows if r[0].rsplit("-", 1)[0] == record]
        assert sorted(got) == sorted(expected) and len(got) == (0 if record == "missing" else 4)
    late = client.query(f"SELECT event_id FROM {DB}.v_events WHERE is_late").result_rows
    assert sorted(late) == sorted((f"R{offset}-0-3",) for offset in range(20))
    plan = "\n".join(row[0] for row in client.query(f"EXPLAIN indexes = 1 SELECT * FROM {DB}.v_events "
                                                    "WHERE record_id = 'R7-3'").result_rows)  # fmt: skip
    assert "record_id_bloom" in plan
