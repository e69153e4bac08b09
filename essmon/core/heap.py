"""Python's cyclic garbage collector, set for essmon's long-running processes.

By default Python walks its youngest generation every 700 container objects allocated
(net). The ingest makes several per sample (the decoded struct, tuples, the row), which
reference counting frees at once, and each of those walks also visits whatever else is
young at the time: measured, about a quarter of the MQTT worker's batch step
(docs/performance.md, "Issue 16: the garbage collector"). Cycles are rare on these paths,
so waiting for 20,000 costs little memory. ``gc.freeze()`` also moves everything start-up
made (Django, the URL conf, the models: some hundreds of thousands of objects, alive for
the whole process) out of the collector's sight, so the older generations' walks stop
visiting them; in a forking server it also keeps those pages shared.
"""

from __future__ import annotations

import gc

YOUNG_GENERATION_THRESHOLD = 20_000


def settle_after_startup() -> None:
    """Call once start-up is over, before the process's work begins."""
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, middle, oldest)
