"""Hostile-input benchmark: no message stops the stream.

Publishes --messages hostile messages (numbers orjson cannot hold, NaN/Infinity, broken and empty envelopes,
deep nesting, huge and oversized events, random bytes), mixed with the valid events of a simulation
(`dvcpulse.seeds.simulator.write_simulation`), with a plain aiokafka producer on random partitions, to a
local stack (Kafka broker + ClickHouse gateway + one worker, as bench/pipeline_bench.py). Waits until
drained, then checks: the worker is still alive, the views equal the simulation's ground truth, and the
dead letters are exactly the hostile elements plus the simulation's malformed lines. Prints its figures.

    python bench/hostile_bench.py [--messages 100000] [--records 5000] [--seed 3]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
from aiokafka import AIOKafkaProducer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.e2e.pipeline, from a checkout

from dvcpulse.models.decode import MAX_EVENT_BYTES
from dvcpulse.seeds.simulator import write_simulation
from dvcpulse.settings import Settings
from dvcpulse.stack import LocalStack, processed_events
from tests.e2e.pipeline import FileClock, arrival, assert_matches_truth, parses_as_json

# The simulation's own disorder: duplicates, reordering, late records, malformed lines, legacy codes.
KNOBS = {"duplicates": 0.03, "out_of_order": 0.1, "late": 0.01, "malformed": 0.005, "legacy_codes": 0.05}
UNREPRESENTABLE = [b"1e400", b"-1e400", b"NaN", b"Infinity", b"-Infinity"]


def with_extra(line: bytes, extra: bytes) -> bytes:
    """A JSON object's bytes with an extra (ignored) field `fee` holding raw JSON."""
    return line.rstrip()[:-1] + b',"fee":' + extra + b"}"


class Hostile:
    """Builds hostile messages; each returns (value, dead letters it must make, valid lines it carries)."""

    def __init__(self, rng: random.Random, template: bytes):
        self.rng = rng
        self.bad = orjson.dumps({**orjson.loads(template), "status": 11})  # invalid whatever its extra fields
        self.count = 0

    def bad_element(self) -> bytes:
        self.count += 1
        roll = self.rng.random()
        if roll < 0.001:
            return with_extra(self.bad, b'"' + b"x" * 100_000 + b'"')  # huge and invalid
        if roll < 0.0012:
            return with_extra(self.bad.replace(b'"status":11', b'"status":1'), b'"' + b"y" * MAX_EVENT_BYTES + b'"')
        return self.rng.choice([
            with_extra(self.bad, self.rng.choice(UNREPRESENTABLE)), b"1e400", b"NaN", b"-Infinity", b"tru", b"01",
            b'{"a":1,}', b'"\\ud800"', b"[]", b"{}", b"null", b"[" * 300 + b"]" * 300, b'"\\u00e9 ] } ,"',
            b'{"fee":1e400,"nested":[[[{"x":NaN}]]]}',
        ])  # fmt: skip

    def maybe_extra(self, line: bytes) -> bytes:
        """Half the valid events get an extra field no JSON library but pydantic's can hold: still valid."""
        if _an_object(line) and self.rng.random() < 0.5:
            return with_extra(line, self.rng.choice(UNREPRESENTABLE))
        return line

    def message(self, valid: list[bytes]) -> tuple[bytes, int, list[bytes]]:
        kind = self.rng.random()
        if kind < 0.55:  # an envelope mixing valid events (some with unrepresentable extras) and bad elements
            items = [self.maybe_extra(line) for line in valid]
            bad = [self.bad_element() for _ in range(self.rng.randint(1, 3))]
            items += bad
            self.rng.shuffle(items)
            space = self.rng.choice([b"", b" ", b"\n\t"])
            return b"[" + (b"," + space).join(items) + space + b"]", len(bad), valid
        if kind < 0.65:
            return self.rng.choice([b"[]", b" [ \n ]", b""]), 1, []  # empty envelope or empty value
        if kind < 0.80:  # a broken envelope: dead-lettered whole (so it carries no valid event)
            return b'[{"a":1}, "unterminated' + self.rng.randbytes(self.rng.randint(0, 40)).replace(b'"', b"'"), 1, []
        if kind < 0.90:
            return b"x" + self.rng.randbytes(self.rng.randint(0, 200)), 1, []  # random bytes, not JSON
        return with_extra(self.bad, self.rng.choice(UNREPRESENTABLE)), 1, []  # one invalid event alone


