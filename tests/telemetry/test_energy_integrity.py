"""Energy figures are never impossible (issue 12 §1): a counter that goes down or grows by
more than the system's rating allows is a discontinuity; the rollup takes that pair's
energy from the powers instead (or nothing across a long gap), records the event once, and
no hour, day, month or year ever holds more than the rating allows."""

from __future__ import annotations

import csv
import io
import math
import random
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone

from essmon.accounts.models import User
from essmon.gateways.schema import SCHEMAS
from essmon.monitoring import selectors
from essmon.telemetry import rollups
from essmon.telemetry.models import CounterDiscontinuity, EnergyRollup, RollupWatermark
from essmon.telemetry.partitions import ensure_partitions
from essmon.telemetry.rollups import rollup_energy
from tests import factories
from tests.energy_series import at, put, series
from tests.waiting import wait_until

pytestmark = pytest.mark.django_db
JST = ZoneInfo("Asia/Tokyo")
DAY = datetime(2026, 3, 10, tzinfo=JST)
# 3 kW of PV, 6 kW of load: 0.05 and 0.1 kWh a minute
SUNNY = {"pv_w": 3000, "load_w": 6000}


@pytest.fixture(autouse=True)
def _partitions():
    ensure_partitions(now=DAY)
    ensure_partitions(now=datetime(2026, 1, 15, tzinfo=JST))


@pytest.fixture
def gw():
    return factories.gateway()


def marks(gw) -> list[tuple]:
    return sorted(
        (
            f"{r.to_ts.astimezone(JST):%H:%M}",
            r.counter,
            r.kind,
            round(r.reported_kwh, 3),
            round(r.used_kwh, 3),
        )
        for r in CounterDiscontinuity.objects.filter(gateway=gw)
    )


def test_a_counter_reset_takes_that_minute_from_the_powers(gw):
    put(gw, at("10:00"), 100.0, watts=SUNNY)
    put(gw, at("10:01"), 100.05, watts=SUNNY)
    put(gw, at("10:02"), 0.02, watts=SUNNY)  # a firmware update: counters from 0 again
    put(gw, at("10:03"), 0.07, watts=SUNNY)
    rollup_energy()
    assert series(gw)["03-10 10:00"] == pytest.approx(0.15)
    assert series(gw, field="load_kwh")["03-10 10:00"] == pytest.approx(0.3)
    assert marks(gw) == [
        ("10:02", "load_kwh", "reset", -200.06, 0.1),
        ("10:02", "pv_kwh", "reset", -100.03, 0.05),
    ]
    hour = EnergyRollup.objects.get(gateway=gw, period="hour", start=at("10:00"))
    assert (hour.filled, hour.missing) == (1, 0)
    day = EnergyRollup.objects.get(gateway=gw, period="day")
    assert (day.filled, day.missing, day.pv_kwh) == (1, 0, pytest.approx(0.15))


def test_a_jump_of_18000_kwh_in_a_minute_is_not_energy(gw):
    put(gw, at("10:00"), 100.0, watts=SUNNY)
    put(gw, at("10:01"), 18_100.05, watts=SUNNY)
    put(gw, at("10:02"), 18_100.10, watts=SUNNY)
    rollup_energy()
    assert series(gw)["03-10 10:00"] == pytest.approx(0.1)
    assert [m[:3] for m in marks(gw)] == [
        ("10:01", "load_kwh", "jump"),
        ("10:01", "pv_kwh", "jump"),
    ]
    assert marks(gw)[1][3:] == (18_000.05, 0.05)


def test_the_powers_are_bounded_by_the_rating_too(gw):
    put(gw, at("10:00"), 100.0, watts={"pv_w": 90_000})
    put(gw, at("10:10"), 0.0, watts={"pv_w": 90_000})  # the protocol allows 90 kW; not a 5.9 kW PCS
    rollup_energy()
    cap = 5.9 * 10 / 60 * rollups.MARGIN + rollups.SLACK_KWH
    assert series(gw)["03-10 10:00"] == pytest.approx(cap)


