"""What the monitoring site shows, computed once here for the pages and their endpoints.

Groundwork of the monitoring issue: the live view's data. The newest sample is read from
the samples themselves (its (gateway, ts) key makes that one index step), not from the
live state, which a stream worker writes only every few seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.db.models import Sum
from django.utils import timezone

from essmon.gateways.models import Gateway
from essmon.telemetry.connectivity import is_online
from essmon.telemetry.models import EnergyRollup, GatewayLiveState, Sample

JST = ZoneInfo("Asia/Tokyo")
COUNTERS = (
    "pv_kwh", "load_kwh", "grid_import_kwh", "grid_export_kwh", "charge_kwh", "discharge_kwh"
)  # fmt: skip
# A sample older than this is shown as stale: gateways report every minute or faster.
STALE_AFTER = timedelta(minutes=3)


@dataclass(frozen=True)
class Flow:
    """One edge of the power-flow diagram: ``source`` sends ``watts`` to ``target``."""

    source: str
    target: str
    watts: float


@dataclass(frozen=True)
class LiveSnapshot:
    online: bool
    last_seen_at: datetime | None
    sample_ts: datetime | None
    stale: bool
    values: dict = field(default_factory=dict)
    flows: tuple[Flow, ...] = ()
    today_kwh: dict = field(default_factory=dict)


def power_flows(values: dict) -> tuple[Flow, ...]:
    """The diagram's edges from one sample's signed powers, all through the power
    conditioner ("pcs"): PV in, home out, battery + discharge / − charge, grid + purchase /
    − sale. Edges carrying nothing are left out."""
    flows = [
        Flow("pv", "pcs", values["pv_w"]),
        Flow("pcs", "home", values["load_w"]),
        Flow("battery", "pcs", values["battery_w"])
        if values["battery_w"] >= 0
        else Flow("pcs", "battery", -values["battery_w"]),
        Flow("grid", "pcs", values["grid_w"])
        if values["grid_w"] >= 0
        else Flow("pcs", "grid", -values["grid_w"]),
    ]
    return tuple(f for f in flows if f.watts > 0)


def today_energy(gateway: Gateway, *, now: datetime) -> dict[str, float]:
    """Today's energy per counter (JST day), from the hourly rollups made so far."""
    midnight = timezone.localtime(now, JST).replace(hour=0, minute=0, second=0, microsecond=0)
    totals = EnergyRollup.objects.filter(
        gateway=gateway, period=EnergyRollup.Period.HOUR, start__gte=midnight, start__lte=now
    ).aggregate(**{name: Sum(name) for name in COUNTERS})
    return {name: round(totals[name] or 0.0, 3) for name in COUNTERS}


def live_snapshot(gateway: Gateway, *, now: datetime | None = None) -> LiveSnapshot:
    now = now or timezone.now()
    live = GatewayLiveState.objects.filter(gateway=gateway).first()
    newest = Sample.objects.filter(gateway=gateway, ts__lte=now).order_by("-ts").first()
    if newest is None:
        return LiveSnapshot(
            online=is_online(live, now=now),
            last_seen_at=live.last_seen_at if live else None,
            sample_ts=None,
            stale=True,
            today_kwh=today_energy(gateway, now=now),
        )
    values = {
        name: getattr(newest, name)
        for name in ("pv_w", "load_w", "grid_w", "battery_w", "soc_pct", "battery_temp_c",
                     "pcs_state", "pcs_mode")
    }  # fmt: skip
    return LiveSnapshot(
        online=is_online(live, now=now),
        last_seen_at=live.last_seen_at if live else None,
        sample_ts=newest.ts,
        stale=now - newest.ts > STALE_AFTER,
        values=values,
        flows=power_flows(values),
        today_kwh=today_energy(gateway, now=now),
    )
