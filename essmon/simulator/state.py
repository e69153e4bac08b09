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


def load_state(path: Path | None) -> dict[str, dict]:
    """{gateway id: {"t", "counters", "soc_pct", "seq"}} from ``path``; entries that are not
    whole (a hand-edited file) are left out with a warning, a missing file is empty."""
    if path is None or not path.exists():
        return {}
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        logger.warning("%s: not read (%s); counters start afresh", path, exc)
        return {}
    gateways = raw.get("gateways") if isinstance(raw, dict) else None
    if not isinstance(gateways, dict):
        logger.warning("%s: no 'gateways' object; counters start afresh", path)
        return {}
    state = {}
    for gateway_id, entry in gateways.items():
        if _whole(entry):
            state[gateway_id] = entry
        else:
            logger.warning("%s: %s left out: not a whole entry", path, gateway_id)
    return state


def _whole(entry: object) -> bool:
    def number(value: object) -> bool:
        return (
            isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        )

    if not isinstance(entry, dict) or not number(entry.get("t")):
        return False
    counters = entry.get("counters")
    if not isinstance(counters, dict) or set(counters) != set(COUNTERS):
        return False
    soc, seq = entry.get("soc_pct"), entry.get("seq", 0)
    if not (isinstance(seq, int) and not isinstance(seq, bool) and seq >= 0):
        return False
    return all(number(v) and v >= 0 for v in counters.values()) and (
        soc is None or (number(soc) and 0 <= soc <= 100)
    )


def save_state(path: Path, entries: dict[str, dict]) -> None:
    """Merge ``entries`` into the file at ``path`` (other gateways' entries are kept)."""
    state = load_state(path)
    state.update(entries)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"gateways": state}, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


def entry(t: float, counters: dict[str, float], soc_pct: float, seq: int) -> dict:
    """One gateway's entry: the simulated time it reached, its counters, its state of
    charge and the next sequence number."""
    return {"t": t, "counters": dict(counters), "soc_pct": round(soc_pct, 3), "seq": seq}
