"""The one private aiokafka attribute dvcpulse sets (`_group_instance_id`), pinned: aiokafka must still send
LeaveGroup on close exactly when it is None. The behaviour itself is tested on Kafka in
tests/e2e/test_kafka_faults.py (a cleanly stopped static member's partitions move at once)."""

from __future__ import annotations

import inspect

from aiokafka.consumer.group_coordinator import GroupCoordinator

from dvcpulse.streams.membership import STATIC_ID_ATTRIBUTE


def test_aiokafka_leaves_the_group_only_when_the_static_id_is_none() -> None:
    assert f"self.{STATIC_ID_ATTRIBUTE} = group_instance_id" in inspect.getsource(GroupCoordinator.__init__)
    leave = inspect.getsource(GroupCoordinator._maybe_leave_group)
    assert f"self.{STATIC_ID_ATTRIBUTE} is None" in leave and "LeaveGroupRequest" in leave
