"""benchmarks/dashboard's samples: one gateway's two years and the fleet's last day, as CSV
for ``psql \\copy``, made by the simulator's physics (essmon.simulator.physics: the sun
over Kyoto, the weather, a household's load, the battery and its PCS), so that powers,
state of charge and the kWh counters are consistent with one another: each counter grows
by exactly the energy of the powers between two samples, and never goes down.

Nothing here imports Django: the files are written by processes of their own (spawned),
side by side, while the main process sets up the database.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from essmon.simulator.physics import MODELS, SimulatedSite

COUNTERS = (
    "pv_kwh",
    "load_kwh",
    "grid_import_kwh",
    "grid_export_kwh",
    "charge_kwh",
    "discharge_kwh",
)
# the gateway sends, the service stores a little later: what the rollup job reads by
RECEIVED_AFTER_SECONDS = 2


@dataclass(frozen=True)
class Series:
    """One gateway's samples: ``count`` of them ``interval`` seconds apart, the last at
    ``last_epoch`` (whole seconds, UTC)."""

    pk: int  # the gateway's database id
    model: str
    seed: str
    last_epoch: int
    count: int
    interval: int = 60

    @property
    def first_epoch(self) -> int:
        return self.last_epoch - (self.count - 1) * self.interval


def utc_iso(epoch: int) -> str:
    t = time.gmtime(epoch)
    return (
        f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d} "
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}+00"
    )


def write_series(series: list[Series], path: Path) -> tuple[int, dict[int, dict]]:
    """Write the samples of ``series`` to ``path`` as CSV in rows.COLUMNS order; returns the
    rows written and, per gateway, its newest sample (ts, seq and the values the live
    state keeps), as the ingest would leave it."""
    written = 0
    newest: dict[int, dict] = {}
    with open(path, "w", buffering=1 << 20) as out:
        for s in series:
            # the simulated site starts one step before the first sample, so that the
            # first sample's powers are the averages of a real step
            site = SimulatedSite(
                MODELS[s.model],
                start=s.first_epoch - s.interval,
                seed=s.seed,
                weather_seed="dashboard",
                vary_roof=True,
            )
            lines = []
            reading = None
            for seq in range(s.count):
                reading = site.step(s.interval)
                epoch = int(reading.t)
                c = reading.counters
                lines.append(
                    f"{s.pk},{utc_iso(epoch)},{seq},{reading.pv_w:.1f},{reading.load_w:.1f},"
                    f"{reading.grid_w:.1f},{reading.battery_w:.1f},{reading.soc_pct:.2f},"
                    f"{reading.battery_temp_c:.1f},{reading.pcs_state},{reading.pcs_mode},"
                    f"{c['pv_kwh']:.4f},{c['load_kwh']:.4f},{c['grid_import_kwh']:.4f},"
                    f"{c['grid_export_kwh']:.4f},{c['charge_kwh']:.4f},"
                    f"{c['discharge_kwh']:.4f},{utc_iso(epoch + RECEIVED_AFTER_SECONDS)}\n"
                )
                if len(lines) >= 10_000:
                    out.write("".join(lines))
                    lines.clear()
            out.write("".join(lines))
            written += s.count
            if reading is not None:
                sample = reading.as_sample(s.count - 1)
                newest[s.pk] = {
                    "epoch": int(reading.t),
                    "seq": s.count - 1,
                    "values": {k: v for k, v in sample.items() if k not in ("ts", "seq")},
                }
    return written, newest


def write_series_job(series: list[Series], path: str, results) -> None:
    """A spawned process's target: ``write_series``, its outcome put on ``results``."""
    started = time.monotonic()
    try:
        written, newest = write_series(series, Path(path))
    except BaseException as exc:  # the parent reports it
        results.put((path, None, repr(exc), time.monotonic() - started))
        raise
    results.put((path, written, newest, time.monotonic() - started))