def test_the_bound_is_the_models_rating():
    """18 kWh in an hour: a 20 kW KP-GWBT-C can, a 5.9 kW KP-GWBT-A cannot."""
    small, large = factories.gateway(model="KP-GWBT-A"), factories.gateway(model="KP-GWBT-C")
    for gw in (small, large):
        put(gw, at("10:00"), 100.0)
        put(gw, at("11:00"), 118.0)
    rollup_energy()
    assert series(large)["03-10 10:00"] == 18.0
    assert series(small)["03-10 10:00"] == 0.0  # the powers said nothing
    assert marks(small) and not marks(large)


def test_a_replaced_gateway_whose_counters_restart_from_another_base(gw):
    """The old unit at ~5,000 kWh, its replacement (same gateway id) from its own factory
    counters after five minutes off: no minus, no thousands of kWh."""
    put(gw, at("09:58"), 4_999.95, watts=SUNNY, charge_kwh=800.0)
    put(gw, at("10:00"), 5_000.05, watts=SUNNY, charge_kwh=800.0)
    put(gw, at("10:05"), 3_210.0, watts=SUNNY, charge_kwh=1_500.0)  # higher and lower bases
    put(gw, at("10:06"), 3_210.05, watts=SUNNY, charge_kwh=1_500.0)
    rollup_energy()
    assert series(gw)["03-10 09:00"] == pytest.approx(0.1)
    assert series(gw)["03-10 10:00"] == pytest.approx(0.25 + 0.05)  # five minutes of 3 kW
    assert series(gw, field="charge_kwh")["03-10 10:00"] == 0.0  # no battery power reported
    kinds = {(m[1], m[2]) for m in marks(gw)}
    assert kinds == {("pv_kwh", "reset"), ("load_kwh", "reset"), ("charge_kwh", "jump")}


def test_a_discontinuity_across_a_long_gap_counts_nothing_and_is_missing(gw):
    put(gw, at("10:00"), 5_000.0, watts=SUNNY)
    put(gw, at("13:00"), 12.0, watts=SUNNY)  # three hours off, then a new unit
    put(gw, at("13:01"), 12.05, watts=SUNNY)
    rollup_energy()
    assert series(gw) == {
        "03-10 10:00": 0.0,
        "03-10 11:00": 0.0,
        "03-10 12:00": 0.0,
        "03-10 13:00": 0.05,
    }
    assert [m[2] for m in marks(gw)] == ["gap", "gap"]
    assert {m[4] for m in marks(gw)} == {0.0}
    hours = EnergyRollup.objects.filter(gateway=gw, period="hour").order_by("start")
    assert [(h.filled, h.missing) for h in hours] == [(0, 1), (0, 1), (0, 1), (0, 0)]


def test_discontinuities_are_recorded_once_however_often_the_hours_are_redone(gw):
    put(gw, at("10:00"), 100.0, watts=SUNNY)
    put(gw, at("10:01"), 0.05, watts=SUNNY)
    rollup_energy()
    first = list(CounterDiscontinuity.objects.values_list("pk", "detected_at"))
    rollup_energy(now=timezone.now() + timedelta(minutes=1))
    RollupWatermark.objects.update(received_upto=None)  # reprocess everything
    rollup_energy(now=timezone.now() + timedelta(hours=1))
    assert list(CounterDiscontinuity.objects.values_list("pk", "detected_at")) == first
    assert len(first) == 2


