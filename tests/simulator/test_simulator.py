"""The gateway fleet simulator (docs/simulator.md): its physics, its independence from
Django, and its delivery guarantees against a flaky fake server, the real HTTPS API and
the real MQTT path."""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import subprocess
import sys
import time
from collections import defaultdict
from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from essmon.simulator.cli import parse_duration, parse_fault, parse_outage, parse_time
from essmon.simulator.fleet import FleetConfig, FleetStats, Window, read_credentials, run_fleet
from essmon.simulator.physics import COUNTERS, JST, DeviceSettings, SimulatedSite, model_spec
from essmon.simulator.state import SEQ_MAX, load_state, save_state
from essmon.simulator.transports import GatewayCredentials, HttpsTransport, MqttTransport
from tests.simulation import FakeEssmon, provision_fleet, run_async

A, C = model_spec("KP-GWBT-A"), model_spec("KP-GWBT-C")


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=JST).timestamp()


def run_day(site: SimulatedSite, *, step: float = 60.0, hours: float = 24.0) -> list:
    readings = [site.step(0)]
    readings += [site.step(step) for _ in range(int(hours * 3600 / step))]
    return readings


# --- physics ---------------------------------------------------------------------------


def test_a_clear_summer_noon_gives_near_nameplate_and_the_night_nothing():
    site = SimulatedSite(A, start=at("2026-06-21T00:00"), seed="s", sky="clear")
    by_time = {datetime.fromtimestamp(r.t, JST).strftime("%H:%M"): r for r in run_day(site)}
    noon = by_time["12:00"].pv_w
    assert 0.72 * A.pv_kwp * 1000 <= noon <= A.pv_kwp * 1000
    for night in ("00:00", "02:30", "03:59", "19:45", "23:00"):
        assert by_time[night].pv_w == 0.0, night
    # the sun's shape: rising through the morning, falling through the afternoon
    assert by_time["07:00"].pv_w < by_time["09:00"].pv_w < by_time["11:00"].pv_w
    assert by_time["13:00"].pv_w > by_time["15:00"].pv_w > by_time["17:00"].pv_w


def test_winter_and_rain_give_less():
    summer = SimulatedSite(A, start=at("2026-06-21T12:00"), seed="s", sky="clear").step(0).pv_w
    winter = SimulatedSite(A, start=at("2026-12-21T12:00"), seed="s", sky="clear").step(0).pv_w
    rain = SimulatedSite(A, start=at("2026-06-21T12:00"), seed="s", sky="rain").step(0).pv_w
    assert rain < 0.3 * summer
    assert 0.5 * summer < winter < summer * 1.05  # low sun, but a tilted array and cold cells


@pytest.mark.parametrize("mode", ["economy", "green", "storage_priority"])
@pytest.mark.parametrize("spec", [A, C], ids=["A", "C"])
def test_energy_balance_soc_bounds_and_counters(mode, spec):
    settings = DeviceSettings.defaults_for(spec)
    settings.mode = mode
    site = SimulatedSite(
        spec, start=at("2026-05-01T00:00"), seed=f"{mode}", settings=settings, soc_pct=60
    )
    readings = run_day(site, step=300, hours=72)
    for r in readings:
        # AC side, exactly: what comes in is what goes out
        supply = r.pv_w + max(r.battery_w, 0) + max(r.grid_w, 0)
        demand = r.load_w + max(-r.battery_w, 0) + max(-r.grid_w, 0)
        assert supply == pytest.approx(demand, abs=1e-6)
        assert -r.battery_w <= spec.power_kw * 1000 + 1e-6
        assert r.battery_w <= spec.power_kw * 1000 + 1e-6
        assert 0 <= r.soc_pct <= 100
        assert r.pcs_mode == mode and r.pcs_state in ("running", "standby")
        assert -10 < r.battery_temp_c < 50
        assert r.soc_pct >= settings.reserve_soc_pct - 1e-9  # started above it
    for before, after in itertools.pairwise(readings):
        for name, value in after.counters.items():
            assert value >= before.counters[name], name
    # the counters integrate the powers, and the battery's losses are its round trip
    first, last = readings[0].counters, readings[-1].counters
    charged = last["charge_kwh"] - first["charge_kwh"]
    discharged = last["discharge_kwh"] - first["discharge_kwh"]
    eta = math.sqrt(spec.round_trip_efficiency)
    stored = (readings[-1].soc_pct - readings[0].soc_pct) / 100 * spec.capacity_kwh
    assert stored == pytest.approx(charged * eta - discharged / eta, abs=1e-6)
    pv = last["pv_kwh"] - first["pv_kwh"]
    load = last["load_kwh"] - first["load_kwh"]
    imported = last["grid_import_kwh"] - first["grid_import_kwh"]
    exported = last["grid_export_kwh"] - first["grid_export_kwh"]
    assert pv + discharged + imported == pytest.approx(load + charged + exported, rel=1e-9)
    if mode == "storage_priority":
        assert discharged == 0 and readings[-1].soc_pct > 95


