"""Randomness: one seeded `random.Random` per concern, and the event ids drawn from them.

Only `random.Random` is used, one stream per concern, seeded from the string
"dvcpulse-simulator:<seed>:<stream>" (string seeds are hashed with SHA-512, independent of
PYTHONHASHSEED), or "dvcpulse-simulator:<seed>/<run id>:<stream>" for a run with a run id: `dvcpulse up` draws
one per run, so that re-running it makes new traffic, while seed and run id still give the same bytes.
Because each knob draws from its own stream, the base streams do not depend on the knobs: the same seed with
and without `duplicates` gives the same events with the same ids. Together with no wall clock (unless
`start="now"`) and no iteration over a set anywhere in the simulator, the same arguments give the same bytes.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, fields


def _stream(seed: int, name: str, run_id: str | None = None) -> random.Random:
    key = seed if run_id is None else f"{seed}/{run_id}"
    return random.Random(f"dvcpulse-simulator:{key}:{name}")


@dataclass(slots=True)
class Streams:
    """The random streams of one run; a stream's name is part of its seed, so fields must not be renamed."""

    records: random.Random
    lifecycle: random.Random
    ids: random.Random
    legacy: random.Random
    late: random.Random
    out_of_order: random.Random
    duplicates: random.Random
    malformed: random.Random
    index: random.Random  # the optional Decision 766 facts (index_fields); last, so no other stream moves

    @classmethod
    def for_seed(cls, seed: int, run_id: str | None = None) -> Streams:
        return cls(*(_stream(seed, f.name, run_id) for f in fields(cls)))


def event_id(rng: random.Random) -> str:
    """A UUID version 4 in its canonical text form, drawn from `rng` (not from the OS, to stay reproducible)."""
    bits = rng.getrandbits(128)
    bits = (bits & ~(0xF000 << 64)) | (0x4000 << 64)  # version 4
    bits = (bits & ~(0xC000 << 48)) | (0x8000 << 48)  # RFC 4122 variant
    h = f"{bits:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