def test_no_hour_day_month_or_year_holds_more_than_the_rating_allows(gw):
    """Ten days of 10-minute samples at full PV power with resets, jumps, replacements and
    gaps thrown in: every rollup stays within 5.9 kW × its hours (with the margin)."""
    rng = random.Random(12)
    start = datetime(2026, 1, 25, tzinfo=JST)
    pv, t = 1_000.0, start
    while t < start + timedelta(days=10):
        trouble = rng.random()
        if trouble < 0.02:
            pv = rng.uniform(0, 50)  # reset
        elif trouble < 0.04:
            pv += 18_000  # jump
        elif trouble < 0.05:
            t += timedelta(hours=rng.uniform(1, 30))  # outage
            pv = rng.uniform(0, 9_000)  # replaced
        else:
            pv += 5.9 * 10 / 60
        put(gw, t, pv, watts={"pv_w": 5900, "load_w": 11_800})
        t += timedelta(minutes=10)
    rollup_energy()
    limit = 5.9 * rollups.MARGIN

    def hours(row) -> float:
        end = {"hour": row.start + timedelta(hours=1), "day": row.start + timedelta(days=1)}
        if row.period == "month":
            local = row.start.astimezone(JST)
            end = selectors._next_month(local)
        else:
            end = end[row.period]
        return (end - row.start).total_seconds() / 3600

    rows = list(EnergyRollup.objects.filter(gateway=gw))
    assert {r.period for r in rows} == {"hour", "day", "month"}
    for row in rows:
        assert 0 <= row.pv_kwh <= limit * hours(row) + 1, (row.period, row.start, row.pv_kwh)
    assert CounterDiscontinuity.objects.filter(gateway=gw).exists()
    year = selectors.energy_history(gw, view="year", anchor=start.date())
    span_h = (t - start).total_seconds() / 3600
    assert 0 < year.totals["pv_kwh"] <= limit * span_h
    assert year.totals["load_kwh"] <= (5.9 + 100) * rollups.MARGIN * span_h