def test_economy_charges_from_the_grid_in_the_charge_window_only():
    settings = DeviceSettings.defaults_for(A)
    site = SimulatedSite(A, start=at("2026-11-24T20:00"), seed="e", settings=settings, soc_pct=35)
    readings = run_day(site, step=60, hours=24)
    for r in readings:
        hhmm = datetime.fromtimestamp(r.t, JST).strftime("%H:%M")
        in_window = hhmm >= "23:00" or hhmm < "07:00"
        if r.battery_w < -1 and r.pv_w == 0:  # charging with no sun: from the grid
            assert in_window, hhmm
        if in_window:
            assert r.battery_w <= 0, hhmm  # no discharge while charging is allowed
    at_seven = next(r for r in readings if datetime.fromtimestamp(r.t, JST).hour == 7)
    assert at_seven.soc_pct > 97  # spread over the night, full as the window closes
    night = [r for r in readings if datetime.fromtimestamp(r.t, JST).hour == 3]
    assert all(-A.power_kw * 1000 < r.battery_w < -100 for r in night)  # gently, not flat out


@pytest.mark.parametrize("limit", [0, 1500])
def test_export_never_exceeds_the_limit_and_pv_is_curtailed_instead(limit):
    settings = DeviceSettings.defaults_for(A)
    settings.export_limit_w = limit
    site = SimulatedSite(
        A, start=at("2026-05-03T05:00"), seed="x", settings=settings, soc_pct=95, sky="clear"
    )
    readings = run_day(site, step=60, hours=12)
    assert all(-r.grid_w <= limit + 1e-6 for r in readings)
    assert sum(r.curtailed_w for r in readings) > 0  # a sunny May day overflows a full battery


def test_green_mode_stores_surplus_and_discharges_in_the_evening():
    settings = DeviceSettings.defaults_for(A)
    settings.mode = "green"
    site = SimulatedSite(
        A, start=at("2026-05-03T06:00"), seed="g", settings=settings, soc_pct=30, sky="clear"
    )
    readings = run_day(site, step=60, hours=18)
    morning = [r for r in readings if 8 <= datetime.fromtimestamp(r.t, JST).hour < 12]
    evening = next(r for r in readings if datetime.fromtimestamp(r.t, JST).hour == 20)
    assert min(r.battery_w for r in morning) < -1000 and evening.battery_w > 0
    assert max(r.soc_pct for r in readings) > 99  # filled by the sun alone
    assert all(r.grid_w <= 1e-6 for r in readings if r.battery_w < 0)  # never from the grid


def test_settings_the_device_cannot_apply_are_refused_with_a_reason():
    settings = DeviceSettings.defaults_for(A)
    assert settings.check(A, "mode", "green") is None
    assert settings.check(A, "reserve_soc_pct", 40) is None
    assert "unknown setting" in settings.check(A, "turbo", 1)
    assert "steps of 10" in settings.check(A, "reserve_soc_pct", 35)
    assert settings.check(C, "reserve_soc_pct", 35) is None
    assert "outside 10-100" in settings.check(C, "reserve_soc_pct", 5)
    assert "outside 0-5900" in settings.check(A, "export_limit_w", 6000)
    assert "same" in settings.check(A, "charge_window", ["01:00", "01:00"])
    assert "HH:MM" in settings.check(A, "discharge_window", ["7:00", "23:00"])
    assert settings.check(A, "charge_window", ["22:00", "06:00"]) is None


def test_the_same_seed_gives_the_same_site():
    one = SimulatedSite(A, start=at("2026-06-01T00:00"), seed="same")
    two = SimulatedSite(A, start=at("2026-06-01T00:00"), seed="same")
    assert run_day(one, step=600) == run_day(two, step=600)


