"""The monitoring site's pages and endpoints through Django's test client: who may open
what, the live panel, history data and CSV, the settings form and its audit log, and the
fleet table's sorting, filtering, search and paging."""

import csv
import io
import json
from datetime import datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from essmon.alerts.models import Alert
from essmon.commands.models import Command
from essmon.core.jst import JST
from essmon.dealers.models import DealerLink
from essmon.monitoring.selectors import today_jst
from essmon.telemetry.connectivity import connection_lost
from essmon.telemetry.ingest import ingest_samples, record_status
from essmon.telemetry.models import EnergyRollup, GatewayLiveState
from tests import factories
from tests.factories import sample

pytestmark = pytest.mark.django_db

IN_FORCE = {
    "mode": "economy",
    "charge_window": ["23:00", "07:00"],
    "discharge_window": ["07:00", "23:00"],
    "reserve_soc_pct": 30,
    "export_limit_w": 5900,
}


def link(gateway, dealer):
    return DealerLink.objects.create(gateway=gateway, dealer=dealer, created_by=gateway.owner)


def feed(gateway, *, minutes_ago: float = 1, **values):
    now = timezone.now()
    ts = now - timedelta(minutes=minutes_ago)
    ingest_samples(
        gateway=gateway, samples=[{**sample(1), "ts": ts.isoformat(), **values}], now=now
    )


def report_settings(gateway, **overrides):
    record_status(
        gateway=gateway,
        raw={
            "ts": timezone.now().isoformat(),
            "firmware": "1.4.2",
            "settings": {**IN_FORCE, **overrides},
        },
    )


@pytest.fixture
def gw():
    return factories.connected_gateway()


def as_user(client, user):
    client.force_login(user)
    return client


def urls(gateway_id):
    return [
        reverse(name, kwargs={"gateway_id": gateway_id})
        for name in (
            "monitoring:live",
            "monitoring:live_fragment",
            "monitoring:history",
            "monitoring:history_data",
            "monitoring:history_csv",
            "monitoring:settings",
            "monitoring:settings_progress",
        )
    ]


# --- who may open what ---------------------------------------------------------------


def test_anonymous_visitors_go_to_the_monitoring_sites_login(client, gw):
    response = client.get(reverse("monitoring:live", kwargs={"gateway_id": gw.gateway_id}))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("monitoring:login"))
    page = client.get(reverse("monitoring:login")).content.decode()
    assert "モニタリングサイト" in page and 'for="id_email"' in page


def test_the_monitoring_login_lands_on_the_monitoring_site(client, gw):
    response = client.post(
        reverse("monitoring:login"),
        {"email": gw.owner.email, "password": factories.USER_PASSWORD},
    )
    assert response.status_code == 302 and response["Location"] == reverse("monitoring:index")


def test_owner_and_linked_dealer_open_every_page_others_get_404(client, gw):
    dealer = factories.dealer()
    link(gw, dealer)
    stranger_dealer = factories.dealer()
    other_customer = factories.customer()
    for user, expected in (
        (gw.owner, 200),
        (dealer.user, 200),
        (stranger_dealer.user, 404),
        (other_customer, 404),
    ):
        as_user(client, user)
        for url in urls(gw.gateway_id):
            assert client.get(url).status_code == expected, (user.email, url)
    as_user(client, stranger_dealer.user)
    response = client.post(
        reverse("monitoring:settings", kwargs={"gateway_id": gw.gateway_id}), {"mode": "green"}
    )
    assert response.status_code == 404 and not Command.objects.exists()


def test_an_ended_link_closes_the_dealers_access_at_once(client, gw):
    dealer = factories.dealer()
    made = link(gw, dealer)
    as_user(client, dealer.user)
    url = reverse("monitoring:live", kwargs={"gateway_id": gw.gateway_id})
    assert client.get(url).status_code == 200
    made.ended_at = timezone.now()
    made.save()
    assert client.get(url).status_code == 404


def test_a_customer_with_one_gateway_goes_straight_to_it(client, gw):
    as_user(client, gw.owner)
    response = client.get(reverse("monitoring:index"))
    assert response["Location"] == reverse("monitoring:live", kwargs={"gateway_id": gw.gateway_id})