def short_pairs(gw, interval_s: int, pv_of) -> None:
    """An hour from 10:00 of a sample every ``interval_s`` seconds at 5.9 kW of PV, whose
    PV counter reads ``pv_of(i)`` at the i-th sample (the others stay at 0)."""
    from essmon.telemetry.models import Sample

    Sample.objects.bulk_create(
        Sample(
            gateway=gw,
            ts=at("10:00") + timedelta(seconds=i * interval_s),
            seq=i,
            soc_pct=50,
            battery_temp_c=25,
            pcs_state="running",
            pcs_mode="economy",
            received_at=timezone.now(),
            pv_w=5900,
            load_w=0,
            grid_w=0,
            battery_w=0,
            **{**dict.fromkeys(rollups.COUNTERS, 0.0), "pv_kwh": pv_of(i)},
        )
        for i in range(3600 // interval_s + 1)
    )


@pytest.mark.parametrize("interval_s, step", [(10, 0.030), (1, 0.0115)])
def test_the_slack_of_many_short_pairs_does_not_add_up(interval_s, step):
    """Each pair grows by a little less than its bound with the 0.01 kWh slack, so each is
    possible, but the hour's pairs together held 10.8 kWh (10 s) or 41.4 kWh (1 s) for a
    5.9 kW unit: the hour is bounded by the rating over its time and marked filled."""
    gw = factories.gateway(model="KP-GWBT-A")
    short_pairs(gw, interval_s, lambda i: 100.0 + i * step)
    rollup_energy()
    hour = EnergyRollup.objects.get(gateway=gw, period="hour", start=at("10:00"))
    assert hour.pv_kwh == pytest.approx(5.9 * rollups.MARGIN + rollups.SLACK_KWH)
    assert hour.filled == 1
    day = EnergyRollup.objects.get(gateway=gw, period="day")
    assert (day.pv_kwh, day.filled) == (pytest.approx(hour.pv_kwh), 1)
    assert marks(gw) == [
        ("11:00", "pv_kwh", "jump", round(3600 // interval_s * step, 3), round(hour.pv_kwh, 3))
    ]


@pytest.mark.parametrize("interval_s", [1, 10])
def test_a_meter_that_steps_by_001_kwh_read_every_second_is_not_flagged(interval_s):
    """A real meter at full power, its counter rounded down to 0.01 kWh and read every
    second (most pairs grow by 0, one in six by 0.01) or every ten: nothing is marked."""
    gw = factories.gateway(model="KP-GWBT-A")
    short_pairs(
        gw, interval_s, lambda i: math.floor((100 + 5.9 * i * interval_s / 3600) * 100) / 100
    )
    rollup_energy()
    hour = EnergyRollup.objects.get(gateway=gw, period="hour", start=at("10:00"))
    assert (hour.filled, hour.missing) == (0, 0)
    assert hour.pv_kwh == pytest.approx(5.9, abs=0.01)
    assert not CounterDiscontinuity.objects.exists()


def test_a_counter_a_step_lower_grew_by_nothing(gw):
    """A state restored a moment back (the simulator's, a device's): 0.003 kWh lower is
    not a reset of the counter's whole value, just no growth."""
    put(gw, at("10:00"), 100.0, watts=SUNNY)
    put(gw, at("10:01"), 100.05, watts=SUNNY)
    put(gw, at("10:02"), 100.047, watts=SUNNY)
    put(gw, at("10:03"), 100.097, watts=SUNNY)
    rollup_energy()
    assert series(gw)["03-10 10:00"] == pytest.approx(0.1)
    assert not marks(gw)
    put(gw, at("10:04"), 100.08, watts=SUNNY)  # 0.015 kWh down: more than a step
    rollup_energy(now=timezone.now() + timedelta(seconds=1))
    assert [m[:3] for m in marks(gw)] == [
        ("10:04", "load_kwh", "reset"),
        ("10:04", "pv_kwh", "reset"),
    ]


def test_the_ratings_are_the_models_pcs():
    """The simulator (which imports nothing of essmon's) models the same PCS ratings."""
    from essmon.simulator.physics import MODELS

    assert {m: s.power_kw for m, s in SCHEMAS.items()} == {"KP-GWBT-A": 5.9, "KP-GWBT-C": 20.0}
    assert {m: s.power_kw for m, s in MODELS.items()} == {m: s.power_kw for m, s in SCHEMAS.items()}
    assert rollups.rating_kw("KP-UNKNOWN") == 100.0


# --- what the operator and the owner see -------------------------------------------------


def yesterday_noon(client, *pv: float):
    """An owner logged in, whose gateway reported ``pv`` at yesterday 12:00, 12:01 and on
    by the hour, rolled up: (gateway, URL kwargs, the day view's query, noon)."""
    gw = factories.connected_gateway()
    day = selectors.today_jst() - timedelta(days=1)
    noon = datetime(day.year, day.month, day.day, 12, tzinfo=JST)
    ensure_partitions(now=noon)
    times = (noon, noon + timedelta(minutes=1), noon + timedelta(hours=1))
    for ts, value in zip(times, pv, strict=False):
        put(gw, ts, value, watts=SUNNY)
    rollup_energy()
    client.force_login(gw.owner)
    return gw, {"gateway_id": gw.gateway_id}, {"view": "day", "date": day.isoformat()}, noon


def test_the_history_json_csv_page_and_admin_show_the_discontinuity(client):
    gw, kwargs, query, noon = yesterday_noon(client, 100.0, 0.05, 2.9)  # reset at 12:01
    day = noon.date()
    data = client.get(reverse("monitoring:history_data", kwargs=kwargs), query).json()
    assert data["marks"] == ["補完", ""]
    assert data["energy"]["pv_kwh"] == [pytest.approx(0.05 + 2.85), 0.0]
    month = client.get(
        reverse("monitoring:history_data", kwargs=kwargs), {"view": "month", "date": day}
    ).json()
    assert month["marks"][month["x"].index(int(noon.replace(hour=0).timestamp()))] == "補完"
    text = client.get(reverse("monitoring:history_csv", kwargs=kwargs), query).content.decode()
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    header = next(r for r in rows if r and r[0] == "期間")
    assert header[-1] == "欠測/補完"
    assert rows[rows.index(header) + 1][-1] == "補完"
    assert rows[rows.index(header) + 2][-1] == ""
    page = client.get(reverse("monitoring:history", kwargs=kwargs), query).content.decode()
    assert 'data-testid="chart-marks"' in page
    operator = User.objects.create_superuser("op@example.jp", "OpPass2024x", name="運営")
    client.force_login(operator)
    changelist = client.get(reverse("admin:telemetry_counterdiscontinuity_changelist"))
    assert changelist.status_code == 200
    html = changelist.content.decode()
    assert gw.gateway_id in html and "減少(リセット・交換)" in html and "発電量" in html
    assert "累計値の不連続" in html


def test_a_page_without_discontinuities_has_no_marks(client):
    _, kwargs, query, _ = yesterday_noon(client, 100.0, 100.05)
    assert client.get(reverse("monitoring:history_data", kwargs=kwargs), query).json()["marks"] == [
        ""
    ]
    page = client.get(reverse("monitoring:history", kwargs=kwargs), query).content.decode()
    assert "chart-marks" not in page


def test_a_sunny_day_with_night_charging_reads_as_sunny(client):
    """Economy mode at 16:00: 6.7 kWh bought at night into the battery, 3 kWh bought for
    the house; 13 kWh of PV, 7 sold, 6 used in the house. The old (load − import) / load
    read 3 %; the PV covered 60 % of the consumption."""
    gw = factories.connected_gateway()
    day = selectors.today_jst() - timedelta(days=1)
    start = datetime(day.year, day.month, day.day, tzinfo=JST)
    hour = {"samples": 60, "updated_at": timezone.now()}
    EnergyRollup.objects.create(
        gateway=gw,
        period="hour",
        start=start + timedelta(hours=3),
        pv_kwh=0.0,
        load_kwh=3.0,
        grid_import_kwh=9.7,
        grid_export_kwh=0.0,
        charge_kwh=6.7,
        discharge_kwh=0.0,
        **hour,
    )
    EnergyRollup.objects.create(
        gateway=gw,
        period="hour",
        start=start + timedelta(hours=12),
        pv_kwh=13.0,
        load_kwh=7.0,
        grid_import_kwh=0.0,
        grid_export_kwh=7.0,
        charge_kwh=0.0,
        discharge_kwh=1.0,
        **hour,
    )
    history = selectors.energy_history(gw, view="day", anchor=day)
    assert history.self_sufficiency == pytest.approx(0.6)
    assert history.self_consumption == pytest.approx(6 / 13)
    client.force_login(gw.owner)
    page = client.get(
        reverse("monitoring:history", kwargs={"gateway_id": gw.gateway_id}),
        {"view": "day", "date": day.isoformat()},
    ).content.decode()
    assert 'data-testid="self-sufficiency">60%' in page
    assert "(発電量 − 売電量) ÷ 消費量" in page and "(発電量 − 売電量) ÷ 発電量" in page


# --- the demo continues its own history --------------------------------------------------


def test_make_run_restarted_continues_the_demos_history(
    tmp_path, django_capture_on_commit_callbacks
):
    """`make run`: the demo back-fills two days from the physics, then the simulator sends
    live samples; stopped and started again ten times, it goes on. Its first live sample continues
    the history's counters, so nothing is a discontinuity, and today's energy stays within
    what 5.9 kW can make (it read 5,000-18,000 kWh, +9,200 kWh a restart)."""
    from essmon.demo.data import CUSTOMER_EMAIL, SIMULATOR_STATE, ensure_demo_data
    from essmon.gateways.models import Gateway
    from essmon.simulator.fleet import FleetConfig, run_fleet
    from essmon.simulator.transports import GatewayCredentials
    from essmon.telemetry.ingest import ingest_samples
    from essmon.telemetry.models import Sample
    from tests.simulation import FakeEssmon, run_async

    now = timezone.now().replace(microsecond=0)
    ensure_partitions(now=now)
    with django_capture_on_commit_callbacks(execute=True):
        ensure_demo_data(tmp_path)
    gw = Gateway.objects.get(owner__email=CUSTOMER_EMAIL)
    last = Sample.objects.filter(gateway=gw).order_by("-ts").first()
    creds = [GatewayCredentials(gw.gateway_id, gw.model, "s" * 32)]

    def run(start: datetime) -> None:
        server = FakeEssmon()
        config = FleetConfig(
            start=start,
            interval=10,
            speed=math.inf,
            duration=600,
            state_file=tmp_path / SIMULATOR_STATE,
        )

        async def go():
            transport = server.transport()
            try:
                await run_fleet(config, creds, transport)
            finally:
                await transport.client.aclose()

        run_async(go())
        samples = sorted(server.samples[gw.gateway_id].values(), key=lambda s: s["seq"])
        result = ingest_samples(gateway=gw, samples=samples, now=start + timedelta(hours=1))
        assert result.accepted == len(samples) >= 59  # the fake refuses seq 13

    run(now)
    first_live = Sample.objects.filter(gateway=gw, ts__gt=last.ts).order_by("ts").first()
    for name in rollups.COUNTERS:
        assert getattr(first_live, name) == pytest.approx(getattr(last, name), abs=1e-3)
    for restart in range(1, 11):  # stopped for twenty minutes each time, started again
        with django_capture_on_commit_callbacks(execute=True):
            ensure_demo_data(tmp_path)  # as serve --demo does at every start
        run(now + timedelta(minutes=30 * restart))
    rollup_energy()
    assert not CounterDiscontinuity.objects.filter(gateway=gw).exists()
    end = now + timedelta(minutes=30 * 10 + 10)
    midnight = timezone.localtime(end, JST).replace(hour=0, minute=0, second=0)
    elapsed_h = (end - midnight).total_seconds() / 3600
    today = selectors.today_energy(gw, now=end + timedelta(minutes=50))
    assert 0 <= today["pv_kwh"] <= 5.9 * elapsed_h
    assert today["load_kwh"] < 30 * elapsed_h / 24 + 5  # a household, not a factory


@pytest.mark.django_db(transaction=True)
def test_make_run_killed_between_saves_continues_the_demos_history(live_server, tmp_path):
    """The demo's simulator, a real process sending to a real server, is killed with
    SIGKILL (or the machine ran out of memory) a few batches in, before any periodic save
    of its state: started again, its counters go on from what it had sent, not from the
    back-filled history's end below them (a reset on every gateway, 補完 on the demo). A
    run ended by SIGHUP (its terminal closed) stops as for SIGTERM, delivering and saving."""
    import os
    import signal
    import subprocess
    import sys

    from essmon.demo.data import SIMULATOR_STATE, ensure_demo_data
    from essmon.telemetry.models import Sample

    now = timezone.now().replace(microsecond=0)
    ensure_partitions(now=now)
    ensure_partitions(now=now + timedelta(days=1))
    ensure_demo_data(tmp_path)
    history_end = Sample.objects.latest("ts").ts

    def simulate(start: datetime, *more: str) -> subprocess.Popen:
        # left as written (fmt: skip): a command line, each option beside its value
        return subprocess.Popen(
            [sys.executable, "-m", "essmon.cli", "simulate", "--csv",
             str(tmp_path / "demo-gateways.csv"), "--url", live_server.url, "--interval", "10",
             "--report-every", "0", "--state", str(tmp_path / SIMULATOR_STATE),
             "--start", start.isoformat(), *more],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip

    def wait_for_samples(after: datetime, count: int) -> None:
        wait_until(
            lambda: Sample.objects.filter(ts__gt=after).count() >= count,
            30,
            "the simulator sent too few samples",
        )

    killed = simulate(now, "--speed", "120")
    try:
        wait_for_samples(history_end, 30)  # a few batches: well within the first 10 s
    finally:
        os.kill(killed.pid, signal.SIGKILL)
        killed.communicate(timeout=30)
    latest = Sample.objects.latest("ts").ts
    hung_up = simulate(latest + timedelta(minutes=5), "--speed", "120")
    wait_for_samples(latest, 20)
    hung_up.send_signal(signal.SIGHUP)
    _, errors = hung_up.communicate(timeout=60)
    assert hung_up.returncode == 0, errors
    latest = Sample.objects.latest("ts").ts
    last = simulate(latest + timedelta(minutes=5), "--speed", "max", "--duration", "600")
    _, errors = last.communicate(timeout=60)
    assert last.returncode == 0, errors
    assert Sample.objects.filter(ts__gt=latest).count() >= 60
    rollup_energy()
    assert list(CounterDiscontinuity.objects.values_list("gateway_id", "counter", "kind")) == []


def test_a_late_sample_that_fills_the_gap_replaces_the_record(gw):
    """The samples after an outage arrived before the gateway's buffer: a three-hour gap
    with a reset in it is 欠測; when the buffer comes, the reset is a one-minute pair
    filled from the powers, and the gap's record goes."""
    put(gw, at("10:00"), 5_000.0, watts=SUNNY)
    put(gw, at("13:00"), 7.5, watts=SUNNY)
    rollup_energy()
    assert [m[:3] for m in marks(gw)] == [("13:00", "load_kwh", "gap"), ("13:00", "pv_kwh", "gap")]
    minute, pv = at("10:01"), 5_000.05
    while minute < at("13:00"):
        if minute == at("10:30"):
            pv = 0.0  # the reset
        put(gw, minute, pv, watts=SUNNY)
        minute += timedelta(minutes=1)
        pv += 0.05
    rollup_energy(now=timezone.now() + timedelta(seconds=1))
    assert [m[:3] for m in marks(gw)] == [
        ("10:30", "load_kwh", "reset"),
        ("10:30", "pv_kwh", "reset"),
    ]
    assert series(gw)["03-10 11:00"] == pytest.approx(3.0)
    hours = EnergyRollup.objects.filter(gateway=gw, period="hour").order_by("start")
    assert [(h.filled, h.missing) for h in hours] == [(1, 0), (0, 0), (0, 0), (0, 0)]


def test_recompute_energy_rewrites_rollups_made_under_the_old_rule(gw):
    """A data directory from before: an hour that holds a reset's whole new value. The
    command recomputes it from the samples; a run going on elsewhere is not joined."""
    from django.core.management import CommandError, call_command

    put(gw, at("10:00"), 100.0, watts=SUNNY)
    put(gw, at("10:01"), 100.05, watts=SUNNY)
    rollup_energy()
    EnergyRollup.objects.filter(gateway=gw, period="hour").update(pv_kwh=9_200.0)
    printed = io.StringIO()
    call_command("recompute-energy", stdout=printed)
    assert printed.getvalue() == "hours recomputed: 1\n"
    assert series(gw) == {"03-10 10:00": pytest.approx(0.05)}
    assert series(gw, "month") == {"03-01 00:00": pytest.approx(0.05)}
    RollupWatermark.objects.update(running_until=timezone.now() + timedelta(minutes=5))
    with pytest.raises(CommandError, match=r"a rollup run is going on.*nothing was recomputed"):
        call_command("recompute-energy", stdout=io.StringIO())


def test_recompute_energy_says_so_when_the_scheduler_took_the_lease_first(gw, monkeypatch):
    """The lease was free when the command looked, and the scheduler's run took it a moment
    later: the command did nothing, and must not print "hours recomputed: 0"."""
    from django.core.management import CommandError, call_command

    put(gw, at("10:00"), 100.0, watts=SUNNY)
    put(gw, at("10:01"), 100.05, watts=SUNNY)
    rollup_energy()
    mark = RollupWatermark.objects.get().received_upto
    monkeypatch.setattr(rollups, "_take_lease", lambda: False)
    printed = io.StringIO()
    with pytest.raises(CommandError, match="nothing was recomputed"):
        call_command("recompute-energy", stdout=printed)
    assert printed.getvalue() == ""
    assert RollupWatermark.objects.get().received_upto == mark  # the next run as it was


def test_upgrading_makes_the_next_scheduled_rollup_recompute_the_old_ones(gw):
    """An install (or a `make run` var/) from before 0008 holds rollups with a reset's whole
    value and a watermark that says they are done; after migration 0009 the next scheduled
    run recomputes every hour still kept, without anyone running recompute-energy."""
    import importlib

    from django.apps import apps

    put(gw, at("10:00"), 100.0, watts=SUNNY)
    put(gw, at("10:01"), 100.05, watts=SUNNY)
    rollup_energy(now=timezone.now() + timedelta(minutes=10))
    EnergyRollup.objects.filter(gateway=gw).update(pv_kwh=9_200.0)  # the old rule's figures
    rollup_energy(now=timezone.now() + timedelta(minutes=20))
    assert series(gw) == {"03-10 10:00": 9_200.0}  # nothing new received: left alone
    migration = importlib.import_module("essmon.telemetry.migrations.0009_recompute_rollups")
    migration.recompute_from_start(apps, None)
    assert rollup_energy(now=timezone.now() + timedelta(minutes=21)) == 1
    assert series(gw) == {"03-10 10:00": pytest.approx(0.05)}
    assert series(gw, "month") == {"03-01 00:00": pytest.approx(0.05)}
