"""deploy/scripts/create_topics.py, the `topics` service: creates the two topics from the settings."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.deploy.compose_helpers import ALL_SETTINGS_ENV, DEPLOY, load_module


@pytest.mark.integration
def test_create_topics_script_creates_the_topics(broker: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import asyncio

    from aiokafka.admin import AIOKafkaAdminClient

    suffix = uuid.uuid4().hex[:8]
    names = {
        "DVCPULSE_EVENTS_TOPIC": f"compose.events.{suffix}",
        "DVCPULSE_DEAD_LETTER_TOPIC": f"compose.dlq.{suffix}",
    }
    monkeypatch.chdir(tmp_path)  # no stray .env
    for key in ALL_SETTINGS_ENV:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("KAFKA_BOOTSTRAP", broker)
    monkeypatch.setenv("DVCPULSE_PARTITIONS", "3")
    for key, value in names.items():
        monkeypatch.setenv(key, value)
    script = load_module(DEPLOY / "scripts" / "create_topics.py")
    assert script.main() == 0
    assert script.main() == 0  # existing topics are fine

    async def partitions() -> dict[str, int]:
        admin = AIOKafkaAdminClient(bootstrap_servers=broker)
        await admin.start()
        try:
            described = await admin.describe_topics(list(names.values()))
        finally:
            await admin.close()
        return {d["topic"]: len(d["partitions"]) for d in described}

    assert asyncio.run(partitions()) == dict.fromkeys(names.values(), 3)


def test_create_topics_script_needs_a_bootstrap(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    for key in ALL_SETTINGS_ENV:
        monkeypatch.delenv(key, raising=False)
    assert load_module(DEPLOY / "scripts" / "create_topics.py").main() == 2
