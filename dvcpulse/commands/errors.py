"""Errors as one line naming the fix; the traceback only with `dvcpulse --debug …` (or DVCPULSE_DEBUG=1).

A user who meets an unreachable Kafka or ClickHouse needs to know which address was tried and what to change,
not 100 lines of asyncio frames. `explain` turns the errors dvcpulse expects into such a line; anything else
is shown as its type and first line, with a pointer to --debug.
"""

from __future__ import annotations

import os
import re
import threading

from aiokafka.errors import KafkaConnectionError, KafkaError
from clickhouse_connect.driver.exceptions import ClickHouseError, OperationalError

from dvcpulse.embedded_broker import BrokerError
from dvcpulse.kafka_jars import KafkaJarsError
from dvcpulse.publisher import PublishError
from dvcpulse.sinks.connection import describe
from dvcpulse.topics import BrokerNotFound

_debug = threading.Event()
_OS_ERROR = re.compile(r"\[Errno -?\d+\] ([^'\")]+)")
DEBUG_HINT = "run `dvcpulse --debug …` for the traceback"


def set_debug() -> None:
    _debug.set()


def debug_enabled() -> bool:
    return _debug.is_set() or os.environ.get("DVCPULSE_DEBUG", "").lower() in {"1", "true", "yes"}


def first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def kafka_unreachable(bootstrap: str | None) -> str:
    where = f"at {bootstrap}" if bootstrap else "(no address)"
    return (
        f"cannot reach Kafka {where}: start it, or fix KAFKA_BOOTSTRAP (unset it to use the local broker that "
        "`dvcpulse up` or `dvcpulse broker` starts)"
    )


def clickhouse_unreachable(error: BaseException, dsn: str | None = None) -> str:
    """The socket error (urllib3 wraps it in two more messages), the server without its password, the fix."""
    cause = _OS_ERROR.search(str(error))
    where = f" at {describe(dsn)}" if dsn else ""
    return (
        f"cannot reach ClickHouse{where} ({cause[1] if cause else first_line(error)}): start it, or fix "
        "CLICKHOUSE_DSN (unset it for the embedded engine under the data dir)"
    )


def explain(error: BaseException, bootstrap: str | None = None, dsn: str | None = None) -> str:
    """One line for an error: what failed and what to do (unexpected errors point at --debug)."""
    if isinstance(error, KafkaConnectionError):
        return kafka_unreachable(bootstrap)
    if isinstance(error, BrokerError | KafkaJarsError | BrokerNotFound | PublishError):
        return first_line(error)
    if isinstance(error, KafkaError):
        return f"Kafka: {first_line(error)}"
    if isinstance(error, OperationalError):
        # a missing gateway's message already says what to start; a server's says what it could not reach
        message = first_line(error)
        return message if "dvcpulse db serve" in message else clickhouse_unreachable(error, dsn)
    if isinstance(error, ClickHouseError):
        return f"ClickHouse: {first_line(error)}"
    if isinstance(error, OSError):
        return first_line(error)
    return f"{type(error).__name__}: {first_line(error)} ({DEBUG_HINT})"
