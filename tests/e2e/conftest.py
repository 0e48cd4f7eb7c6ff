"""A local stack per test on the session's Kafka broker (or on one of its own), stopped even on failure."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dvcpulse.settings import Settings
from dvcpulse.stack import LocalStack


@pytest.fixture
def start_stack(broker: str, tmp_path: Path) -> Iterator[Callable[..., LocalStack]]:
    """start_stack(name, **settings) -> a started LocalStack with topics and app id of its own, on the session
    broker unless kafka_bootstrap=None (a broker under the stack's data dir, for tests that stop it)."""
    started: list[LocalStack] = []

    def start(name: str, **overrides: object) -> LocalStack:
        suffix = uuid.uuid4().hex[:8]
        values: dict[str, object] = dict(
            data_dir=tmp_path / "data",
            kafka_bootstrap=broker,
            app_id=f"{name}-{suffix}",
            events_topic=f"{name}.events.{suffix}",
            dead_letter_topic=f"{name}.dlq.{suffix}",
            batch_size=200,
            batch_seconds=0.3,
        )
        values.update(overrides)
        local = LocalStack(Settings(**values)).start()  # type: ignore[arg-type]
        started.append(local)
        return local

    try:
        yield start
    finally:
        for local in reversed(started):
            local.stop()
