"""The local Kafka broker (Apache Kafka, KRaft): lifecycle, ports, endpoint file, topics, `dvcpulse broker`."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from dvcpulse.embedded_broker import (
    ENDPOINT_FILE,
    EmbeddedBroker,
    find_running_broker,
    free_port,
    kafka_answers,
    new_cluster_id,
    port_is_free,
)
from dvcpulse.settings import Settings
from dvcpulse.topics import BrokerNotFound, ensure_topics, resolve_bootstrap

pytestmark = pytest.mark.integration


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


async def _topic_exists(bootstrap: str, topic: str) -> bool:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return topic in await admin.list_topics()  # listing, unlike describing, never auto-creates
    finally:
        await admin.close()


async def _partition_counts(bootstrap: str, topics: list[str]) -> dict[str, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return {d["topic"]: len(d["partitions"]) for d in await admin.describe_topics(topics)}
    finally:
        await admin.close()


async def _messages_in(bootstrap: str, topic: str, partitions: int) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        ends = await consumer.end_offsets([TopicPartition(topic, p) for p in range(partitions)])
        return sum(ends.values())
    finally:
        await consumer.stop()


def test_start_stop_frees_port_and_endpoint(tmp_path: Path) -> None:
    embedded = EmbeddedBroker(tmp_path)
    with embedded:
        assert not port_is_free(embedded.port)
        assert kafka_answers("127.0.0.1", embedded.port)
        endpoint = json.loads((tmp_path / ENDPOINT_FILE).read_text())
        assert endpoint == {"bootstrap": embedded.bootstrap, "pid": embedded.pid}
        assert find_running_broker(tmp_path) == embedded.bootstrap
        pid = embedded.pid
        assert pid is not None
    assert port_is_free(embedded.port) and port_is_free(embedded.controller_port)
    assert not (tmp_path / ENDPOINT_FILE).exists()
    assert not _group_alive(pid)  # no stray child kept the port or the data dir
    assert find_running_broker(tmp_path) is None


def test_restart_keeps_topics_and_messages(tmp_path: Path) -> None:
    async def produce(bootstrap: str) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
        await producer.start()
        try:
            await producer.send_and_wait("kept", b"hello", key=b"k")
        finally:
            await producer.stop()

    settings = Settings(events_topic="kept", partitions=2)
    with EmbeddedBroker(tmp_path) as first:
        asyncio.run(ensure_topics(settings, first.bootstrap))
        asyncio.run(produce(first.bootstrap))
    with EmbeddedBroker(tmp_path) as second:  # the same data dir: same port, same topics and offsets
        assert second.bootstrap == first.bootstrap
        assert asyncio.run(_partition_counts(second.bootstrap, ["kept"])) == {"kept": 2}
        assert asyncio.run(_messages_in(second.bootstrap, "kept", 2)) == 1


def test_port_taken_meanwhile_means_a_new_port(tmp_path: Path) -> None:
    with EmbeddedBroker(tmp_path) as first:
        pass
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", first.port))
        squatter.listen()
        moved = EmbeddedBroker(tmp_path)
    assert moved.port != first.port


def test_a_killed_broker_restarts_with_its_data(tmp_path: Path) -> None:
    settings = Settings(events_topic="crashed", partitions=1)
    first = EmbeddedBroker(tmp_path).start()
    asyncio.run(ensure_topics(settings, first.bootstrap))
    pid = first.pid
    assert pid is not None
    first.kill()  # SIGKILL: no controlled shutdown; Kafka recovers its log on the next start
    assert not _group_alive(pid)
    assert find_running_broker(tmp_path) is None  # the stale endpoint file is noticed and removed
    with EmbeddedBroker(tmp_path) as second:
        assert asyncio.run(_partition_counts(second.bootstrap, ["crashed"])) == {"crashed": 1}


def test_cluster_ids_are_22_url_safe_characters_never_starting_with_a_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    drawn = iter([uuid.UUID(bytes=b"\xfb" + bytes(15)), uuid.UUID(int=1)])  # the first encodes to "-wAA…"
    monkeypatch.setattr(uuid, "uuid4", lambda: next(drawn))
    cluster_id = new_cluster_id()
    assert cluster_id == base64.urlsafe_b64encode(uuid.UUID(int=1).bytes).decode().rstrip("=")
    assert len(cluster_id) == 22 and not cluster_id.startswith("-")


def test_stale_endpoint_file_is_removed(tmp_path: Path) -> None:
    finished = subprocess.Popen(["true"])
    finished.wait()
    endpoint = tmp_path / ENDPOINT_FILE
    endpoint.write_text(json.dumps({"bootstrap": f"127.0.0.1:{free_port()}", "pid": finished.pid}))
    assert find_running_broker(tmp_path) is None
    assert not endpoint.exists()

    # A live pid is not enough: the port must answer Kafka requests.
    endpoint.write_text(json.dumps({"bootstrap": f"127.0.0.1:{free_port()}", "pid": os.getpid()}))
    assert find_running_broker(tmp_path) is None
    assert not endpoint.exists()

    endpoint.write_text("not json")
    assert find_running_broker(tmp_path) is None
    assert not endpoint.exists()


def test_topics_created_with_partition_counts(broker: str, topic_names) -> None:
    names = [topic_names.events, topic_names.dead_letter]
    counts = asyncio.run(_partition_counts(broker, names))
    assert counts == dict.fromkeys(names, topic_names.settings.partitions)
    # Idempotent: a second call creates nothing and reports the same counts.
    assert asyncio.run(ensure_topics(topic_names.settings, broker)) == counts


def test_topics_follow_partitions_setting(broker: str, settings_for) -> None:
    suffix = uuid.uuid4().hex[:10]
    settings = settings_for(
        events_topic=f"test.p3.{suffix}", dead_letter_topic=f"test.p3d.{suffix}",
        partitions=3,
    )  # fmt: skip
    counts = asyncio.run(ensure_topics(settings, broker))
    assert counts == {settings.events_topic: 3, settings.dead_letter_topic: 3}


def test_resolve_bootstrap(tmp_path: Path) -> None:
    assert resolve_bootstrap(Settings(kafka_bootstrap="kafka:9092")) == "kafka:9092"
    settings = Settings(data_dir=tmp_path, kafka_bootstrap=None)
    with pytest.raises(BrokerNotFound, match="dvcpulse broker"):
        resolve_bootstrap(settings)
    with EmbeddedBroker(settings.broker_dir) as embedded:
        assert resolve_bootstrap(settings) == embedded.bootstrap


def test_broker_command_runs_until_sigterm(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, kafka_bootstrap=None)
    command = [str(Path(sys.executable).parent / "dvcpulse"), "broker", "--data-dir", str(tmp_path)]
    env = {k: v for k, v in os.environ.items() if k not in {"KAFKA_BOOTSTRAP", "DVCPULSE_KAFKA_BOOTSTRAP"}}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 90  # a JVM start, and a first Maven fetch if none ran yet
        bootstrap = None
        while bootstrap is None or not asyncio.run(_topic_exists(bootstrap, settings.dead_letter_topic)):
            assert process.poll() is None, process.stdout.read().decode() if process.stdout else ""
            assert time.monotonic() < deadline, "dvcpulse broker did not come up"
            time.sleep(0.1)
            bootstrap = find_running_broker(settings.broker_dir)
        counts = asyncio.run(_partition_counts(bootstrap, [settings.events_topic]))
        assert counts == {settings.events_topic: settings.partitions}
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    output = process.stdout.read().decode() if process.stdout else ""
    assert bootstrap in output
    assert port_is_free(int(bootstrap.rsplit(":", 1)[1]))
    assert find_running_broker(settings.broker_dir) is None