def test_the_switcher_moves_between_own_gateways_only(client, gw):
    second = factories.owned_gateway(owner=gw.owner, site_name="別荘")
    foreign = factories.owned_gateway()
    as_user(client, gw.owner)
    page = client.get(reverse("monitoring:live", kwargs={"gateway_id": gw.gateway_id}))
    assert "表示するゲートウェイ" in page.content.decode()
    assert second.gateway_id in page.content.decode()
    switch = reverse("monitoring:switch")
    assert client.get(switch, {"gateway": second.gateway_id})["Location"] == reverse(
        "monitoring:live", kwargs={"gateway_id": second.gateway_id}
    )
    assert client.get(switch, {"gateway": foreign.gateway_id}).status_code == 404


# --- live --------------------------------------------------------------------------------


def test_live_panel_shows_flows_soc_mode_and_today(client, gw):
    feed(
        gw,
        pv_w=3200.0,
        load_w=900.0,
        grid_w=-1300.0,
        battery_w=-1000.0,
        soc_pct=64.0,
        pcs_mode="green",
    )
    page = (
        as_user(client, gw.owner)
        .get(reverse("monitoring:live_fragment", kwargs={"gateway_id": gw.gateway_id}))
        .content.decode()
    )
    assert "オンライン" in page and "64<small>%</small>" in page
    assert "グリーンモード" in page and "運転中" in page
    assert "3.2 kW" in page and "900 W" in page and "売電中" in page and "充電中" in page
    assert 'hx-trigger="every 5s"' in page
    assert '<rect width="64" height="10"/>' in page  # the 蓄電残量 bar
    assert "前のものです" not in page


def test_live_panel_says_plainly_when_the_data_is_stale(client, gw):
    feed(gw, minutes_ago=42)
    page = (
        as_user(client, gw.owner)
        .get(reverse("monitoring:live_fragment", kwargs={"gateway_id": gw.gateway_id}))
        .content.decode()
    )
    assert "表示中のデータは42分前のものです" in page


def test_a_last_will_shows_the_gateway_offline_at_once_everywhere(client, gw):
    """Protocol section 4: after the broker publishes the last will the gateway is offline
    from its last message, on the live panel and in the fleet, without waiting for the
    silence threshold; the next message brings it back."""
    dealer = factories.dealer()
    link(gw, dealer)
    feed(gw, minutes_ago=0.5)
    fragment = reverse("monitoring:live_fragment", kwargs={"gateway_id": gw.gateway_id})
    fleet = reverse("monitoring:index")
    as_user(client, dealer.user)
    assert "オンライン" in client.get(fragment).content.decode()
    connection_lost(gateway=gw)
    assert "オフライン" in client.get(fragment).content.decode()
    assert "オンライン" not in client.get(fragment).content.decode()
    row = client.get(fleet).content.decode()
    assert 'class="pill offline">オフライン' in row and 'class="pill online"' not in row
    feed(gw, minutes_ago=0)
    assert "オンライン" in client.get(fragment).content.decode()
    assert 'class="pill online">オンライン' in client.get(fleet).content.decode()


def test_live_panel_of_a_gateway_never_heard_from(client, gw):
    page = (
        as_user(client, gw.owner)
        .get(reverse("monitoring:live", kwargs={"gateway_id": gw.gateway_id}))
        .content.decode()
    )
    assert "未接続" in page and "データ受信待ち" in page


# --- history -----------------------------------------------------------------------------


def rollup(gateway, period, start, **kwh):
    zero = dict.fromkeys(
        ["pv_kwh", "load_kwh", "grid_import_kwh", "grid_export_kwh", "charge_kwh", "discharge_kwh"],
        0.0,
    )
    EnergyRollup.objects.create(
        gateway=gateway,
        period=period,
        start=start,
        samples=60,
        updated_at=timezone.now(),
        **{**zero, **kwh},
    )


