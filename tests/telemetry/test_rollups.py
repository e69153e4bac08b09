"""Energy rollups from hand-made sample series, with the exact kWh each hour, Japanese day
and Japanese month must hold: resets, gaps, backfills, late commits, reruns."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from essmon.telemetry import rollups
from essmon.telemetry.models import CounterDiscontinuity, EnergyRollup, RollupWatermark
from essmon.telemetry.partitions import ensure_partitions
from essmon.telemetry.rollups import rollup_energy
from tests import factories
from tests.energy_series import DAY, JST, at, put, series

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _partitions():
    """Partitions around the fixed dates used here, whenever the suite runs (no-op on SQLite)."""
    ensure_partitions(now=DAY)


@pytest.fixture
def gw():
    return factories.gateway()


def samples_per_hour(gw) -> dict[str, int]:
    rows = EnergyRollup.objects.filter(gateway=gw, period="hour").order_by("start")
    return {f"{row.start.astimezone(JST):%H:%M}": row.samples for row in rows}


def test_a_normal_hour_is_the_counters_growth(gw):
    for minute, pv in ((0, 100.0), (15, 100.5), (30, 101.0), (45, 101.5), (60, 102.0)):
        put(gw, at("10:00") + timedelta(minutes=minute), pv, charge_kwh=pv / 10)
    assert rollup_energy() == 2
    assert series(gw) == {"03-10 10:00": 2.0, "03-10 11:00": 0.0}
    assert series(gw, field="load_kwh") == {"03-10 10:00": 4.0, "03-10 11:00": 0.0}
    assert series(gw, field="charge_kwh") == {"03-10 10:00": 0.2, "03-10 11:00": 0.0}
    assert samples_per_hour(gw) == {"10:00": 4, "11:00": 1}
    row = EnergyRollup.objects.get(gateway=gw, period="hour", start=at("10:00"))
    assert row.grid_import_kwh == row.grid_export_kwh == row.discharge_kwh == 0


def test_a_pair_across_the_hour_is_split_by_time(gw):
    put(gw, at("10:50"), 10.0)
    put(gw, at("11:10"), 12.0)  # 2 kWh over 20 minutes, 10 of them before 11:00
    rollup_energy()
    assert series(gw) == {"03-10 10:00": 1.0, "03-10 11:00": 1.0}


def test_a_pair_the_rating_allows_is_the_counters_growth_whatever_the_powers_say(gw):
    """7 kWh of PV in an hour is within 5.9 kW × 1.25; the counters win over the powers."""
    put(gw, at("10:00"), 100.0, watts={"pv_w": 1000})
    put(gw, at("11:00"), 107.0, watts={"pv_w": 1000})
    rollup_energy()
    assert series(gw)["03-10 10:00"] == 7.0
    assert not CounterDiscontinuity.objects.exists()


def test_a_three_hour_gap_is_spread_over_its_hours_across_midnight(gw):
    """22:30 to 01:30 the next day without samples: 6 kWh, 1 per half hour."""
    put(gw, at("22:00"), 0.0)
    put(gw, at("22:30"), 1.0)
    put(gw, at("25:30"), 7.0)
    put(gw, at("26:00"), 8.0)
    rollup_energy()
    assert series(gw) == {
        "03-10 22:00": 1.0 + 1.0,
        "03-10 23:00": 2.0,
        "03-11 00:00": 2.0,
        "03-11 01:00": 1.0 + 1.0,
        "03-11 02:00": 0.0,  # the last sample's hour, with nothing after it yet
    }
    assert series(gw, "day") == {"03-10 00:00": 4.0, "03-11 00:00": 4.0}
    assert sum(series(gw).values()) == 8.0  # the counter's whole growth


def test_a_backfilled_sample_changes_its_hour_and_the_one_after(gw):
    put(gw, at("10:50"), 0.0)
    put(gw, at("11:10"), 1.0)
    put(gw, at("11:40"), 1.25)
    rollup_energy()
    assert series(gw) == {"03-10 10:00": 0.5, "03-10 11:00": 0.75}
    # the gateway's buffer delivers 11:00 late: all of the 1 kWh was made before it
    put(gw, at("11:00"), 1.0)
    rollup_energy()
    assert series(gw) == {"03-10 10:00": 1.0, "03-10 11:00": 0.25}
    assert samples_per_hour(gw) == {"10:00": 1, "11:00": 3}
    assert series(gw, "day") == {"03-10 00:00": 1.25}


def test_days_and_months_follow_the_japanese_calendar(gw):
    """23:00-01:00 JST is 14:00-16:00 UTC on one UTC day, but two Japanese days and, at the
    end of March, two Japanese months."""
    march_31 = datetime(2026, 3, 31, tzinfo=JST)
    put(gw, at("23:00", march_31), 0.0)
    put(gw, at("23:30", march_31), 1.0)
    put(gw, at("24:30", march_31), 3.0)  # 00:30 on 1 April: 1 kWh on each side of midnight
    put(gw, at("25:00", march_31), 5.0)
    rollup_energy()
    assert series(gw, "day") == {"03-31 00:00": 2.0, "04-01 00:00": 3.0}
    assert series(gw, "month") == {"03-01 00:00": 2.0, "04-01 00:00": 3.0}
    day = EnergyRollup.objects.get(gateway=gw, period="day", start=datetime(2026, 4, 1, tzinfo=JST))
    assert day.samples == 2 and day.load_kwh == 6.0
    month = EnergyRollup.objects.get(
        gateway=gw, period="month", start=datetime(2026, 3, 1, tzinfo=JST)
    )
    assert month.samples == 2


def test_months_add_up_their_days(gw):
    put(gw, at("12:00", datetime(2026, 3, 1, tzinfo=JST)), 0.0)
    put(gw, at("13:00", datetime(2026, 3, 1, tzinfo=JST)), 1.0)
    # 4 kWh over the 455 hours to 20 March 12:00, 11 of them on 1 March
    put(gw, at("12:00", datetime(2026, 3, 20, tzinfo=JST)), 5.0)
    put(gw, at("13:00", datetime(2026, 3, 20, tzinfo=JST)), 6.0)
    rollup_energy()
    days = series(gw, "day")
    assert len(days) == 20
    assert days["03-01 00:00"] == pytest.approx(1.0 + 4 * 11 / 455)
    assert days["03-02 00:00"] == pytest.approx(4 * 24 / 455)
    assert series(gw, "month") == {"03-01 00:00": pytest.approx(6.0)}


def test_a_rerun_changes_nothing(gw):
    put(gw, at("10:50"), 0.0)
    put(gw, at("11:10"), 2.0)
    put(gw, at("13:10"), 3.0)
    rollup_energy()
    before = {period: series(gw, period) for period in ("hour", "day", "month")}
    count = EnergyRollup.objects.count()
    rollup_energy()  # rereads the last minutes: the same samples again
    rollup_energy(now=timezone.now() + timedelta(hours=1))  # nothing new at all
    assert {period: series(gw, period) for period in ("hour", "day", "month")} == before
    assert EnergyRollup.objects.count() == count


def test_a_sample_committed_after_a_run_but_received_before_it_is_not_missed(gw):
    run = timezone.now()
    put(gw, at("10:00"), 0.0, received_at=run - timedelta(minutes=3))
    rollup_energy(now=run)
    # a long ingest transaction stamped this before the run, and committed after it
    put(gw, at("10:30"), 1.0, received_at=run - timedelta(minutes=2))
    rollup_energy(now=run + timedelta(minutes=1))
    assert series(gw) == {"03-10 10:00": 1.0}


def test_only_the_touched_hours_are_recomputed(gw):
    run = timezone.now()
    put(gw, at("10:00"), 0.0, received_at=run - timedelta(minutes=10))
    put(gw, at("11:00"), 1.0, received_at=run - timedelta(minutes=10))
    assert rollup_energy(now=run) == 2
    put(gw, at("11:30"), 2.0, received_at=run + timedelta(minutes=10))
    put(gw, at("12:30"), 3.0, received_at=run + timedelta(minutes=10))
    # from the sample before the new ones (11:00) to the last one (12:30): 11:00 and 12:00
    assert rollup_energy(now=run + timedelta(minutes=11)) == 2
    untouched = EnergyRollup.objects.get(gateway=gw, period="hour", start=at("10:00"))
    assert untouched.updated_at == run
    assert series(gw) == {"03-10 10:00": 1.0, "03-10 11:00": 1.5, "03-10 12:00": 0.5}


def test_many_gateways_in_small_chunks(monkeypatch):
    monkeypatch.setattr(rollups, "CHUNK", 2)
    gateways = [factories.gateway() for _ in range(5)]
    for n, gw in enumerate(gateways):
        put(gw, at("23:30"), 0.0)
        put(gw, at("24:30"), float(n + 1))  # spans midnight: two pieces per gateway
    rollup_energy()
    for n, gw in enumerate(gateways):
        half = (n + 1) / 2
        assert series(gw) == {"03-10 23:00": half, "03-11 00:00": half}
        assert series(gw, "month") == {"03-01 00:00": n + 1.0}


def test_a_first_sample_alone_makes_no_energy(gw):
    put(gw, at("10:00"), 1234.5)
    rollup_energy()
    assert series(gw) == {"03-10 10:00": 0.0}
    assert samples_per_hour(gw) == {"10:00": 1}


def test_a_run_already_going_elsewhere_is_not_joined(gw):
    put(gw, at("10:00"), 0.0)
    put(gw, at("11:00"), 1.0)
    RollupWatermark.objects.create(
        name=rollups.WATERMARK, running_until=timezone.now() + timedelta(minutes=5)
    )
    assert rollup_energy() is None  # skipped: not "0 hours written"
    assert not EnergyRollup.objects.exists()
    RollupWatermark.objects.update(running_until=timezone.now() - timedelta(seconds=1))
    assert rollup_energy() == 2  # the lease of a run that died has expired
    assert RollupWatermark.objects.get().running_until is None