# --- independence --------------------------------------------------------------------


def test_the_simulator_imports_neither_django_nor_the_rest_of_essmon():
    code = (
        "import essmon.simulator, essmon.simulator.fleet, essmon.simulator.cli, sys; "
        "bad = [m for m in sys.modules if m.startswith('django') or "
        "(m.startswith('essmon.') and not m.startswith('essmon.simulator'))]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_essmon_simulate_starts_without_django_settings(tmp_path):
    script = (
        "import sys, essmon.cli; sys.argv = ['essmon', 'simulate', '--help']\n"
        "try:\n    essmon.cli.main()\nexcept SystemExit:\n    pass\n"
        "assert not [m for m in sys.modules if m.startswith('django')]"
    )
    env = {"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "does.not.exist"}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "--fault-rate" in done.stdout


# --- command line --------------------------------------------------------------------


def test_durations_times_outages_and_faults_parse():
    start = datetime(2026, 11, 24, 9, 0, tzinfo=JST)
    assert parse_duration("90") == 90 and parse_duration("1h30m") == 5400
    assert parse_duration("2d") == 172800
    with pytest.raises(ValueError):
        parse_duration("soon")
    assert parse_time("+2h", base=start) == start + timedelta(hours=2)
    assert parse_time("-1d", base=start) == start - timedelta(days=1)
    assert parse_time("2026-11-24T10:00", base=start).utcoffset() == timedelta(hours=9)
    assert parse_time("2026-11-24T01:00Z", base=start) == start + timedelta(hours=1)
    outage = parse_outage("+1h,+2h", start=start)
    assert (outage.start, outage.end, outage.gateway_id) == (
        start.timestamp() + 3600,
        start.timestamp() + 7200,
        None,
    )
    assert parse_outage("+1h,+2h,01AB12345678", start=start).gateway_id == "01AB12345678"
    fault = parse_fault("E203@+30m/20m,01AB12345678", start=start)
    assert (fault.code, fault.at, fault.duration, fault.gateway_id) == (
        "E203",
        start.timestamp() + 1800,
        1200,
        "01AB12345678",
    )
    assert parse_fault("W401@2026-11-24T12:00", start=start).duration is None
    for bad in ("E203", "e203@+1h", "E203@+1h,someone"):
        with pytest.raises(ValueError):
            parse_fault(bad, start=start)
    with pytest.raises(ValueError):
        parse_outage("+2h,+1h", start=start)


# --- against a flaky fake server ---------------------------------------------------------


def credentials(count: int, model: str = "KP-GWBT-A") -> list[GatewayCredentials]:
    return [GatewayCredentials(f"26SM{n:08d}", model, "s" * 32) for n in range(count)]


START = datetime(2026, 11, 23, 6, 0, tzinfo=JST)


def fleet(server: FakeEssmon, gateways, **options) -> FleetStats:
    config = FleetConfig(**{"start": START, "speed": 30000, "drain_timeout": 20, **options})

    async def go() -> FleetStats:
        transport = server.transport()
        try:
            return await run_fleet(config, gateways, transport)
        finally:
            await transport.client.aclose()

    return run_async(go())


def test_a_flaky_network_loses_nothing_and_backfills_in_order():
    server = FakeEssmon(fail=0.15, lose=0.1, seed=3)
    gateways = credentials(4)
    outage = Window(START.timestamp() + 3600, START.timestamp() + 2 * 3600)
    stats = fleet(
        server, gateways, duration=4 * 3600, outages=[outage], max_batch=25, send_every=120
    )
    assert server.failures > 10
    for gw in gateways:
        seqs = server.arrivals[gw.gateway_id]
        assert sorted(seqs) == [s for s in range(240) if s != 13]  # all but the refused one
        assert seqs == sorted(seqs)  # first arrivals in order: backfill kept the order
        assert max(server.batches[gw.gateway_id]) == 25
    assert stats.generated == 4 * 240 and stats.buffered == 0
    # an accepted batch whose answer was lost comes back as duplicates
    assert stats.accepted < 4 * 239 <= stats.accepted + stats.duplicates
    assert stats.rejected >= 4
    assert stats.errors >= server.failures - 4  # some failures hit the same round


def test_a_restart_continues_the_counters_from_the_state_file(tmp_path):
    """As a device keeps its counters through a reboot: the second run's first sample has
    the first run's last counters (its first step integrates nothing) and the next seq."""
    state = tmp_path / "state.json"
    first, second = FakeEssmon(), FakeEssmon()
    gateways = credentials(2)
    fleet(first, gateways, interval=60, duration=1800, state_file=state)
    fleet(
        second,
        gateways,
        interval=60,
        duration=600,
        state_file=state,
        start=START + timedelta(hours=2),
    )
    for creds in gateways:
        before = sorted(first.samples[creds.gateway_id].values(), key=lambda s: s["seq"])
        after = sorted(second.samples[creds.gateway_id].values(), key=lambda s: s["seq"])
        assert after[0]["seq"] == before[-1]["seq"] + 1
        for name in COUNTERS:
            assert after[0][name] == before[-1][name]
            assert after[-1][name] >= after[0][name]
    saved = json.loads(state.read_text())["gateways"]
    assert set(saved) == {g.gateway_id for g in gateways}
    last = max(second.samples[gateways[0].gateway_id].values(), key=lambda s: s["seq"])
    assert saved[gateways[0].gateway_id]["counters"]["pv_kwh"] == pytest.approx(
        last["pv_kwh"], abs=1e-4
    )


def test_a_broken_state_file_starts_afresh_with_a_warning(tmp_path, caplog):
    state = tmp_path / "state.json"
    state.write_text('{"gateways": {"26SM00000000": {"t": 1, "counters": {"pv_kwh": -5}}}}')
    server = FakeEssmon()
    fleet(server, credentials(1), interval=60, duration=120, state_file=state)
    assert "not a whole entry" in caplog.text
    state.write_text("{not json")
    fleet(
        server,
        credentials(1),
        interval=60,
        duration=120,
        state_file=state,
        start=START + timedelta(hours=1),
    )
    assert "not read" in caplog.text
    assert "26SM00000000" in json.loads(state.read_text())["gateways"]


def whole_entry(**changes) -> dict:
    return {"t": 1.0, "soc_pct": 50, "seq": 1, "counters": dict.fromkeys(COUNTERS, 1), **changes}


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("[" * 100_000 + "]" * 100_000, id="deep nesting"),
        pytest.param(
            json.dumps({"gateways": {"26SM00000000": whole_entry()}}).replace(
                '"pv_kwh": 1', '"pv_kwh": 1' + "0" * 400
            ),
            id="huge int counter",
        ),
        pytest.param('{"gateways": {"26SM00000000": {"t": 1' + "0" * 400 + "}}}", id="huge int t"),
        pytest.param(
            json.dumps({"gateways": {"26SM00000000": whole_entry(seq=2**70)}}), id="huge seq"
        ),
    ],
)
def test_a_hostile_state_file_is_left_out_and_the_gateway_runs(tmp_path, caplog, text):
    """Each of these crashed the simulator (RecursionError, OverflowError) or, for the seq,
    had every sample refused by the server from then on."""
    state = tmp_path / "state.json"
    state.write_text(text)
    assert load_state(state) == {}
    assert "start afresh" in caplog.text or "not a whole entry" in caplog.text
    server = FakeEssmon()
    stats = fleet(server, credentials(1), interval=60, duration=120, state_file=state)
    assert stats.errors == 0
    assert [s["seq"] for s in server.samples["26SM00000000"].values()] == [0, 1]
    assert load_state(state)["26SM00000000"]["seq"] == 2