def test_history_day_has_raw_curve_and_hour_bars(client, gw):
    day = today_jst() - timedelta(days=1)
    start = datetime(day.year, day.month, day.day, tzinfo=JST)
    samples = [
        {**sample(i), "ts": (start + timedelta(minutes=i)).isoformat(), "soc_pct": 50.0 + i}
        for i in range(5)
    ]
    samples.append({**sample(9), "ts": (start + timedelta(days=1)).isoformat()})  # next day
    ingest_samples(gateway=gw, samples=samples, now=timezone.now())
    rollup(gw, "hour", start, pv_kwh=2.0, load_kwh=1.0, grid_export_kwh=0.5)
    rollup(gw, "hour", start + timedelta(hours=1), pv_kwh=1.0, load_kwh=3.0, grid_import_kwh=1.5)
    as_user(client, gw.owner)
    url = reverse("monitoring:history_data", kwargs={"gateway_id": gw.gateway_id})
    data = client.get(url, {"view": "day", "date": day.isoformat()}).json()
    assert data["curve"]["soc_pct"] == [50.0, 51.0, 52.0, 53.0, 54.0]
    assert data["curve"]["ts"][0] == int(start.timestamp())
    assert data["energy"]["pv_kwh"] == [2.0, 1.0]
    assert data["totals"]["load_kwh"] == 4.0
    assert data["self_consumption"] == pytest.approx(2.5 / 3)
    assert data["self_sufficiency"] == pytest.approx(2.5 / 4)
    page = client.get(
        reverse("monitoring:history", kwargs={"gateway_id": gw.gateway_id}),
        {"view": "day", "date": day.isoformat()},
    ).content.decode()
    assert "自家消費率" in page and "83%" in page and "自給率" in page and "62%" in page
    assert 'id="history-data"' in page and "前へ" in page and "次へ" in page


def test_history_month_year_and_lifetime_read_rollups(client, gw):
    this_year = today_jst().year
    for month in (1, 2):
        rollup(gw, "month", datetime(this_year - 1, month, 1, tzinfo=JST), pv_kwh=100.0 * month)
    rollup(gw, "month", datetime(this_year, 1, 1, tzinfo=JST), pv_kwh=50.0)
    rollup(gw, "day", datetime(this_year, 1, 5, tzinfo=JST), pv_kwh=7.0)
    as_user(client, gw.owner)
    url = reverse("monitoring:history_data", kwargs={"gateway_id": gw.gateway_id})
    year = client.get(url, {"view": "year", "date": f"{this_year - 1}-06-01"}).json()
    assert year["energy"]["pv_kwh"] == [100.0, 200.0] and "curve" not in year
    month = client.get(url, {"view": "month", "date": f"{this_year}-01-31"}).json()
    assert month["energy"]["pv_kwh"] == [7.0]
    lifetime = client.get(url, {"view": "lifetime"}).json()
    assert lifetime["energy"]["pv_kwh"] == [300.0, 50.0]


@pytest.mark.parametrize(
    "params, message",
    [
        ({"view": "week"}, "view: 'week' is not one of day, month, year, lifetime"),
        ({"date": "2026-13-01"}, "date: '2026-13-01' is not a date like 2026-11-24"),
        ({"date": "1999-12-31"}, "date: 1999-12-31 is outside"),
    ],
)
def test_history_endpoints_refuse_bad_parameters_precisely(client, gw, params, message):
    as_user(client, gw.owner)
    data = client.get(
        reverse("monitoring:history_data", kwargs={"gateway_id": gw.gateway_id}), params
    )
    assert data.status_code == 400 and data.json()["error"].startswith(message)
    csv_response = client.get(
        reverse("monitoring:history_csv", kwargs={"gateway_id": gw.gateway_id}), params
    )
    assert csv_response.status_code == 400 and message in csv_response.content.decode()
    page = client.get(reverse("monitoring:history", kwargs={"gateway_id": gw.gateway_id}), params)
    assert page.status_code == 302  # back to today, with a message


def test_history_csv_has_the_same_data(client, gw):
    day = today_jst() - timedelta(days=1)
    start = datetime(day.year, day.month, day.day, tzinfo=JST)
    ingest_samples(
        gateway=gw,
        samples=[{**sample(0), "ts": (start + timedelta(hours=12)).isoformat(), "pv_w": 4321.0}],
        now=timezone.now(),
    )
    rollup(gw, "hour", start + timedelta(hours=12), pv_kwh=3.25)
    response = as_user(client, gw.owner).get(
        reverse("monitoring:history_csv", kwargs={"gateway_id": gw.gateway_id}),
        {"view": "day", "date": day.isoformat()},
    )
    assert response["Content-Type"].startswith("text/csv")
    assert f"{gw.gateway_id}_day_{day:%Y%m%d}.csv" in response["Content-Disposition"]
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[0][0] == "日時" and rows[1][0] == f"{day:%Y-%m-%d} 12:00:00"
    assert rows[1][1] == "4321.0"
    energy_header = rows.index(next(r for r in rows if r and r[0] == "期間"))
    assert rows[energy_header + 1][:2] == [f"{day:%Y-%m-%d} 12:00", "3.25"]
    assert rows[-4][0] == "合計"
    assert rows[-2][0] == "自家消費率 (%)" and rows[-1] == ["自給率 (%)", ""]


