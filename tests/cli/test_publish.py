"""`dvcpulse publish` against a real Kafka broker: every valid event exactly once, in record order.

The input is the simulator's output (~100k events, with its own malformed lines, whose line numbers it
reports) plus our own malformed lines, a blank line, and citizen ids that must never be echoed.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from dvcpulse.cli import app
from dvcpulse.embedded_broker import free_port
from dvcpulse.models.partitioning import key_partition, record_partition
from dvcpulse.seeds.simulator import simulate

pytestmark = pytest.mark.integration

RECORDS = 24_000  # about 102k events
CITIZEN_ID = "079203012345"
EXTRA_BAD: dict[int, bytes] = {  # line number -> a line the publisher must reject
    1: b'{"event_id":"x-1","applicant_id":"' + CITIZEN_ID.encode() + b'","record_id":"R',  # cut off
    777: b"\xff\xfe not UTF-8",
    20_000: b"{}",
    60_000: b'{"applicant_id": ' + CITIZEN_ID.encode() + b", oops}",  # invalid JSON, number-shaped id
}
ARRAY_LINE = 50_001  # a valid event wrapped in [ ]: an envelope is not a line's job
BLANK_LINE = 3_000  # skipped, not rejected


@dataclass(frozen=True)
class Input:
    path: Path
    lines: list[bytes]  # as written, without newlines
    bad_lines: set[int]  # 1-based line numbers the publisher must reject
    events: list[tuple[str, str, int]]  # (event_id, record_id, line number) of valid events in file order
    citizen_ids: set[str]  # every applicant id in the file (valid or not), never to be echoed


def _build_input(path: Path) -> Input:
    run = simulate(records=RECORDS, malformed=0.002, seed=20_251)
    simulated = list(run)
    simulated_bad = set(run.truth()["malformed_lines"])
    extras = dict(EXTRA_BAD)
    extras[BLANK_LINE] = b""
    lines: list[bytes] = []
    bad: set[int] = set()
    events: list[tuple[str, str, int]] = []
    for number, line in enumerate(simulated, 1):
        while len(lines) + 1 in extras:
            lines.append(extras[len(lines) + 1])
        if len(lines) + 1 == ARRAY_LINE and number not in simulated_bad:
            line = b"[" + line + b"]"
            number = -1  # now bad
        lines.append(line)
        if number in simulated_bad or number == -1:
            bad.add(len(lines))
        else:
            event = orjson.loads(line)
            events.append((event["event_id"], event["record_id"], len(lines)))
    bad |= set(EXTRA_BAD)
    citizen_ids = {CITIZEN_ID}
    for line in lines:
        try:
            item = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        for event in item if isinstance(item, list) else [item]:
            if isinstance(event, dict) and len(str(event.get("applicant_id", ""))) >= 9:
                citizen_ids.add(str(event["applicant_id"]))
    path.write_bytes(b"\n".join(lines) + b"\n")
    return Input(path, lines, bad, events, citizen_ids)


@pytest.fixture(scope="module")
def jsonl(tmp_path_factory: pytest.TempPathFactory) -> Input:
    made = _build_input(tmp_path_factory.mktemp("publish") / "events.jsonl")
    assert len(made.events) >= 100_000
    return made


def _publish(*args: str):
    return CliRunner().invoke(app, ["publish", *args])


def _per_record(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = defaultdict(list)
    for event_id, record_id in pairs:
        out[record_id].append(event_id)
    return out


def test_publish_envelopes(jsonl: Input, broker: str, topic_names, read_topic) -> None:
    rejects = jsonl.path.with_suffix(".rejects.jsonl")
    result = _publish(str(jsonl.path), "--topic", topic_names.events, "--bootstrap", broker, "--rejects", str(rejects))
    assert result.exit_code == 1, result.output
    assert f"sent {len(jsonl.events):,} events in " in result.stdout
    assert f"rejected {len(jsonl.bad_lines)}," in result.stdout

    # The rejects file names exactly the bad lines, with reasons, and no citizen id anywhere.
    rejected = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert [r["line"] for r in rejected] == sorted(jsonl.bad_lines)
    assert all(r["reason"] and r["errors"] for r in rejected)
    echoed = rejects.read_text() + result.stderr
    assert not [cid for cid in jsonl.citizen_ids if cid in echoed]
    assert result.stderr.count("\nline ") + result.stderr.startswith("line ") == 20  # the first 20 only

    messages = read_topic(topic_names.events)
    partitions = topic_names.settings.partitions
    seen: list[tuple[str, str]] = []
    for message in sorted(messages, key=lambda m: (m.partition, m.offset)):
        assert message.key is None
        batch = orjson.loads(message.value)
        assert isinstance(batch, list) and 1 <= len(batch) <= 100
        for event in batch:
            assert record_partition(event["record_id"], partitions) == message.partition
            seen.append((event["event_id"], event["record_id"]))
    assert len(seen) == len(jsonl.events)
    counts = Counter(event_id for event_id, _ in seen)
    assert counts.most_common(1)[0][1] == 1
    assert set(counts) == {event_id for event_id, _, _ in jsonl.events}
    assert _per_record(seen) == _per_record([(e, r) for e, r, _ in jsonl.events])
    assert len(messages) < len(seen) / 50  # envelopes were actually filled


def test_publish_one_event_per_message(jsonl: Input, broker: str, topic_names, read_topic, tmp_path: Path) -> None:
    valid = {number for _, _, number in jsonl.events[:5000]}
    lines = [line for number, line in enumerate(jsonl.lines, 1) if number in valid]
    source = tmp_path / "valid.jsonl"
    source.write_bytes(b"\n".join(lines) + b"\n")
    stale = Path(str(source) + ".rejects.jsonl")
    stale.write_text("from an earlier run\n")
    result = _publish(str(source), "--topic", topic_names.events, "--bootstrap", broker, "--envelope", "1")
    assert result.exit_code == 0, result.output
    assert "sent 5,000 events in 5,000 messages, rejected 0" in result.stdout
    assert not stale.exists()

    messages = sorted(read_topic(topic_names.events), key=lambda m: (m.partition, m.offset))
    assert sorted(m.value for m in messages) == sorted(lines)  # the original bytes, each exactly once
    partitions = topic_names.settings.partitions
    for message in messages:
        event = orjson.loads(message.value)
        assert message.key == event["record_id"].encode()
        assert message.partition == key_partition(message.key, partitions)
    seen = [(orjson.loads(m.value)["event_id"], m.key.decode()) for m in messages]
    assert _per_record(seen) == _per_record([(e, r) for e, r, _ in jsonl.events[:5000]])


def test_publish_usage_and_connection_errors(broker: str, topic_names, tmp_path: Path) -> None:
    source = tmp_path / "one.jsonl"
    source.write_text("{}\n")
    missing = _publish(str(source), "--topic", "no.such.topic", "--bootstrap", broker)
    assert missing.exit_code == 2
    assert "does not exist" in missing.stderr
    unreachable = _publish(str(source), "--topic", topic_names.events, "--bootstrap", f"127.0.0.1:{free_port()}")
    assert unreachable.exit_code == 2
    assert "error:" in unreachable.stderr
    assert _publish(str(tmp_path / "absent.jsonl"), "--bootstrap", broker).exit_code == 2
    assert _publish(str(source), "--envelope", "0", "--bootstrap", broker).exit_code == 2


def _submitted(record: str, when: str) -> bytes:
    return orjson.dumps({
        "event_id": f"{record}-s", "record_id": record, "procedure_code": "1.001", "service_code": "DV09",
        "province_code": "01", "channel": 2, "online_level": "full", "event_type": "submitted", "status": 1,
        "event_time": when,
    })  # fmt: skip


def test_backfill_states_the_files_clock_as_each_messages_arrival(
    broker: str, topic_names, read_topic, tmp_path: Path
) -> None:
    """--backfill: a dvcpulse-arrival header per message, the newest event time so far in file order (ms);
    without it, old events are sent as they are and the summary says how many arrive late."""
    times = ["2015-03-01T08:00:00+07:00", "2015-03-02T08:00:00+07:00", "2015-02-01T08:00:00+07:00",
             "2015-03-03T08:00:00+07:00"]  # fmt: skip
    source = tmp_path / "history.jsonl"
    source.write_bytes(b"\n".join(_submitted(f"H{n}", when) for n, when in enumerate(times)) + b"\n")
    result = _publish(
        str(source), "--topic", topic_names.events, "--bootstrap", broker, "--envelope", "1", "--backfill"
    )
    assert result.exit_code == 0, result.output
    assert "late" not in result.output
    stamps = {
        orjson.loads(m.value)["record_id"]: dict(m.headers)["dvcpulse-arrival"].decode()
        for m in read_topic(topic_names.events)
    }
    clock = [datetime.fromisoformat(when) for when in ("2015-03-01T08:00+07:00", "2015-03-02T08:00+07:00")]
    as_ms = [str(round(c.timestamp() * 1000)) for c in clock]
    # H2 is a month older than the clock: the file itself brings it late, as it would have been live
    assert stamps == {"H0": as_ms[0], "H1": as_ms[1], "H2": as_ms[1], "H3": str(round(
        datetime.fromisoformat("2015-03-03T08:00:00+07:00").timestamp() * 1000))}  # fmt: skip

    plain = _publish(str(source), "--topic", topic_names.events, "--bootstrap", broker)
    assert plain.exit_code == 0, plain.output
    assert "4 events are older than the lateness horizon" in plain.output and "--backfill" in plain.output