def test_the_largest_seq_is_kept():
    entry = whole_entry(seq=SEQ_MAX)
    assert load_state_of({"26SM00000000": entry}) == {
        "26SM00000000": {
            **entry,
            "t": 1.0,
            "soc_pct": 50.0,
            "counters": dict.fromkeys(COUNTERS, 1.0),
        }
    }


def load_state_of(gateways: object) -> dict:
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "state.json"
        path.write_text(json.dumps({"gateways": gateways}))
        return load_state(path)


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.text(max_size=5)
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def spoiled_entries(draw) -> dict:
    """A whole entry with some of its parts, anywhere in it, replaced by any JSON."""
    entry = whole_entry()
    for _ in range(draw(st.integers(0, 3))):
        where = draw(st.sampled_from(["t", "soc_pct", "seq", "counters", *COUNTERS]))
        value = draw(JSON)
        if where in COUNTERS and isinstance(entry["counters"], dict):
            entry["counters"][where] = value
        else:
            entry[where] = value
    return entry


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.text(max_size=12), spoiled_entries() | JSON, max_size=3))
def test_whatever_the_state_file_holds_what_is_loaded_is_usable(gateways):
    """Property: the parser never raises, and every entry it keeps has finite counters
    within bounds, a seq the protocol accepts, a state of charge within 0-100, and is
    written back unchanged."""
    loaded = load_state_of(gateways)
    for value in loaded.values():
        assert set(value["counters"]) == set(COUNTERS)
        assert all(type(v) is float and 0 <= v <= 1e12 for v in value["counters"].values())
        assert type(value["seq"]) is int and 0 <= value["seq"] <= SEQ_MAX
        assert value["soc_pct"] is None or 0 <= value["soc_pct"] <= 100
        assert type(value["t"]) is float and math.isfinite(value["t"])
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "state.json"
        save_state(path, loaded)
        assert load_state(path) == loaded