# --- settings and audit ------------------------------------------------------------------


def settings_url(gw):
    return reverse("monitoring:settings", kwargs={"gateway_id": gw.gateway_id})


def form_data(drawn=IN_FORCE, **overrides):
    """What the page posts: the fields as drawn from ``drawn`` (posted back as the hidden
    ``basis``), with the user's edits."""
    data = {
        "mode": drawn["mode"],
        "charge_start": drawn["charge_window"][0],
        "charge_end": drawn["charge_window"][1],
        "discharge_start": drawn["discharge_window"][0],
        "discharge_end": drawn["discharge_window"][1],
        "reserve_soc_pct": str(drawn["reserve_soc_pct"]),
        "export_limit_w": str(drawn["export_limit_w"]),
        "basis": json.dumps(drawn),
    }
    return {**data, **overrides}


def test_settings_page_shows_what_is_in_force_and_the_models_ranges(client, gw):
    report_settings(gw)
    page = as_user(client, gw.owner).get(settings_url(gw)).content.decode()
    assert "現在の設定" in page and "経済モード" in page and "23:00〜07:00" in page
    assert "5,900W" in page and "0〜100%、10%単位" in page and "0〜5,900W" in page
    assert 'min="0"' in page and 'max="100"' in page and 'step="10"' in page
    for label in (
        "運転モード",
        "充電開始時刻",
        "放電終了時刻",
        "停電時用の蓄電残量(%)",
        "売電上限(W)",
    ):
        assert label in page
    assert "設定を変更する" in page


def test_a_dealers_change_is_one_command_per_changed_setting_with_before_and_who(client, gw):
    report_settings(gw)
    dealer = factories.dealer(company="洛南電設")
    link(gw, dealer)
    as_user(client, dealer.user)
    response = client.post(settings_url(gw), form_data(mode="green", reserve_soc_pct="50"))
    assert response.status_code == 302
    commands = {c.setting: c for c in Command.objects.all()}
    assert set(commands) == {"mode", "reserve_soc_pct"}
    assert commands["mode"].value == "green" and commands["mode"].previous_value == "economy"
    assert commands["reserve_soc_pct"].previous_value == 30
    assert commands["mode"].requested_as == f"販売店 洛南電設({dealer.user.name})"
    # the owner sees who changed what, from what to what, and how far it got
    log = as_user(client, gw.owner).get(settings_url(gw)).content.decode()
    assert "販売店 洛南電設" in log and "経済モード" in log and "グリーンモード" in log
    assert "送信待ち" in log and 'hx-trigger="every 3s' in log
    Command.objects.update(status=Command.Status.APPLIED, answered_at=timezone.now())
    progress = client.get(
        reverse("monitoring:settings_progress", kwargs={"gateway_id": gw.gateway_id})
    ).content.decode()
    assert "反映済み" in progress and "hx-trigger" not in progress


def test_current_settings_follow_an_applied_change_without_a_reload(client, gw):
    """issue 12 §4: the progress refresh carries 現在の設定 out of band, and goes on until
    the gateway's report of its settings has caught up with what it applied."""
    report_settings(gw)
    dealer = factories.dealer()
    link(gw, dealer)
    as_user(client, dealer.user).post(settings_url(gw), form_data(mode="green"))
    progress_url = reverse("monitoring:settings_progress", kwargs={"gateway_id": gw.gateway_id})
    later = timezone.now() + timedelta(seconds=1)
    Command.objects.update(status=Command.Status.APPLIED, answered_at=later, result_ts=later)
    progress = client.get(progress_url).content.decode()
    assert 'id="in-force" aria-labelledby="in-force-heading" hx-swap-oob="true"' in progress
    oob = progress[progress.index('<section id="in-force"') :]
    assert "経済モード" in oob and "設定の報告を待っています" in oob
    assert 'hx-trigger="every 3s"' in progress  # still asking: the report is to come
    record_status(
        gateway=gw,
        raw={
            "ts": (later + timedelta(seconds=1)).isoformat(),
            "firmware": "1.4.2",
            "settings": {**IN_FORCE, "mode": "green"},
        },
    )
    progress = client.get(progress_url).content.decode()
    oob = progress[progress.index('<section id="in-force"') :]
    assert "グリーンモード" in oob and "経済モード" not in oob
    assert "設定の報告を待っています" not in oob and "hx-trigger" not in progress
    # the page itself carries the card once, not out of band
    page = client.get(settings_url(gw)).content.decode()
    assert page.count('<section id="in-force"') == 1 and "hx-swap-oob" not in page


