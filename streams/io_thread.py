"""The worker's threads for ClickHouse I/O, and what happens when a write cannot be done.

One thread for writes and checkpoint reads: calls run in submission order, so a checkpoint read sees what
was written before it, and fewer threads mean fewer malloc arenas holding freed batch buffers. A second
thread, with its own connection, reads back evicted records and cells (`streams.aggregate`): those reads
are as of a durable offset, so they need not wait for the writes in flight, and a batch that needs one is
applied while the batch before it is being written.

When a call fails (`with_retries`), nothing is acknowledged meanwhile, and:

- ClickHouse unreachable (no connection, no gateway, a dropped response: clickhouse-connect's
  OperationalError, OSError): the worker waits it out, retrying with backoff (at most MAX_DELAY apart) for as
  long as it takes; no supervisor restart is needed for an outage. One warning when the outage starts (which
  ClickHouse, what failed, what happens next) and one when ClickHouse answers again, never one per attempt.
- ClickHouse answers with an error: WRITE_ATTEMPTS attempts (about a minute), then the worker exits with
  EXIT_UNWRITABLE without acknowledging; the batch is replayed by whoever owns its partition next.
- The process is asked to stop while it waits: it exits with EXIT_UNWRITABLE at once, without acknowledging.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NoReturn, TypeVar

from clickhouse_connect.driver.exceptions import OperationalError

from dvcpulse.sinks.writer import RetiredLayout

log = logging.getLogger(__name__)
T = TypeVar("T")

WRITE_ATTEMPTS = 8  # when ClickHouse answers with an error; an unreachable ClickHouse is waited for
FIRST_DELAY = 0.2
MAX_DELAY = 10.0
EXIT_UNWRITABLE = 70  # crash without acking: the batch is replayed by whoever owns it next
_IO = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dvcpulse-io")
_LOOKUP = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dvcpulse-lookup")
_stopping = threading.Event()
_target = "ClickHouse"

# The interpreter joins the I/O thread at exit (concurrent.futures registers that first; threading runs these
# hooks last-registered first): a wait for ClickHouse must end then, or a stopped worker would hang.
getattr(threading, "_register_atexit", lambda hook: None)(_stopping.set)


def set_target(description: str) -> None:
    """Which ClickHouse the worker writes to, as the outage messages name it (no password)."""
    global _target
    _target = f"ClickHouse {description}"


def in_io_thread(call: Callable[..., T], *args: Any) -> asyncio.Future[T]:
    """Run a blocking call on the I/O thread, after every call submitted before it."""
    return asyncio.get_running_loop().run_in_executor(_IO, call, *args)


def retried_in_io_thread(what: str, call: Callable[[], T]) -> asyncio.Future[T]:
    """`with_retries` on the I/O thread."""
    return in_io_thread(with_retries, what, call)


def retried_in_lookup_thread(what: str, call: Callable[[], T]) -> asyncio.Future[T]:
    """`with_retries` on the lookup thread (not ordered with the I/O thread's calls)."""
    return asyncio.get_running_loop().run_in_executor(_LOOKUP, with_retries, what, call)


def unreachable(error: BaseException) -> bool:
    """Whether the error says ClickHouse could not be reached (rather than that it refused the request)."""
    return isinstance(error, OperationalError | OSError)


def brief(error: BaseException) -> str:
    """The innermost cause of an error, on one short line (a connection error's own text is a URL and more)."""
    inner: BaseException = error
    seen = {id(inner)}
    while True:
        nxt = inner.__cause__ or getattr(inner, "reason", None)
        if not isinstance(nxt, BaseException) or id(nxt) in seen:
            break
        seen.add(id(nxt))
        inner = nxt
    text = " ".join(str(inner).split()) or type(inner).__name__
    return text if len(text) <= 200 else text[:200] + "…"


def _exit(message: str, *args: object) -> NoReturn:
    log.critical(message, *args)
    logging.shutdown()
    os._exit(EXIT_UNWRITABLE)


def with_retries(what: str, call: Callable[[], T]) -> T:
    """Run blocking I/O, retrying with backoff: for as long as ClickHouse is unreachable, WRITE_ATTEMPTS times
    when it answers with errors, then exit the worker.

    Exiting without acking (rather than raising, which would let the batch be acked) keeps the guarantee:
    the unacknowledged messages are redelivered after the restart.
    """
    delay = FIRST_DELAY
    errors = 0  # consecutive failures ClickHouse answered
    attempts = 0
    outage_since: float | None = None
    while True:
        attempts += 1
        try:
            result = call()
        except RetiredLayout:
            raise  # no retry can help: the agent stops the worker with the explanation
        except Exception as error:
            if unreachable(error):
                errors = 0
                if outage_since is None:
                    outage_since = time.monotonic()
                    log.warning(
                        "%s unreachable (%s failed: %s); nothing is acknowledged meanwhile: retrying with backoff "
                        "(up to %.0fs apart) until it answers",
                        _target, what, brief(error), MAX_DELAY,
                    )  # fmt: skip
            else:
                errors += 1
                if errors >= WRITE_ATTEMPTS:
                    _exit("%s failed %d times at %s, exiting without acknowledging: %s", what, errors, _target, error)
                if errors == 1:
                    log.warning(
                        "%s failed at %s: %s; retrying up to %d times, then exiting without acknowledging",
                        what, _target, error, WRITE_ATTEMPTS - 1,
                    )  # fmt: skip
            if _stopping.wait(delay * (1 + random.random())):
                _exit("%s: stopping while %s fails, exiting without acknowledging", what, _target)
            delay = min(delay * 2, MAX_DELAY)
            continue
        if outage_since is not None:
            log.warning(
                "%s answers again after %.0fs (%d attempts); %s done, carrying on",
                _target, time.monotonic() - outage_since, attempts, what,
            )  # fmt: skip
        return result


def exit_without_ack(what: str, error: BaseException) -> NoReturn:
    """An agent must not survive an unexpected error: Faust would restart it past the unacked batch."""
    log.critical("%s failed, exiting without acknowledging the batch", what, exc_info=error)
    logging.shutdown()
    os._exit(EXIT_UNWRITABLE)