async def publish(bootstrap: str, topic: str, partitions: int, lines: list[bytes], hostile: Hostile,
                  messages: int, rng: random.Random) -> tuple[int, int, int]:  # fmt: skip
    """Sends `messages` hostile messages and then the remaining lines in envelopes of up to 50, each on a random
    partition. Returns (hostile messages, dead letters they must make, Kafka messages in all)."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, linger_ms=5, max_batch_size=1 << 20, max_request_size=8 << 20,
        enable_idempotence=True, acks="all",
    )  # fmt: skip
    await producer.start()
    expected_dead = sent = 0
    clock = FileClock()  # each message states the file's clock as its arrival, as a backfilling client does
    json_lines = [line for line in lines if parses_as_json(line)]
    loners = [line for line in lines if not parses_as_json(line)]  # the simulation's non-JSON lines travel alone
    per_message = max(1, len(json_lines) // (2 * max(messages, 1)))
    at = 0
    try:
        for _ in range(messages):
            carry = json_lines[at : at + rng.randint(0, 2 * per_message)]
            value, dead, used = hostile.message(carry)
            at += len(used)
            expected_dead += dead
            for line in used:
                clock.read(line)
            await producer.send(topic, value, partition=rng.randrange(partitions), headers=arrival(clock.now_ms))
            sent += 1
        rest = json_lines[at:]
        for start in range(0, len(rest), 50):
            for line in rest[start : start + 50]:
                clock.read(line)
            await producer.send(topic, b"[" + b",".join(rest[start : start + 50]) + b"]",
                                partition=rng.randrange(partitions), headers=arrival(clock.now_ms))  # fmt: skip
            sent += 1
        for line in loners:
            await producer.send(topic, line, partition=rng.randrange(partitions), headers=arrival(clock.now_ms))
            sent += 1
        await producer.flush()
    finally:
        await producer.stop()
    return messages, expected_dead, sent


def _an_object(line: bytes) -> bool:
    return line.lstrip().startswith(b"{") and line.rstrip().endswith(b"}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=100_000, help="hostile messages")
    parser.add_argument("--records", type=int, default=5000, help="simulated filings (about 4.2 events each)")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=3600)
    parser.add_argument("--data-dir", type=Path, default=None)
    args = parser.parse_args()

    rng = random.Random(args.seed)
    root = args.data_dir or Path(tempfile.mkdtemp(prefix="dvcpulse-hostile-"))
    root.mkdir(parents=True, exist_ok=True)
    jsonl = root / "events.jsonl"
    day_before = (datetime.now(UTC) - timedelta(hours=25)).isoformat()  # a whole simulated day, all in the past
    truth = write_simulation(jsonl, records=args.records, seed=args.seed, start=day_before, **KNOBS)
    lines = [line for line in jsonl.read_bytes().splitlines() if line.strip()]
    template = next(line for line in lines if parses_as_json(line) and isinstance(orjson.loads(line), dict))
    malformed = len(truth["malformed_lines"])
    settings = Settings(data_dir=root / "data", app_id=f"hostile-{uuid.uuid4().hex[:6]}")
    stack = LocalStack(settings).start()
    failures: list[str] = []
    try:
        started = time.perf_counter()
        hostile_messages, hostile_dead, sent = asyncio.run(
            publish(stack.bootstrap, settings.events_topic, settings.partitions, lines, Hostile(rng, template),
                    args.messages, rng)
        )  # fmt: skip
        published = time.perf_counter() - started
        print(f"published {sent:,} messages in {published:.1f} s: {hostile_messages:,} hostile "
              f"({hostile_dead:,} bad elements), {truth['valid_events']:,} valid events, {malformed} malformed lines",
              flush=True)  # fmt: skip
        worker = stack.start_worker("hostile")
        client, db = stack.client(), settings.clickhouse_database
        expected_dead = hostile_dead + malformed
        started = time.perf_counter()
        processed = dead = 0
        while time.perf_counter() - started < args.timeout and worker.poll() is None:
            processed = processed_events(client, db)
            dead = int(client.command(f"SELECT count() FROM {db}.v_dead_letters") or 0)
            if processed >= truth["valid_events"] and dead >= expected_dead:
                break
            time.sleep(0.5)
        seconds = time.perf_counter() - started
        time.sleep(3.0)  # anything more than expected would show up now
        processed = processed_events(client, db)
        dead = int(client.command(f"SELECT count() FROM {db}.v_dead_letters") or 0)
        alive = worker.poll() is None
        reasons = client.query(
            f"SELECT substring(reason, 1, 60) AS r, count() AS n FROM {db}.v_dead_letters GROUP BY r ORDER BY n DESC "
            f"LIMIT 8"
        ).result_rows
        try:
            assert_matches_truth(client, db, truth)
            matches = True
        except AssertionError as error:
            matches = False
            failures.append(f"views differ from the ground truth: {error}")
    finally:
        stack.stop()
    if not alive:
        failures.append(f"the worker exited with {worker.returncode}")
    if processed != truth["valid_events"]:
        failures.append(f"processed {processed:,} events, expected {truth['valid_events']:,}")
    if dead != expected_dead:
        failures.append(f"{dead:,} dead letters, expected {expected_dead:,}")
    print()
    print(f"hostile messages               {hostile_messages:,} ({hostile_dead:,} bad elements)")
    print(f"valid events                   {truth['valid_events']:,} processed {processed:,}")
    print(f"drained in                     {seconds:.1f} s ({(sent / seconds if seconds else 0):,.0f} messages/s, "
          f"worker start-up included)")  # fmt: skip
    print(f"dead letters                   {dead:,} (expected {expected_dead:,}: bad elements + {malformed} malformed)")
    print(f"worker alive                   {alive}")
    print(f"views equal the ground truth   {matches}")
    print("top dead-letter reasons:")
    for reason, count in reasons:
        print(f"  {count:>8,}  {reason}")
    print(f"data dir                       {root}")
    if failures:
        print("FAILED: " + "; ".join(failures))
        raise SystemExit(1)
    print("OK")


if __name__ == "__main__":
    main()