@pytest.mark.parametrize(
    "overrides, field_message",
    [
        ({"reserve_soc_pct": "35"}, "停電時用の蓄電残量は10%単位で指定してください。"),
        ({"reserve_soc_pct": "120"}, "停電時用の蓄電残量は0〜100%で指定してください。"),
        ({"reserve_soc_pct": "abc"}, "停電時用の蓄電残量は整数で入力してください。"),
        ({"export_limit_w": "6000"}, "売電上限は0〜5,900Wで指定してください。"),
        (
            {"charge_start": "25:00"},
            "充電時間帯の時刻は「07:00」のように24時間制で指定してください。",
        ),
        ({"charge_end": "23:00"}, "充電時間帯の開始時刻と終了時刻は別の時刻にしてください。"),
        ({"mode": "turbo"}, "正しく選択してください。"),
        ({"discharge_end": ""}, "放電時間帯は開始時刻と終了時刻の両方を入力してください。"),
        ({"basis": "{not json"}, "画面を開き直してから、もう一度変更してください。"),
    ],
)
def test_bad_settings_get_a_japanese_message_and_keep_the_input(
    client, gw, overrides, field_message
):
    report_settings(gw)
    response = as_user(client, gw.owner).post(settings_url(gw), form_data(**overrides))
    page = response.content.decode()
    assert response.status_code == 400 and not Command.objects.exists()
    assert field_message in page or field_message.split("。")[0] in page
    for field, value in overrides.items():
        if value and field in ("reserve_soc_pct", "export_limit_w", "charge_start", "charge_end"):
            assert f'value="{value}"' in page


def test_an_unchanged_form_says_so(client, gw):
    report_settings(gw)
    response = as_user(client, gw.owner).post(settings_url(gw), form_data())
    assert response.status_code == 400 and "変更された設定はありません" in response.content.decode()


def test_a_page_left_open_does_not_undo_what_others_changed_meanwhile(client, gw):
    report_settings(gw)  # economy in force: the dealer's page is drawn from it
    drawn = form_data()
    report_settings(gw, mode="green")  # meanwhile the owner's change was applied
    dealer = factories.dealer()
    link(gw, dealer)
    as_user(client, dealer.user).post(settings_url(gw), {**drawn, "reserve_soc_pct": "50"})
    assert [(c.setting, c.value) for c in Command.objects.all()] == [("reserve_soc_pct", 50)]


def test_choosing_the_old_value_again_takes_back_a_change_on_its_way(client, gw):
    report_settings(gw)
    as_user(client, gw.owner).post(settings_url(gw), form_data(mode="green"))
    page = client.get(settings_url(gw)).content.decode()
    assert 'value="green" id="id_mode_1" checked' in page  # the change on its way is shown
    shown = {**IN_FORCE, "mode": "green"}  # the page shows the change on its way
    response = client.post(settings_url(gw), form_data(drawn=shown, mode="economy"))
    assert response.status_code == 302
    statuses = [(c.value, c.status) for c in Command.objects.order_by("pk")]
    assert statuses == [("green", "superseded"), ("economy", "pending")]


def test_a_gateway_that_never_reported_takes_a_single_setting(client, gw):
    as_user(client, gw.owner)
    page = client.get(settings_url(gw)).content.decode()
    assert "設定の報告がまだ届いていません" in page
    response = client.post(settings_url(gw), {"mode": "green", "basis": "{}"})
    assert response.status_code == 302
    assert [(c.setting, c.value) for c in Command.objects.all()] == [("mode", "green")]


def test_full_width_times_are_accepted(client, gw):
    report_settings(gw)
    as_user(client, gw.owner).post(settings_url(gw), form_data(charge_start="２２:００"))
    assert Command.objects.get().value == ["22:00", "07:00"]