def test_heartbeats_at_start_and_every_five_simulated_minutes():
    server = FakeEssmon()
    # slow enough for the loop to keep up: a gateway that falls behind sends one status
    # for all the heartbeats it missed
    stats = fleet(server, credentials(1), duration=1200, interval=60, speed=1200)
    (statuses,) = server.statuses.values()
    times = [datetime.fromisoformat(s["ts"]) for s in statuses]
    assert times == [START + timedelta(minutes=m) for m in (0, 5, 10, 15)]
    assert statuses[0]["settings"]["mode"] == "economy" and statuses[0]["firmware"]
    assert stats.statuses == 4


def test_commands_are_applied_once_and_a_repeat_gets_the_same_result():
    server = FakeEssmon(lose=0.3, seed=5)
    (gw,) = credentials(1)
    server.commands[gw.gateway_id] = [
        {"id": 7, "setting": "mode", "value": "green"},
        {"id": 8, "setting": "turbo", "value": 1},
        {"id": 9, "setting": "reserve_soc_pct", "value": 35},
        {"id": 10, "setting": "reserve_soc_pct", "value": 40},
    ]
    stats = fleet(server, [gw], duration=7200)
    results = server.results[gw.gateway_id]
    by_id = defaultdict(set)
    for result in results:
        by_id[result["command_id"]].add(json.dumps(result, sort_keys=True))
    assert all(len(answers) == 1 for answers in by_id.values())  # repeats are identical
    answer = {cid: json.loads(next(iter(a))) for cid, a in by_id.items()}
    assert answer[7]["status"] == "applied" and answer[10]["status"] == "applied"
    assert answer[8]["status"] == "rejected" and "unknown setting" in answer[8]["reason"]
    assert answer[9]["status"] == "rejected" and "steps of 10" in answer[9]["reason"]
    assert stats.commands_applied == 2 and stats.commands_rejected == 2
    samples = sorted(server.samples[gw.gateway_id].values(), key=lambda s: s["seq"])
    assert samples[-1]["pcs_mode"] == "green"
    # a status right after applying: the settings now in force
    applied_at = answer[7]["ts"]
    after = [s for s in server.statuses[gw.gateway_id] if s["ts"] == applied_at]
    assert after and after[-1]["settings"]["mode"] == "green"
    assert after[-1]["settings"]["reserve_soc_pct"] == 40


def test_a_fault_sends_start_and_clear_and_stops_the_pcs_meanwhile():
    server = FakeEssmon()
    (gw,) = credentials(1)
    start = START.replace(hour=10)
    fault = parse_fault("E203@+1h/30m", start=start)
    warning = parse_fault("W401@+2h", start=start)
    fleet(server, [gw], start=start, duration=4 * 3600, faults=[fault, warning])
    events = server.events[gw.gateway_id]
    assert [(e["code"], e["state"], e["severity"]) for e in events] == [
        ("E203", "start", "major"),
        ("E203", "clear", "major"),
        ("W401", "start", "minor"),
        ("W401", "clear", "minor"),
    ]
    assert events[0]["ts"] == (start + timedelta(hours=1)).isoformat()
    assert events[1]["ts"] == (start + timedelta(hours=1, minutes=30)).isoformat()
    samples = {s["ts"]: s for s in server.samples[gw.gateway_id].values()}
    during = samples[(start + timedelta(hours=1, minutes=15)).isoformat()]
    before = samples[(start + timedelta(minutes=55)).isoformat()]
    after = samples[(start + timedelta(hours=2, minutes=5)).isoformat()]
    assert during["pcs_state"] == "fault" and during["pv_w"] == 0 and during["battery_w"] == 0
    assert during["grid_w"] == during["load_w"]
    assert during["battery_temp_c"] > before["battery_temp_c"] + 5  # over-temperature
    assert before["pcs_state"] == after["pcs_state"] == "running"  # a warning runs on


