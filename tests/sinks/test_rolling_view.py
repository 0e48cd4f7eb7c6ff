"""v_online_rate_rolling ends at now: a minute in the future is in no window (migration 0005)."""

from __future__ import annotations

import time

from clickhouse_connect.driver.client import Client

from dvcpulse.sinks.contract import EventRow
from dvcpulse.sinks.writer import ClickHouseWriter
from dvcpulse.streams.state import PartitionState
from tests.sinks.conftest import DB


def submitted(event_id: str, at_ms: int, channel: int) -> EventRow:
    return EventRow(
        event_id, event_id, "1.001", "DV06", "79", "", "", channel, "full", "submitted", 1, at_ms, None, None, "",
        False, hash(event_id) & 0xFFFF,
    )  # fmt: skip


def test_minutes_after_now_are_in_no_window(client: Client) -> None:
    now_ms = int(time.time() * 1000)
    state = PartitionState(partition=0)
    state.apply_message(0, [
        submitted("past-online", now_ms - 5 * 60_000, 2),
        submitted("past-counter", now_ms - 6 * 60_000, 1),
        submitted("future-online", now_ms + 30 * 60_000, 2),  # a portal clock half an hour ahead
        submitted("far-future-online", now_ms + 3 * 86_400_000, 2),
    ])  # fmt: skip
    ClickHouseWriter(client, DB).write([state.take_changes()])
    rows = client.query(
        f"SELECT window, online, in_person FROM {DB}.v_online_rate_rolling WHERE scope = 'national' ORDER BY window"
    ).result_rows
    assert rows == [("15m", 1, 1), ("1h", 1, 1), ("24h", 1, 1)]