def test_industrial_model_has_its_own_ranges(client):
    gw = factories.connected_gateway()
    gw.model = "KP-GWBT-C"
    gw.save()
    report_settings(gw, reserve_soc_pct=20, export_limit_w=15000)
    as_user(client, gw.owner)
    page = client.get(settings_url(gw)).content.decode()
    assert "10〜100%、5%単位" in page and "0〜20,000W" in page
    assert client.post(settings_url(gw), form_data(reserve_soc_pct="25", export_limit_w="20000"))
    assert {c.setting for c in Command.objects.all()} == {"reserve_soc_pct", "export_limit_w"}


# --- fleet -------------------------------------------------------------------------------


@pytest.fixture
def fleet_dealer():
    dealer = factories.dealer()
    now = timezone.now()
    made = []
    for i, (soc, seen_minutes_ago, pv) in enumerate(
        [(80.0, 1, 12.5), (20.0, 90, 3.0), (55.0, 2, None), (None, None, None)]
    ):
        owner = factories.customer(name=f"顧客 {i}号")
        gw = factories.owned_gateway(owner=owner, site_name=f"案件{i}")
        link(gw, dealer)
        if seen_minutes_ago is not None:
            GatewayLiveState.objects.create(
                gateway=gw,
                last_seen_at=now - timedelta(minutes=seen_minutes_ago),
                latest={"soc_pct": soc},
            )
        if pv is not None:
            midnight = datetime.combine(today_jst(), datetime.min.time(), tzinfo=JST)
            rollup(gw, "day", midnight, pv_kwh=pv)
        made.append(gw)
    # gateway 1: one alert still open, one closed
    for kind, closed in (("fault", None), ("offline", now)):
        Alert.objects.create(
            gateway=made[1],
            kind=kind,
            code="E101" if kind == "fault" else "",
            severity="major",
            title="t",
            since=now - timedelta(hours=2),
            closed_at=closed,
        )
    factories.owned_gateway(site_name="他社の案件")  # not entrusted: never listed
    return dealer, made


def fleet_ids(client, **params):
    page = client.get(reverse("monitoring:index"), params).content.decode()
    return [
        cell.split("<a ")[1].split(">")[1].split("<")[0]
        for cell in page.split('<td data-label="ゲートウェイID"')[1:]
    ]


def test_fleet_lists_the_entrusted_gateways_with_their_state(client, fleet_dealer):
    dealer, _ = fleet_dealer
    as_user(client, dealer.user)
    page = client.get(reverse("monitoring:index")).content.decode()
    assert "4台" in page and "他社の案件" not in page
    assert "顧客 0号" in page and "12.5 kWh" in page and "80%" in page
    assert "オンライン" in page and "オフライン" in page and "未接続" in page and "1件" in page


def test_fleet_sorts_filters_and_searches(client, fleet_dealer):
    dealer, made = fleet_dealer
    ids = [g.gateway_id for g in made]
    as_user(client, dealer.user)
    assert fleet_ids(client, sort="soc") == [ids[1], ids[2], ids[0], ids[3]]  # empty last
    assert fleet_ids(client, sort="-soc") == [ids[0], ids[2], ids[1], ids[3]]
    assert fleet_ids(client, sort="-pv_today")[:2] == [ids[0], ids[1]]
    assert fleet_ids(client, sort="-alerts")[0] == ids[1]
    assert fleet_ids(client, status="online") == [ids[0], ids[2]]
    assert fleet_ids(client, status="offline") == [ids[1]]
    assert fleet_ids(client, status="never") == [ids[3]]
    assert fleet_ids(client, status="alerts") == [ids[1]]
    assert fleet_ids(client, q="案件2") == [ids[2]]
    assert fleet_ids(client, q="顧客 3号") == [ids[3]]
    assert fleet_ids(client, q=ids[0].lower()) == [ids[0]]
    # unknown controls fall back to the defaults instead of failing
    assert (
        client.get(reverse("monitoring:index"), {"sort": "x;drop", "status": "?"}).status_code
        == 200
    )


def test_fleet_pages_by_fifty(client):
    dealer = factories.dealer()
    owner = factories.customer()
    for _ in range(53):
        link(factories.gateway(state="claimed", owner=owner), dealer)
    as_user(client, dealer.user)
    first = client.get(reverse("monitoring:index")).content.decode()
    assert "53台(1〜50台目を表示)" in first and "1 / 2ページ" in first
    second = client.get(reverse("monitoring:index"), {"page": 2}).content.decode()
    assert "51〜53台目を表示" in second
    assert client.get(reverse("monitoring:index"), {"page": "zz"}).status_code == 200


