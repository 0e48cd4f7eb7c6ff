"""The worker's one thread for ClickHouse I/O, and what happens when a write cannot be done.

One thread for all of it (restores, writes): calls run in submission order, so a restore reads what was
written before it, and fewer threads mean fewer malloc arenas holding freed batch buffers.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NoReturn, TypeVar

from dvcpulse.sinks.writer import RetiredLayout

log = logging.getLogger(__name__)
T = TypeVar("T")

WRITE_ATTEMPTS = 8
EXIT_UNWRITABLE = 70  # crash without acking: the batch is replayed by whoever owns it next
_IO = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dvcpulse-io")


def in_io_thread(call: Callable[..., T], *args: Any) -> asyncio.Future[T]:
    """Run a blocking call on the I/O thread, after every call submitted before it."""
    return asyncio.get_running_loop().run_in_executor(_IO, call, *args)


def retried_in_io_thread(what: str, call: Callable[[], T]) -> asyncio.Future[T]:
    """`with_retries` on the I/O thread."""
    return in_io_thread(with_retries, what, call)


def with_retries(what: str, call: Callable[[], T]) -> T:
    """Run blocking I/O, retrying with backoff; exit the worker if it keeps failing.

    Exiting without acking (rather than raising, which would let the batch be acked) keeps the guarantee:
    the unacknowledged messages are redelivered after the restart.
    """
    delay = 0.2
    for attempt in range(1, WRITE_ATTEMPTS + 1):
        try:
            return call()
        except RetiredLayout:
            raise  # no retry can help: the agent stops the worker with the explanation
        except Exception as error:
            if attempt == WRITE_ATTEMPTS:
                log.critical("%s failed %d times, exiting without acknowledging: %s", what, attempt, error)
                logging.shutdown()
                os._exit(EXIT_UNWRITABLE)
            log.warning("%s failed (attempt %d): %s; retrying in %.1fs", what, attempt, error, delay)
            time.sleep(delay * (1 + random.random()))
            delay = min(delay * 2, 10.0)
    raise AssertionError("unreachable")


def exit_without_ack(what: str, error: BaseException) -> NoReturn:
    """An agent must not survive an unexpected error: Faust would restart it past the unacked batch."""
    log.critical("%s failed, exiting without acknowledging the batch", what, exc_info=error)
    logging.shutdown()
    os._exit(EXIT_UNWRITABLE)