def test_random_faults_come_at_about_the_rate_asked():
    server = FakeEssmon()
    gateways = credentials(20)
    fleet(server, gateways, duration=2 * 86400, interval=600, speed=math.inf, fault_rate=1.0)
    starts = [e for events in server.events.values() for e in events if e["state"] == "start"]
    assert 15 <= len(starts) <= 70  # 40 expected
    assert {e["severity"] for e in starts} <= {"info", "minor", "major", "critical"}


def test_credentials_come_from_the_provisioning_csv(tmp_path):
    path = tmp_path / "gw.csv"
    path.write_text(
        "gateway_id,password,model,part_number,device_secret\n"
        f"26AB00000001,pw,KP-GWBT-C,,{'a' * 32}\n"
        "26AB00000002,pw,KP-GWBT-A,,\n"
    )
    assert read_credentials(path) == [GatewayCredentials("26AB00000001", "KP-GWBT-C", "a" * 32)]
    (tmp_path / "old.csv").write_text("gateway_id,password,model\n26AB00000001,pw,X\n")
    with pytest.raises(ValueError, match="device_secret"):
        read_credentials(tmp_path / "old.csv")


# --- end to end against essmon ------------------------------------------------------------


async def _in_thread(func, *args, **kwargs):
    """An ORM call off the event loop, on a thread that closes its connection after: a
    connection left on an executor thread keeps the test database from being dropped."""
    from django.db import connection

    def call():
        try:
            return func(*args, **kwargs)
        finally:
            connection.close()

    return await asyncio.to_thread(call)


def test_end_to_end_over_https(live_server, tmp_path):
    from essmon.commands.models import Command
    from essmon.commands.services import request_setting_change
    from essmon.telemetry.models import GatewayEvent, GatewayLiveState, Sample

    creds, gateways = provision_fleet(tmp_path, ["KP-GWBT-A", "KP-GWBT-A", "KP-GWBT-C"])
    first, second, third = (gateways[c.gateway_id] for c in creds)
    start = (datetime.now(JST) - timedelta(days=1)).replace(second=0, microsecond=0)
    mode = request_setting_change(gateway=first, setting="mode", value="green", requested_by=None)
    # one the device cannot apply (essmon itself would never make it)
    odd = Command.objects.create(
        gateway=second, setting="turbo", value=1, expires_at=mode.expires_at
    )
    config = FleetConfig(
        start=start,
        interval=60,
        duration=3 * 3600,
        speed=3600,
        outages=[parse_outage("+1h,+2h", start=start)],
        faults=[parse_fault(f"E305@+30m/10m,{third.gateway_id}", start=start)],
        max_batch=25,
        drain_timeout=15,
    )
    later: dict = {}

    async def go() -> FleetStats:
        async def meanwhile() -> None:
            await asyncio.sleep(1.5)  # about 1.5 simulated hours in: inside the outage
            later["reserve"] = await _in_thread(
                request_setting_change,
                gateway=third,
                setting="reserve_soc_pct",
                value=50,
                requested_by=None,
            )

        helper = asyncio.create_task(meanwhile())
        stats = await run_fleet(config, creds, HttpsTransport(live_server.url))
        await helper
        return stats

    began = time.monotonic()
    stats = run_async(go())
    assert time.monotonic() - began < 20
    assert stats.errors == 0 and stats.rejected == 0 and stats.buffered == 0
    assert stats.generated == stats.accepted == 3 * 180 and stats.duplicates == 0
    for gw in gateways.values():
        seqs = list(Sample.objects.filter(gateway=gw).order_by("ts").values_list("seq", flat=True))
        assert seqs == list(range(180)), gw.gateway_id  # none lost, none twice, in time order
        received = dict(Sample.objects.filter(gateway=gw).values_list("seq", "received_at"))
        # the outage's samples arrived after everything before it, in a few backfill
        # batches of at most 25, no later than the first sample after it
        outage = [received[s] for s in range(60, 120)]
        assert min(outage) >= max(received[s] for s in range(60))
        assert max(outage) <= received[120] and len(set(outage)) <= 4
    modes = list(
        Sample.objects.filter(gateway=first).order_by("seq").values_list("pcs_mode", flat=True)
    )
    # At the first poll, after the first send: at ×3600 a sample is generated every 17 ms of
    # real time, so how many come before the first round trip ends depends on the machine's
    # load (5 to 10 on a busy CI run); what matters is early, once, and for good.
    switch = modes.index("green")
    assert (
        1 <= switch <= 30
        and set(modes[:switch]) == {"economy"}
        and set(modes[switch:]) == {"green"}
    )
    for command, status in ((mode, "applied"), (odd, "rejected"), (later["reserve"], "applied")):
        command.refresh_from_db()
        assert command.status == status, (command, command.reason)
    assert "unknown setting" in odd.reason
    assert GatewayLiveState.objects.get(gateway=first).settings_in_force["mode"] == "green"
    assert GatewayLiveState.objects.get(gateway=third).settings_in_force["reserve_soc_pct"] == 50
    events = GatewayEvent.objects.filter(gateway=third).order_by("ts")
    assert [(e.code, e.state) for e in events] == [("E305", "start"), ("E305", "clear")]
    faulted = Sample.objects.filter(gateway=third, seq__in=range(30, 40))
    assert {s.pcs_state for s in faulted} == {"fault"}


