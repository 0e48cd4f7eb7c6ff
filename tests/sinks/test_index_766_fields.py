"""The optional 766 facts are stored (migration 0010): validated events go through streams.internal.from_model,
the worker's partition state and the real writer into the embedded engine, and read back as sent; a v1 event
that states none of them reads back NULL."""

from __future__ import annotations

from clickhouse_connect.driver.client import Client

from dvcpulse.models.index_766_facts import INDEX_766_FIELDS
from dvcpulse.sinks.writer import ClickHouseWriter
from dvcpulse.streams.internal import from_model
from dvcpulse.streams.state import PartitionState
from tests.models.event_helpers import decode, event
from tests.sinks.conftest import DB

FACTS = {
    "fee_required": True,
    "requires_written_result": False,
    "result_electronic": True,
    "digitized_components": False,
    "reused_data": True,
    "personal_store": None,  # stated as null: states nothing, like an absent field
    "population_data": True,
    "satisfaction_rating": "dissatisfied",
    "complaint": False,
}


def test_facts_are_stored_and_v1_events_read_null(client: Client) -> None:
    with_facts = from_model(decode(event(event_id="E1", record_id="R1", **FACTS)), source=1)
    v1 = from_model(decode(event(event_id="E2", record_id="R2")), source=2)
    assert [getattr(with_facts, name) for name in INDEX_766_FIELDS] == list(FACTS.values())
    state = PartitionState(partition=0)
    state.apply_message(1, [with_facts, v1])
    writer = ClickHouseWriter(client, DB)
    writer.write([state.take_changes()])
    writer.write([state.take_changes()])  # an empty flush changes nothing

    columns = ", ".join(INDEX_766_FIELDS)
    rows = client.query(f"SELECT event_id, {columns}, paid_online FROM {DB}.v_events ORDER BY event_id").result_rows
    assert rows == [
        ("E1", True, False, True, False, True, None, True, "dissatisfied", False, True),
        ("E2", *([None] * len(INDEX_766_FIELDS)), True),
    ]
    # the restore path reads what it read before: the new columns change nothing of it
    history = writer.read_partition(0)
    assert history is not None and sorted(e.event_id for e in history.events) == ["E1", "E2"]
