"""What the monitoring site shows, read once here for the pages and their endpoints: each
function one fixed shape of query (the fleet table's are in ``fleet.py``).

The live view's newest sample is read from the samples themselves (its (gateway, ts) key
makes that one index step), not from the live state, which a stream worker writes only
every few seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.db.models import Sum
from django.utils import timezone

from essmon.accounts.models import User
from essmon.alerts.models import Alert
from essmon.commands.models import Command
from essmon.core.jst import JST
from essmon.dealers.access import Purpose, is_viewer, visible_gateways
from essmon.gateways.models import Gateway
from essmon.monitoring.sql import EpochSeconds
from essmon.telemetry.connectivity import is_online
from essmon.telemetry.models import COUNTERS, EnergyRollup, GatewayLiveState, Sample

# The switcher lists this many gateways; a bigger fleet is chosen from the table instead.
SWITCHER_MAX = 100


# --- every gateway page -------------------------------------------------------------------


@dataclass(frozen=True)
class GatewayHeader:
    """What every page of one gateway shows above its tab."""

    switcher: list[tuple[str, str]] | None  # (gateway_id, site name); None: too many to list
    may_change: bool  # the user may change its settings
    open_alert_count: int
    viewer: bool  # a family viewer: live and history only, no 案件名 or anything personal


def gateway_header(user: User, gateway: Gateway) -> GatewayHeader:
    visible = visible_gateways(user).order_by("gateway_id")
    viewer = is_viewer(user)
    switcher = [
        (gateway_id, "" if viewer else site_name)
        for gateway_id, site_name in visible.values_list("gateway_id", "site__name")[
            : SWITCHER_MAX + 1
        ]
    ]
    return GatewayHeader(
        viewer=viewer,
        switcher=switcher if len(switcher) <= SWITCHER_MAX else None,
        may_change=visible_gateways(user, Purpose.CHANGE_SETTINGS).filter(pk=gateway.pk).exists(),
        open_alert_count=Alert.objects.filter(gateway=gateway, closed_at__isnull=True).count(),
    )


def live_state(gateway: Gateway) -> GatewayLiveState | None:
    """What the gateway last reported, or None before its first message."""
    return GatewayLiveState.objects.filter(gateway=gateway).first()


def awaiting_first_data(
    gateway: Gateway, live: GatewayLiveState | None, *, since: datetime | None = None
) -> bool:
    """No measurement ever arrived (データ受信待ち): just registered, or not connected yet.
    A gateway that has only said hello (a status, no sample) is still waiting. The live
    state answers for gateways heard from; the samples and rollups (an index step each)
    for data loaded without it (a backfill, an import) or kept longer than the samples."""
    heard = live.last_sample_ts if live is not None else None
    if heard is not None and (since is None or heard >= since):
        return False
    samples = Sample.objects.filter(gateway=gateway)
    rollups = EnergyRollup.objects.filter(gateway=gateway)
    if since is not None:  # 名義変更: the owner's time only (dealers.access.history_floor)
        samples, rollups = samples.filter(ts__gte=since), rollups.filter(start__gte=since)
    return not samples.exists() and not rollups.exists()


# --- live ---------------------------------------------------------------------------------

# A sample older than this is shown as stale: gateways report every minute or faster.
STALE_AFTER = timedelta(minutes=3)


@dataclass(frozen=True)
class Flow:
    """One edge of the power-flow diagram: ``source`` sends ``watts`` to ``target``."""

    source: str
    target: str
    watts: float


# a sample's measured values (its counters aside): what the live panel shows
LIVE_FIELDS = (
    "pv_w",
    "load_w",
    "grid_w",
    "battery_w",
    "soc_pct",
    "battery_temp_c",
    "pcs_state",
    "pcs_mode",
)


@dataclass(frozen=True)
class LiveSnapshot:
    online: bool
    last_seen_at: datetime | None
    sample_ts: datetime | None
    stale: bool
    waiting: bool = False  # データ受信待ち: no sample ever (awaiting_first_data)
    values: dict[str, Any] = field(default_factory=dict)
    flows: tuple[Flow, ...] = ()
    today_kwh: dict[str, Any] = field(default_factory=dict)


def power_flows(values: dict[str, Any]) -> tuple[Flow, ...]:
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


def today_energy(
    gateway: Gateway, *, now: datetime, since: datetime | None = None
) -> dict[str, float]:
    """Today's energy per counter (JST day), from the hourly rollups made so far (those
    from ``since`` on, when given)."""
    midnight = timezone.localtime(now, JST).replace(hour=0, minute=0, second=0, microsecond=0)
    if since is not None:
        midnight = max(midnight, since)
    totals = EnergyRollup.objects.filter(
        gateway=gateway, period=EnergyRollup.Period.HOUR, start__gte=midnight, start__lte=now
    ).aggregate(**{name: Sum(name) for name in COUNTERS})
    return {name: round(totals[name] or 0.0, 3) for name in COUNTERS}


def live_snapshot(
    gateway: Gateway, *, now: datetime | None = None, since: datetime | None = None
) -> LiveSnapshot:
    """What the live panel shows; ``since`` (dealers.access.history_floor) leaves out a
    sample from before the viewer's owner owned the system."""
    now = now or timezone.now()
    live = live_state(gateway)
    recent = Sample.objects.filter(gateway=gateway, ts__lte=now)
    if since is not None:
        recent = recent.filter(ts__gte=since)
    if live is not None and live.last_sample_ts is not None:
        # never newer than the newest sample; the bound lets PostgreSQL plan for the
        # month's partition alone instead of every month kept
        recent = recent.filter(ts__gte=min(live.last_sample_ts, now))
    newest = recent.order_by("-ts").first()
    if newest is None:
        return LiveSnapshot(
            online=is_online(live, now=now),
            last_seen_at=live.last_seen_at if live else None,
            sample_ts=None,
            stale=True,
            waiting=awaiting_first_data(gateway, live, since=since),
            today_kwh=today_energy(gateway, now=now, since=since),
        )
    values = {name: getattr(newest, name) for name in LIVE_FIELDS}
    return LiveSnapshot(
        online=is_online(live, now=now),
        last_seen_at=live.last_seen_at if live else None,
        sample_ts=newest.ts,
        stale=now - newest.ts > STALE_AFTER,
        values=values,
        flows=power_flows(values),
        today_kwh=today_energy(gateway, now=now, since=since),
    )


