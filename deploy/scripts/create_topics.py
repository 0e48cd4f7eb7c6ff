"""Create dvcpulse's Kafka topics (events, dead letters) from the settings, then exit.

docker-compose.yml runs this once before the workers and the simulator start, so the topics exist with
DVCPULSE_PARTITIONS partitions whichever of them comes first (the publisher refuses a missing topic, and
a worker creates them too, but only when it starts). Existing topics are left alone, as by the worker.

    KAFKA_BOOTSTRAP=kafka:9092 DVCPULSE_PARTITIONS=8 python create_topics.py
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time

from aiokafka.errors import KafkaError

from dvcpulse.settings import Settings
from dvcpulse.topics import ensure_topics

log = logging.getLogger("dvcpulse.create_topics")


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    settings = Settings()
    if not settings.kafka_bootstrap:
        log.error("KAFKA_BOOTSTRAP is not set")
        return 2
    # Kafka answering a health check does not always mean it accepts topic creation yet: retry briefly.
    deadline = time.monotonic() + float(os.environ.get("CREATE_TOPICS_TIMEOUT_SECONDS", "60"))
    while True:
        try:
            counts = asyncio.run(ensure_topics(settings, settings.kafka_bootstrap))
            break
        except (KafkaError, OSError) as error:
            if time.monotonic() > deadline:
                log.error("cannot create topics on %s: %s", settings.kafka_bootstrap, error)
                return 1
            log.warning("Kafka not ready (%s); retrying", error)
            time.sleep(2)
    for name, partitions in counts.items():
        log.info("topic %s: %d partitions", name, partitions)
    short = {name: n for name, n in counts.items() if n < settings.partitions}
    if short:
        # The worker refuses an events topic whose count differs from DVCPULSE_PARTITIONS; Kafka can add
        # partitions but that remaps record ids to partitions (deploy/SCALING.md), so this is reported, not fixed.
        log.warning("topics with fewer partitions than DVCPULSE_PARTITIONS=%d: %s", settings.partitions, short)
    return 0


if __name__ == "__main__":
    sys.exit(main())