def test_json_view_data_is_valid_json_for_an_empty_gateway(client, gw):
    data = as_user(client, gw.owner).get(
        reverse("monitoring:history_data", kwargs={"gateway_id": gw.gateway_id})
    )
    parsed = json.loads(data.content)
    assert parsed["x"] == [] and parsed["curve"]["ts"] == [] and parsed["self_consumption"] is None


def test_nul_in_ids_and_queries_is_not_found_not_a_crash(client, gw):
    as_user(client, gw.owner)
    assert client.get(reverse("monitoring:index"), {"q": "a\x00b"}).status_code in (200, 302)
    assert client.get(reverse("monitoring:switch"), {"gateway": "a\x00b"}).status_code == 404
    assert client.get("/monitoring/a%00b/").status_code == 404


def test_search_finds_names_typed_in_either_width(client):
    dealer = factories.dealer()
    full = factories.owned_gateway(site_name="御室邸２号棟")
    half = factories.owned_gateway(site_name="御室邸3号棟")
    link(full, dealer)
    link(half, dealer)
    as_user(client, dealer.user)
    assert fleet_ids(client, q="御室邸２号棟") == [full.gateway_id]
    assert fleet_ids(client, q="御室邸2号棟") == [full.gateway_id]
    assert fleet_ids(client, q="御室邸３号棟") == [half.gateway_id]


def test_an_odd_value_in_the_live_state_does_not_break_the_fleet(client, fleet_dealer):
    dealer, made = fleet_dealer
    GatewayLiveState.objects.filter(gateway=made[0]).update(latest={"soc_pct": None})
    GatewayLiveState.objects.filter(gateway=made[2]).update(latest={"soc_pct": "55"})
    as_user(client, dealer.user)
    assert fleet_ids(client, sort="-soc")[0] == made[1].gateway_id


def test_the_fleet_can_be_sorted_without_the_heading_row(client, fleet_dealer):
    dealer, _ = fleet_dealer
    page = as_user(client, dealer.user).get(reverse("monitoring:index")).content.decode()
    assert '<label for="fleet-sort">並べ替え</label>' in page and "蓄電残量の少ない順" in page


def test_a_panel_refreshing_after_logout_sends_the_whole_page_to_the_login(client, gw):
    live_page = f"/monitoring/{gw.gateway_id}/"
    response = client.get(
        reverse("monitoring:live_fragment", kwargs={"gateway_id": gw.gateway_id}),
        headers={"HX-Request": "true", "HX-Current-URL": f"http://testserver{live_page}"},
    )
    assert response.status_code == 200
    assert response["HX-Redirect"] == f"/monitoring/login/?next={live_page.replace('/', '%2F')}"


def test_the_live_panel_carries_the_samples_age_for_the_page_to_keep_counting(client, gw):
    feed(gw, minutes_ago=2)
    page = (
        as_user(client, gw.owner)
        .get(reverse("monitoring:live_fragment", kwargs={"gateway_id": gw.gateway_id}))
        .content.decode()
    )
    assert 'data-stale-after="180"' in page
    age = int(page.split('data-sample-age="')[1].split('"')[0])
    assert 120 <= age <= 125


def test_fleet_warranty_column_and_at_risk_filter(client):
    from essmon.telemetry.models import ConnectivityInterval

    dealer = factories.dealer()
    now = timezone.now()
    made = {}
    for name, silent_days in (("risky", 8), ("fine", 0)):
        gw = factories.owned_gateway(site_name=name)
        gw.claimed_at = now - timedelta(days=60)
        gw.save()
        link(gw, dealer)
        last = now - timedelta(days=silent_days)
        ConnectivityInterval.objects.create(
            gateway=gw, online_from=gw.claimed_at, online_until=last if silent_days else None
        )
        GatewayLiveState.objects.create(gateway=gw, last_seen_at=last)
        made[name] = gw
    as_user(client, dealer.user)
    assert fleet_ids(client, status="warranty_at_risk") == [made["risky"].gateway_id]
    page = client.get(reverse("monitoring:index")).content.decode()
    assert "延長保証 失効のおそれ" in page and "未確定" in page
