"""Static group membership that still leaves the group on a clean stop (Kafka Streams' leave-on-close).

With a stable `group.instance.id` (DVCPULSE_WORKER_ID) a restarted worker takes its place back at once,
without waiting for its old session to expire. Kafka clients then skip LeaveGroup on close, so a worker
that stops for good would keep its partitions until its session expires (and on brokers that never expire
it, forever). On a clean stop we send LeaveGroup anyway; a crash still relies on the session timeout.
"""

from __future__ import annotations

import logging

import faust
from faust.transport.drivers import aiokafka as driver

log = logging.getLogger(__name__)


# aiokafka (pinned below 0.15) sends LeaveGroup on close only when its coordinator's `_group_instance_id` is
# None; tests/streams/test_membership.py fails if that attribute or that check goes away.
STATIC_ID_ATTRIBUTE = "_group_instance_id"


class LeavingConsumerThread(driver.AIOKafkaConsumerThread):
    async def on_thread_stop(self) -> None:
        coordinator = getattr(self._consumer, "_coordinator", None)
        if coordinator is not None:
            if hasattr(coordinator, STATIC_ID_ATTRIBUTE):
                setattr(coordinator, STATIC_ID_ATTRIBUTE, None)
            else:
                log.error("this aiokafka has no %s: the worker cannot leave its group", STATIC_ID_ATTRIBUTE)
        await super().on_thread_stop()


class LeavingConsumer(driver.Consumer):
    def _new_consumer_thread(self) -> driver.AIOKafkaConsumerThread:
        return LeavingConsumerThread(self, loop=self.loop, beacon=self.beacon)


def leave_group_on_clean_stop(app: faust.App) -> None:
    app.transport.Consumer = LeavingConsumer  # type: ignore[misc]