@pytest.mark.django_db(transaction=True)
def test_end_to_end_over_mqtt(tmp_path):
    from essmon.commands.models import Command
    from essmon.commands.services import request_setting_change
    from essmon.telemetry.models import ConnectivityInterval, GatewayLiveState, Sample
    from tests.mosquitto import Mosquitto
    from tests.mqtt_helpers import WorkerThread
    from tests.waiting import wait_until

    creds, gateways = provision_fleet(tmp_path, ["KP-GWBT-A", "KP-GWBT-C"])
    broker = Mosquitto(tmp_path / "mosquitto")
    broker.start()
    try:
        broker.reload()
        start = (datetime.now(JST) - timedelta(days=1)).replace(second=0, microsecond=0)
        config = FleetConfig(
            start=start,
            interval=60,
            duration=2 * 3600,
            speed=1800,
            outages=[parse_outage("+30m,+1h", start=start)],
            drain_timeout=15,
        )
        first = gateways[creds[0].gateway_id]
        made: dict = {}

        async def go() -> FleetStats:
            async def meanwhile() -> None:
                # once its status is in, the gateway is connected and subscribed: a command
                # published before its first connection would find no session to wait in
                def heard() -> bool:
                    return GatewayLiveState.objects.filter(
                        gateway=first, status_ts__isnull=False
                    ).exists()

                for _ in range(100):
                    if await _in_thread(heard):
                        break
                    await asyncio.sleep(0.1)
                else:
                    raise AssertionError("the gateway's first status: not within 10 s")
                made["command"] = await _in_thread(
                    request_setting_change,
                    gateway=first,
                    setting="mode",
                    value="storage_priority",
                    requested_by=None,
                )

            helper = asyncio.create_task(meanwhile())
            stats = await run_fleet(config, creds, MqttTransport(f"mqtt://127.0.0.1:{broker.port}"))
            await helper
            return stats

        with WorkerThread(broker):
            stats = run_async(go())
            assert stats.buffered == 0 and stats.generated == 2 * 120
            for gw in gateways.values():
                wait_until(
                    lambda gw=gw: Sample.objects.filter(gateway=gw).count() == 120, 10, "samples"
                )
                seqs = (
                    Sample.objects.filter(gateway=gw).order_by("ts").values_list("seq", flat=True)
                )
                assert list(seqs) == list(range(120))
            command = made["command"]
            wait_until(
                lambda: Command.objects.get(pk=command.pk).status == Command.Status.APPLIED,
                10,
                "the command's result",
            )
        assert stats.commands_applied == 1
        assert Sample.objects.filter(gateway=first, pcs_mode="storage_priority").exists()
        for gw in gateways.values():
            # the outage cut the link with the last will: essmon closed the gateway's
            # connectivity at once and opened a new interval when it came back
            assert ConnectivityInterval.objects.filter(gateway=gw).count() == 2
    finally:
        broker.stop()
