"""Hand-made sample series for the energy rollups: samples stored directly at Japanese
times of a fixed day, and the rollups read back as {start: kWh}."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone

from essmon.core.jst import JST
from essmon.telemetry.models import EnergyRollup, Sample

DAY = datetime(2026, 3, 10, tzinfo=JST)


def at(hhmm: str, day: datetime = DAY) -> datetime:
    """A Japanese time of day on ``day``; "25:30" is 01:30 the next day."""
    hours, minutes = (int(part) for part in hhmm.split(":"))
    return day + timedelta(hours=hours, minutes=minutes)


def put(
    gw,
    ts: datetime,
    pv: float,
    *,
    received_at: datetime | None = None,
    watts: dict | None = None,
    **counters,
) -> None:
    """A sample whose counters follow ``pv``: load twice it, the others as given or 0;
    powers 0 unless ``watts`` gives them."""
    values = {
        "pv_kwh": pv,
        "load_kwh": 2 * pv,
        "grid_import_kwh": 0.0,
        "grid_export_kwh": 0.0,
        "charge_kwh": 0.0,
        "discharge_kwh": 0.0,
        **counters,
    }
    powers = {"pv_w": 0, "load_w": 0, "grid_w": 0, "battery_w": 0, **(watts or {})}
    Sample.objects.create(
        gateway=gw,
        ts=ts,
        seq=int(ts.timestamp()),
        soc_pct=50,
        battery_temp_c=25,
        pcs_state="running",
        pcs_mode="economy",
        received_at=received_at or timezone.now(),
        **powers,
        **values,
    )


def series(gw, period: str = "hour", field: str = "pv_kwh") -> dict[str, float]:
    """{Japanese start "MM-DD HH:MM": value} of a gateway's rollups of one period."""
    rows = EnergyRollup.objects.filter(gateway=gw, period=period).order_by("start")
    return {
        f"{row.start.astimezone(JST):%m-%d %H:%M}": round(getattr(row, field), 9) for row in rows
    }