# --- history ------------------------------------------------------------------------------

MARKS = ("filled", "missing")


@dataclass(frozen=True)
class Bucket:
    start: datetime  # JST
    kwh: dict[str, Any]
    filled: int = 0  # pairs of samples whose counters were impossible, filled from powers
    missing: int = 0  # such pairs across a gap too long to fill: their energy is left out

    @property
    def mark(self) -> str:
        """補完 or 欠測 (or both) where the counters could not be used as they were."""
        return "・".join(m for m, n in (("補完", self.filled), ("欠測", self.missing)) if n)


@dataclass(frozen=True)
class History:
    buckets: tuple[Bucket, ...]
    totals: dict[str, Any]
    self_consumption: float | None  # share of generation used on site (not sold)
    self_sufficiency: float | None  # share of consumption covered by the site's own PV


def ratios(totals: dict[str, Any]) -> tuple[float | None, float | None]:
    """Self-consumption rate (自家消費率) = (PV − export) / PV, and self-sufficiency rate
    (自給率) = (PV − export) / load: both from the PV used on site, directly or through
    the battery, as the industry (and Japanese HEMS) defines them; None where there was
    nothing to divide by.

    Not (load − import) / load: a battery charged from the grid at night, as the economy
    mode does, buys energy that is used hours later, often the next day, so a morning
    or a sunny day read 0 % although the PV covered much of the house."""
    used_on_site = totals["pv_kwh"] - totals["grid_export_kwh"]
    return _share(used_on_site, totals["pv_kwh"]), _share(used_on_site, totals["load_kwh"])


def _share(part: float, whole: float) -> float | None:
    # clamped: counters read at slightly different instants can overshoot by a little
    return min(1.0, max(0.0, part / whole)) if whole > 0 else None


