"""Garbage-collector settings for a worker: big batches of short-lived objects over a large, stable heap.

CPython's cyclic collector scans the whole heap on each full collection, and a full collection is due
whenever the objects promoted since the last one reach a quarter of the heap. Each batch keeps tens of
thousands of objects alive for a moment (messages, events, rows), so with the default thresholds the
collector rescanned the heap every few batches: about 40 % of the worker's CPU in bench/pipeline_bench.py
(measured by running it with the collector disabled). Reference counting frees almost all of these
objects anyway; the collector is only needed for cycles, which die young here.
"""

from __future__ import annotations

import gc

# Young collections every 50,000 net allocations instead of 700; a middle one after 10 young ones, a full one
# after 10 middle ones.
THRESHOLDS = (50_000, 10, 10)


def tune_garbage_collector() -> None:
    """Freeze what start-up created (modules, the app: never garbage) and collect less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
