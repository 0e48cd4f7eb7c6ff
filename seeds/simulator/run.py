"""The run: records -> events in arrival order -> knobs -> lines, plus the ground truth of what came out."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from dvcpulse.seeds.ground_truth import TruthAccumulator, truth_path_for, write_truth
from dvcpulse.seeds.simulator.arrival import Arrival
from dvcpulse.seeds.simulator.config import SimulationConfig
from dvcpulse.seeds.simulator.events import EventWriter
from dvcpulse.seeds.simulator.profiles import PROFILES, expected_online_share, service_mix
from dvcpulse.seeds.simulator.randomness import Streams
from dvcpulse.seeds.simulator.records import draw_records


class Simulation:
    """An iterator over the lines (bytes, no newline) of one run; `truth()` once it is exhausted."""

    def __init__(self, config: SimulationConfig):
        self.config = config
        self._truth = TruthAccumulator()
        self._result: dict[str, Any] | None = None
        self._facts: dict[str, Any] | None = None  # set after the last line
        self._lines: Iterator[bytes] | None = None

    def __iter__(self) -> Iterator[bytes]:
        return self._started()  # the generator itself: no extra Python call per line in a for loop

    def __next__(self) -> bytes:
        return next(self._started())

    def _started(self) -> Iterator[bytes]:
        if self._lines is None:
            self._lines = self._run()
        return self._lines

    def truth(self) -> dict[str, Any]:
        """The ground truth of what was emitted; only after the last line."""
        if self._facts is None:
            raise RuntimeError("iterate the simulation to the end before asking for its truth")
        # Computed on demand: live runs (dvcpulse up) never ask, and judging a day's records for the 766
        # indicators takes seconds.
        if self._result is None:
            self._result = self._truth.result(self._facts)
        return self._result

    def _run(self) -> Iterator[bytes]:
        config = self.config
        start = config.start_epoch()
        streams = Streams.for_seed(config.seed, config.run_id)
        profile = PROFILES[config.profile]
        mix = service_mix(profile)
        drafts = draw_records(config, start, mix, streams)
        until = config.until_epoch()  # resolved once: "now" must mean one instant for the events and the truth
        events = EventWriter(config, mix, streams, until).events(drafts)
        yield from Arrival(config, streams, self._truth).lines(events)
        facts = config.facts(start, until)
        facts["expected_online_share"] = expected_online_share(mix)
        facts["late_records"] = sum(1 for d in drafts if d[6])
        facts["legacy_code_records"] = sum(1 for d in drafts if d[5])
        self._facts = facts


def simulate(config: SimulationConfig | None = None, **options: Any) -> Simulation:
    """The lines of a run (bytes without newline), lazily; call `.truth()` on the result when exhausted."""
    if config is None:
        config = SimulationConfig(**options)
    elif options:
        raise TypeError("pass either a SimulationConfig or keyword options, not both")
    return Simulation(config)


def write_lines(lines: Iterator[bytes], sink: IO[bytes], batch: int = 10_000) -> None:
    """Write lines with a newline each, in batches (much faster than one write per line)."""
    chunk: list[bytes] = []
    for line in lines:
        chunk.append(line)
        if len(chunk) >= batch:
            sink.write(b"\n".join(chunk) + b"\n")
            chunk.clear()
    if chunk:
        sink.write(b"\n".join(chunk) + b"\n")


def write_simulation(path: str | Path, truth_path: str | Path | None = None, **options: Any) -> dict[str, Any]:
    """Write a run's JSONL to `path` and its truth to `truth_path` (default `<path>.truth.json`); return it."""
    path = Path(path)
    run = simulate(SimulationConfig(**options))
    with path.open("wb") as sink:
        write_lines(run, sink)
    truth = run.truth()
    write_truth(Path(truth_path) if truth_path else truth_path_for(path), truth)
    return truth