def energy_history(
    gateway: Gateway, *, view: str, anchor: date, since: datetime | None = None
) -> History:
    """Bars for the history charts, from the rollups (kept after raw samples are dropped):
    ``day`` hours of that JST day, ``month`` days of its month, ``year`` months of its year,
    ``lifetime`` one bar a year. Each view reads at most a few hundred rollup rows, however
    many samples exist.

    ``since`` (名義変更, dealers.access.history_floor): rollups that start before it are
    left out, so a bar that began under the owner before is not shown at all rather than
    in part (docs/transfers.md)."""
    start = datetime(anchor.year, anchor.month, anchor.day, tzinfo=JST)
    end: datetime | None
    if view == "day":
        period, end = EnergyRollup.Period.HOUR, start + timedelta(days=1)
    elif view == "month":
        start = start.replace(day=1)
        period, end = EnergyRollup.Period.DAY, _next_month(start)
    elif view == "year":
        start = start.replace(month=1, day=1)
        period, end = EnergyRollup.Period.MONTH, start.replace(year=start.year + 1)
    elif view == "lifetime":
        period, end = EnergyRollup.Period.MONTH, None  # every month: no bounds
    else:
        raise ValueError(f"view: {view!r} is not one of day, month, year, lifetime")
    rows = EnergyRollup.objects.filter(gateway=gateway, period=period)
    if since is not None:
        rows = rows.filter(start__gte=since)
    if end is not None:
        rows = rows.filter(start__gte=start, start__lt=end)
    buckets: dict[datetime, dict[str, Any]] = {}
    for row in rows.order_by("start").values("start", *COUNTERS, *MARKS):
        local = timezone.localtime(row["start"], JST)
        key = local.replace(month=1, day=1, hour=0) if view == "lifetime" else local
        into = buckets.setdefault(key, dict.fromkeys((*COUNTERS, *MARKS), 0.0))
        for name in (*COUNTERS, *MARKS):
            into[name] += row[name]
    totals = {name: sum(b[name] for b in buckets.values()) for name in COUNTERS}
    consumption, sufficiency = ratios(totals)
    return History(
        buckets=tuple(
            Bucket(
                k,
                {n: round(b[n], 3) for n in COUNTERS},
                filled=int(b["filled"]),
                missing=int(b["missing"]),
            )
            for k, b in buckets.items()
        ),
        totals={name: round(value, 3) for name, value in totals.items()},
        self_consumption=consumption,
        self_sufficiency=sufficiency,
    )


def _next_month(start: datetime) -> datetime:
    return start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)


def jst_day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime(day.year, day.month, day.day, tzinfo=JST)
    return start, start + timedelta(days=1)


CURVE_FIELDS = ("pv_w", "load_w", "grid_w", "battery_w", "soc_pct")


def day_curve(
    gateway: Gateway, *, day: date, since: datetime | None = None
) -> dict[str, list[Any]]:
    """The day view's raw samples (JST day, from ``since`` on when given) as columns:
    ``ts`` in epoch seconds and the powers and state of charge. One index range on the
    samples' (gateway, ts) key."""
    start, end = jst_day_bounds(day)
    if since is not None:
        start = max(start, since)
    rows = (
        Sample.objects.filter(gateway=gateway, ts__gte=start, ts__lt=end)
        .order_by("ts")
        .values_list(EpochSeconds("ts"), *CURVE_FIELDS)
    )
    columns: dict[str, list[Any]] = {"ts": [], **{name: [] for name in CURVE_FIELDS}}
    for ts, *values in rows:
        columns["ts"].append(ts)
        for name, value in zip(CURVE_FIELDS, values, strict=True):
            columns[name].append(value)
    return columns


def today_jst(now: datetime | None = None) -> date:
    return timezone.localtime(now or timezone.now(), JST).date()


# --- settings -------------------------------------------------------------------------------


def setting_log(
    gateway: Gateway, *, limit: int = 50, since: datetime | None = None
) -> list[Command]:
    """The audit log of setting changes, newest first: who, when, before, after, outcome
    (those asked from ``since`` on, when given)."""
    commands = Command.objects.filter(gateway=gateway)
    if since is not None:
        commands = commands.filter(requested_at__gte=since)
    return list(commands.order_by("-requested_at", "-pk")[:limit])


def settings_on_the_way(gateway: Gateway, *, now: datetime | None = None) -> dict[str, object]:
    """The newest unanswered change per setting: what the gateway is about to be told."""
    now = now or timezone.now()
    commands = Command.objects.filter(
        gateway=gateway, status__in=Command.OPEN, expires_at__gt=now
    ).order_by("requested_at", "pk")
    return {c.setting: c.value for c in commands}
