"""The live view's data (monitoring groundwork): newest sample, flows, staleness, today."""

from datetime import timedelta

import pytest
from django.utils import timezone

from essmon.monitoring.selectors import Flow, live_snapshot, power_flows
from essmon.telemetry.ingest import ingest_samples
from essmon.telemetry.models import EnergyRollup
from tests import factories
from tests.factories import sample

pytestmark = pytest.mark.django_db


def values(**overrides):
    base = {"pv_w": 3000.0, "load_w": 800.0, "grid_w": -1200.0, "battery_w": -1000.0}
    return {**base, **overrides}


def test_flows_follow_the_signs_and_leave_out_idle_edges():
    assert power_flows(values()) == (
        Flow("pv", "pcs", 3000.0),
        Flow("pcs", "home", 800.0),
        Flow("pcs", "battery", 1000.0),
        Flow("pcs", "grid", 1200.0),
    )
    night = power_flows(values(pv_w=0.0, grid_w=300.0, battery_w=500.0))
    assert night == (
        Flow("pcs", "home", 800.0),
        Flow("battery", "pcs", 500.0),
        Flow("grid", "pcs", 300.0),
    )


def test_a_gateway_never_heard_from_is_offline_and_stale():
    snapshot = live_snapshot(factories.connected_gateway())
    assert not snapshot.online and snapshot.stale and snapshot.sample_ts is None
    assert snapshot.today_kwh["pv_kwh"] == 0.0


def test_the_newest_sample_is_shown_and_goes_stale_after_three_minutes():
    gw = factories.connected_gateway()
    now = timezone.now()
    ts = now - timedelta(minutes=1)
    newest = {**sample(1), "ts": ts.isoformat(), "soc_pct": 72.5}
    older = {**sample(0), "ts": (ts - timedelta(minutes=1)).isoformat()}
    ingest_samples(gateway=gw, samples=[newest, older], now=now)
    snapshot = live_snapshot(gw, now=now)
    assert snapshot.online and not snapshot.stale
    assert (
        snapshot.values["soc_pct"] == 72.5 and snapshot.sample_ts == ts.replace(microsecond=0)
    ) or snapshot.sample_ts == ts
    later = live_snapshot(gw, now=now + timedelta(minutes=3, seconds=1))
    assert later.stale


def test_today_sums_this_jst_days_hours_only():
    gw = factories.connected_gateway()
    midnight = timezone.localtime(timezone.now()).replace(hour=0, minute=0, second=0, microsecond=0)
    now = midnight + timedelta(hours=2, minutes=30)
    zero = dict.fromkeys(
        ["load_kwh", "grid_import_kwh", "grid_export_kwh", "charge_kwh", "discharge_kwh"], 0.0
    )
    for hours, pv in [(-1, 5.0), (0, 1.25), (1, 0.5), (3, 9.0)]:  # yesterday, today, later
        EnergyRollup.objects.create(
            gateway=gw,
            period="hour",
            start=midnight + timedelta(hours=hours),
            pv_kwh=pv,
            samples=60,
            updated_at=now,
            **zero,
        )
    assert live_snapshot(gw, now=now).today_kwh["pv_kwh"] == pytest.approx(1.75)


def _rollup(gw, period, start, **kwh):
    counters = dict.fromkeys(
        ["pv_kwh", "load_kwh", "grid_import_kwh", "grid_export_kwh", "charge_kwh", "discharge_kwh"],
        0.0,
    )
    EnergyRollup.objects.create(
        gateway=gw,
        period=period,
        start=start,
        samples=60,
        updated_at=timezone.now(),
        **{**counters, **kwh},
    )


def test_history_views_read_their_rollups_and_give_the_ratios():
    from datetime import date, datetime

    from essmon.core.jst import JST
    from essmon.monitoring.selectors import energy_history

    gw = factories.connected_gateway()
    _rollup(
        gw,
        "day",
        datetime(2026, 5, 1, tzinfo=JST),
        pv_kwh=20,
        load_kwh=10,
        grid_import_kwh=2,
        grid_export_kwh=8,
    )
    _rollup(
        gw,
        "day",
        datetime(2026, 5, 31, tzinfo=JST),
        pv_kwh=10,
        load_kwh=10,
        grid_import_kwh=4,
        grid_export_kwh=2,
    )
    _rollup(gw, "day", datetime(2026, 6, 1, tzinfo=JST), pv_kwh=99)  # next month
    _rollup(gw, "month", datetime(2025, 12, 1, tzinfo=JST), pv_kwh=100, load_kwh=50)
    _rollup(gw, "month", datetime(2026, 5, 1, tzinfo=JST), pv_kwh=30, load_kwh=20)

    month = energy_history(gw, view="month", anchor=date(2026, 5, 17))
    assert [b.start.day for b in month.buckets] == [1, 31]
    assert month.totals["pv_kwh"] == 30 and month.totals["grid_export_kwh"] == 10
    assert month.self_consumption == pytest.approx(20 / 30)  # 30 generated, 10 sold
    # (PV − export) / load: 20 of the PV used on site for 20 consumed (bought: 6, which
    # went into the battery); not (load − import) / load, which read 70 %
    assert month.self_sufficiency == 1.0

    year = energy_history(gw, view="year", anchor=date(2026, 1, 1))
    assert [(b.start.month, b.kwh["pv_kwh"]) for b in year.buckets] == [(5, 30.0)]
    lifetime = energy_history(gw, view="lifetime", anchor=date(2026, 1, 1))
    assert [(b.start.year, b.kwh["pv_kwh"]) for b in lifetime.buckets] == [
        (2025, 100.0),
        (2026, 30.0),
    ]
    empty = energy_history(gw, view="day", anchor=date(2026, 5, 1))
    assert empty.buckets == () and empty.self_consumption is None
    with pytest.raises(ValueError, match="view"):
        energy_history(gw, view="week", anchor=date(2026, 5, 1))
