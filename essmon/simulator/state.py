"""What a simulated gateway carries over from one run to the next: its energy counters and
state of charge, as a real device keeps them through a restart (docs/simulator.md, "State
between runs"). A JSON file, written whole and renamed into place, so a run that is killed
leaves the previous file or the new one, never half of one.

``essmon serve --demo`` writes the counters its back-filled history ended with into the
same file before the simulator starts, so the live samples continue that history."""

from __future__ import annotations

import json
import logging
import math
import os
from pathlib import Path

from essmon.simulator.physics import COUNTERS

logger = logging.getLogger(__name__)


# What a gateway's entry may hold; anything outside is a hand-edited or damaged file. The
# protocol's seq is a signed 64-bit integer (docs/gateway-protocol.md): a larger one would
# have every sample refused. No unit comes near 10^12 kWh, and no simulated time lies past
# the year 9999, the end of Python's datetimes.
SEQ_MAX = 2**63 - 1
COUNTER_MAX = 1e12
T_MAX = 253_402_300_799.0
# A state file holds a few hundred bytes a gateway; a larger one is not ours.
MAX_BYTES = 16 * 1024 * 1024


def load_state(path: Path | None) -> dict[str, dict]:
    """{gateway id: {"t", "counters", "soc_pct", "seq"}} from ``path``; entries that are not
    whole (a hand-edited or damaged file) are left out with a warning, a file that cannot be
    read or decoded at all is empty with a warning, and a missing file is empty."""
    if path is None or not path.exists():
        return {}
    try:
        if path.stat().st_size > MAX_BYTES:
            raise ValueError(f"larger than {MAX_BYTES} bytes")
        raw = json.loads(path.read_text(encoding="utf-8"))
    # ValueError covers bad JSON, bad UTF-8 and an integer too long to convert; deep
    # nesting exhausts the parser's recursion
    except (OSError, ValueError, RecursionError, MemoryError) as exc:
        logger.warning("%s: not read (%s); counters start afresh", path, type(exc).__name__)
        return {}
    gateways = raw.get("gateways") if isinstance(raw, dict) else None
    if not isinstance(gateways, dict):
        logger.warning("%s: no 'gateways' object; counters start afresh", path)
        return {}
    state = {}
    for gateway_id, value in gateways.items():
        whole = _whole(value)
        if whole is not None:
            state[gateway_id] = whole
        else:
            logger.warning("%s: %.40r left out: not a whole entry", path, gateway_id)
    return state


def _number(value: object, high: float) -> bool:
    # compared before any conversion: an integer of 400 digits compares with a float
    # exactly, where float() or math.isfinite() would raise OverflowError
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return (isinstance(value, int) or math.isfinite(value)) and 0 <= value <= high


def _whole(value: object) -> dict | None:
    """The entry as floats and an int, or None if any part of it is missing or impossible."""
    if not isinstance(value, dict) or not _number(value.get("t"), T_MAX):
        return None
    counters = value.get("counters")
    if not isinstance(counters, dict) or set(counters) != set(COUNTERS):
        return None
    if not all(_number(v, COUNTER_MAX) for v in counters.values()):
        return None
    soc, seq = value.get("soc_pct"), value.get("seq", 0)
    if not (isinstance(seq, int) and not isinstance(seq, bool) and 0 <= seq <= SEQ_MAX):
        return None
    if soc is not None and not _number(soc, 100):
        return None
    return entry(
        float(value["t"]),
        {c: float(v) for c, v in counters.items()},
        None if soc is None else float(soc),
        seq,
    )


def save_state(path: Path, entries: dict[str, dict]) -> None:
    """Merge ``entries`` into the file at ``path`` (other gateways' entries are kept)."""
    state = load_state(path)
    state.update(entries)
    write_state(path, state)


def write_state(path: Path, state: dict[str, dict]) -> None:
    """Write ``state`` as the whole file at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"gateways": state}, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


def entry(t: float, counters: dict[str, float], soc_pct: float | None, seq: int) -> dict:
    """One gateway's entry: the simulated time it reached, its counters, its state of
    charge and the next sequence number."""
    soc = None if soc_pct is None else round(soc_pct, 3)
    return {"t": t, "counters": dict(counters), "soc_pct": soc, "seq": seq}
