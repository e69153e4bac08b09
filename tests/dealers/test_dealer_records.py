"""販売店様による閲覧・変更の記録 (issue 12 §3): every dealer view of a system and every
change, collapsed per page, person and hour, shown on the customer's record page.

First the service (each kind, the collapse, polling, who is recorded, changes in the change's
transaction, a failed view record, the purge), then each dealer page through the client:
hit as the dealer, read back on the owner's 保守を任せている販売店様と操作履歴 page."""

from __future__ import annotations

import json
import logging
from datetime import date, datetime, timedelta

import pytest
import time_machine
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from essmon.alerts import services as alert_services
from essmon.alerts.models import Alert
from essmon.commands.models import Command
from essmon.core.jst import JST
from essmon.core.scheduler import JOBS
from essmon.dealers.disclosure import (
    RECORDED_ACTIVITIES,
    record_retention_text,
    recorded_activities,
)
from essmon.dealers.models import DealerAccess
from essmon.dealers.services import records
from essmon.dealers.services.links import link_dealer
from essmon.dealers.services.records import purge_dealer_records, record_change, record_view
from essmon.gateways.models import Gateway
from essmon.monitoring import services as monitoring_services
from essmon.telemetry.ingest import record_status
from essmon.telemetry.models import ConnectivityInterval, GatewayLiveState
from essmon.warranty import services as warranty_services
from essmon.warranty.models import DateChange, WarrantyDates
from tests import factories

pytestmark = pytest.mark.django_db

Action = DealerAccess.Action
VIEWS = [a for a in Action if a.value.startswith(("view_", "download_"))]
IN_FORCE = {
    "mode": "economy",
    "charge_window": ["23:00", "07:00"],
    "discharge_window": ["07:00", "23:00"],
    "reserve_soc_pct": 30,
    "export_limit_w": 5900,
}


@pytest.fixture
def world():
    """An owner's gateway, registered in time with both dates and online since, so that its
    certificate can be issued; a linked dealer; the settings in force reported."""
    owner = factories.customer(email="hanako@example.jp", name="御室 花子")
    gateway = factories.owned_gateway(owner=owner)
    registered = datetime(2024, 3, 1, 12, tzinfo=JST)
    Gateway.objects.filter(pk=gateway.pk).update(claimed_at=registered)
    gateway.refresh_from_db()
    WarrantyDates.objects.create(
        gateway=gateway, grid_connection_date=date(2024, 1, 10), received_date=date(2024, 1, 10)
    )
    ConnectivityInterval.objects.create(gateway=gateway, online_from=registered)
    GatewayLiveState.objects.create(gateway=gateway, last_seen_at=timezone.now())
    record_status(
        gateway=gateway,
        raw={"ts": timezone.now().isoformat(), "firmware": "1.4.2", "settings": IN_FORCE},
    )
    dealer = factories.dealer(
        company="洛南電設", name="保守 一郎", email="ichiro@rakunan.example.jp"
    )
    link_dealer(customer=owner, gateway=gateway, dealer=dealer)
    return {"owner": owner, "gateway": gateway, "dealer": dealer}


def view(world, action=Action.VIEW_LIVE, **kwargs):
    record_view(user=world["dealer"].user, gateway=world["gateway"], action=action, **kwargs)


def record_page(client, world) -> str:
    client.force_login(world["owner"])
    url = reverse("links:gateway", kwargs={"gateway_id": world["gateway"].gateway_id})
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


# --- the service ----------------------------------------------------------------------------


@pytest.mark.parametrize("action", VIEWS, ids=[a.value for a in VIEWS])
def test_each_view_kind_is_one_row_per_page_person_and_hour(world, action):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        view(world, action)
    for minutes in (10, 59):
        with time_machine.travel(start + timedelta(minutes=minutes), tick=False):
            view(world, action)
    row = DealerAccess.objects.get()
    assert (row.dealer, row.user, row.actor_name, row.action) == (
        world["dealer"],
        world["dealer"].user,
        "保守 一郎",
        action,
    )
    assert (row.count, row.at, row.last_at) == (3, start, start + timedelta(minutes=59))
    # an hour after the row's first view, the next view starts a new row
    with time_machine.travel(start + timedelta(minutes=61), tick=False):
        view(world, action)
    assert list(DealerAccess.objects.values_list("count", flat=True)) == [1, 3]


def test_other_pages_people_and_periods_are_rows_of_their_own(world):
    view(world, Action.VIEW_LIVE)
    view(world, Action.VIEW_HISTORY)
    view(world, Action.DOWNLOAD_CSV, detail="2026年12月分")
    view(world, Action.DOWNLOAD_CSV, detail="2026年11月分")
    view(world, Action.DOWNLOAD_CSV, detail="2026年12月分")
    other = factories.dealer(company="伏見エネルギー")
    link_dealer(customer=world["owner"], gateway=world["gateway"], dealer=other)
    record_view(user=other.user, gateway=world["gateway"], action=Action.VIEW_LIVE)
    counts = {(r.dealer_id, r.action, r.detail): r.count for r in DealerAccess.objects.all()}
    dealer = world["dealer"].pk
    assert counts == {
        (dealer, "view_live", ""): 1,
        (dealer, "view_history", ""): 1,
        (dealer, "download_csv", "2026年12月分"): 2,
        (dealer, "download_csv", "2026年11月分"): 1,
        (other.pk, "view_live", ""): 1,
    }


def test_polling_adds_no_row_and_no_count_but_an_open_page_stays_on_record_hourly(world):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        view(world)  # the page
    for seconds in range(5, 3600, 5):  # its panel, every 5 s for an hour
        with time_machine.travel(start + timedelta(seconds=seconds), tick=False):
            view(world, refresh=True)
    row = DealerAccess.objects.get()
    assert (row.count, row.last_at) == (1, start)
    # still open an hour later: one row for that hour, then nothing more
    for seconds in range(3600, 3700, 5):
        with time_machine.travel(start + timedelta(seconds=seconds), tick=False):
            view(world, refresh=True)
    assert list(DealerAccess.objects.order_by("at").values_list("count", "at")) == [
        (1, start),
        (1, start + timedelta(seconds=3600)),
    ]


def test_a_panel_fetched_alone_is_on_record(world):
    view(world, refresh=True)
    assert DealerAccess.objects.get().count == 1


def test_customers_and_operators_are_not_dealers(world):
    operator = factories.customer(role="operator", email="op@example.jp")
    for user in (world["owner"], operator, factories.customer()):
        record_view(user=user, gateway=world["gateway"], action=Action.VIEW_LIVE)
        record_change(
            user=user, gateway=world["gateway"], action=Action.CHANGE_SETTINGS, detail="x"
        )
    assert not DealerAccess.objects.exists()


def test_a_failure_to_record_a_view_is_logged_and_nothing_else(world, monkeypatch, caplog):
    def broken(**kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(records, "_collapse_view", broken)
    # a surrounding transaction goes on (the record has its own savepoint)
    with (
        caplog.at_level(logging.ERROR, logger="essmon.dealers.services.records"),
        transaction.atomic(),
    ):
        view(world)
        assert Gateway.objects.filter(pk=world["gateway"].pk).exists()
    assert "could not record a dealer view" in caplog.text
    assert not DealerAccess.objects.exists()


def test_a_setting_change_is_recorded_old_to_new_in_the_change_transaction(world, monkeypatch):
    gateway, dealer = world["gateway"], world["dealer"]
    monitoring_services.change_settings(
        gateway=gateway, changes={"mode": "green", "export_limit_w": 3000}, user=dealer.user
    )
    details = set(DealerAccess.objects.values_list("action", "detail", "count"))
    assert details == {
        ("change_settings", "運転モード: 経済モード → グリーンモード", 1),
        ("change_settings", "売電上限: 5,900W → 3,000W", 1),
    }
    # the owner's own change is in 設定の変更履歴, not in the dealers' record
    monitoring_services.change_settings(
        gateway=gateway, changes={"mode": "economy"}, user=world["owner"]
    )
    assert DealerAccess.objects.count() == 2

    # no change without its record
    def broken(**kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(monitoring_services, "record_change", broken)
    commands = Command.objects.count()
    with pytest.raises(RuntimeError):
        monitoring_services.change_settings(
            gateway=gateway, changes={"reserve_soc_pct": 50}, user=dealer.user
        )
    assert Command.objects.count() == commands


def test_changes_are_never_collapsed(world):
    for _ in range(2):
        record_change(
            user=world["dealer"].user,
            gateway=world["gateway"],
            action=Action.CHANGE_SETTINGS,
            detail="運転モード: 経済モード → グリーンモード",
        )
    assert list(DealerAccess.objects.values_list("count", flat=True)) == [1, 1]


def test_a_date_change_is_recorded_old_to_new_in_the_change_transaction(world, monkeypatch):
    gateway, dealer = world["gateway"], world["dealer"]
    warranty_services.change_dates(
        gateway=gateway,
        user=dealer.user,
        grid_connection_date=date(2024, 1, 12),
        received_date=None,
    )
    assert set(DealerAccess.objects.values_list("action", "detail")) == {
        ("change_dates", "系統連系日: 2024年1月10日 → 2024年1月12日"),
        ("change_dates", "受取日: 2024年1月10日 → 未入力"),
    }

    def broken(**kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(warranty_services, "record_change", broken)
    with pytest.raises(RuntimeError):
        warranty_services.change_dates(
            gateway=gateway,
            user=dealer.user,
            grid_connection_date=date(2024, 1, 15),
            received_date=None,
        )
    assert WarrantyDates.objects.get(gateway=gateway).grid_connection_date == date(2024, 1, 12)
    assert DateChange.objects.count() == 2


def open_alert(gateway) -> Alert:
    return Alert.objects.create(
        gateway=gateway,
        kind="offline",
        severity="major",
        title="通信途絶",
        since=datetime(2026, 12, 3, 10, 5, tzinfo=JST),
    )


def test_an_acknowledgement_is_recorded_with_its_comment_in_its_transaction(world, monkeypatch):
    alert = open_alert(world["gateway"])
    alert_services.acknowledge(alert=alert, user=world["dealer"].user, comment="明日伺います")
    row = DealerAccess.objects.get()
    assert row.action == "acknowledge_alert"
    assert row.detail == (
        "「通信途絶」(2026年12月3日 10:05発生): 未確認 → 確認済み(コメント: 明日伺います)"
    )

    def broken(**kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(alert_services, "record_change", broken)
    Alert.objects.filter(pk=alert.pk).update(closed_at=timezone.now())
    second = open_alert(world["gateway"])
    with pytest.raises(RuntimeError):
        alert_services.acknowledge(alert=second, user=world["dealer"].user, comment="")
    second.refresh_from_db()
    assert second.acknowledged_at is None


def test_the_purge_keeps_records_for_the_retention_period(world, settings):
    settings.DEALER_RECORD_RETENTION_DAYS = 1095
    now = timezone.now()
    for days in (1096, 1094):
        with time_machine.travel(now - timedelta(days=days), tick=False):
            view(world, Action.VIEW_HISTORY if days > 1095 else Action.VIEW_LIVE)
    assert purge_dealer_records(now=now) == 1
    assert list(DealerAccess.objects.values_list("action", flat=True)) == ["view_live"]
    job = next(j for j in JOBS if j.name == "purge-dealer-records")
    assert job.func is purge_dealer_records and job.interval == timedelta(hours=6)


@pytest.mark.parametrize(("days", "text"), [(1095, "3年間"), (365, "1年間"), (400, "400日間")])
def test_the_retention_is_said_as_configured(settings, days, text):
    settings.DEALER_RECORD_RETENTION_DAYS = days
    assert record_retention_text() == text


def test_every_kind_is_named_in_the_promise():
    """The consent screen's and the mail's sentence names every kind recorded, and the
    record page shows each kind by these labels."""
    named = {
        Action.VIEW_CUSTOMER: "お客様情報",
        Action.VIEW_LIVE: "このシステムのモニタリングサイトの画面",
        Action.VIEW_HISTORY: "このシステムのモニタリングサイトの画面",
        Action.DOWNLOAD_CSV: "履歴のCSV",
        Action.VIEW_SETTINGS: "このシステムのモニタリングサイトの画面",
        Action.VIEW_WARRANTY: "このシステムのモニタリングサイトの画面",
        Action.VIEW_CERTIFICATE: "保証書(PDF)",
        Action.VIEW_ALERTS: "このシステムのモニタリングサイトの画面",
        Action.CHANGE_SETTINGS: "設定や系統連系日・受取日を変更",
        Action.CHANGE_DATES: "系統連系日・受取日",
        Action.ACKNOWLEDGE_ALERT: "異常を確認済みに",
        Action.REPLACE_GATEWAY: "ゲートウェイを交換",
    }
    assert set(named) == set(Action)
    for words in named.values():
        assert words in RECORDED_ACTIVITIES


# --- each dealer page, read back by the owner --------------------------------------------------


def page_url(world, name: str) -> str:
    gateway_id = world["gateway"].gateway_id
    if name == "dealers:gateway_customer":
        return reverse(name, kwargs={"gateway_id": gateway_id})
    return reverse(f"monitoring:{name}", kwargs={"gateway_id": gateway_id})


PAGES = [
    ("dealers:gateway_customer", {}, "お客様情報の閲覧", ""),
    ("live", {}, "現在の状況の閲覧", ""),
    ("live_fragment", {"HTTP_HX_REQUEST": "true"}, "現在の状況の閲覧", ""),
    ("history", {}, "発電・消費の履歴の閲覧", ""),
    ("history_data", {}, "発電・消費の履歴の閲覧", ""),
    ("history_csv", {}, "発電・消費の履歴のCSVダウンロード", "の1日分"),
    ("settings", {}, "設定画面の閲覧", ""),
    ("settings_progress", {"HTTP_HX_REQUEST": "true"}, "設定画面の閲覧", ""),
    ("warranty", {}, "保証画面の閲覧", ""),
    ("warranty_certificate", {}, "保証書(PDF)の表示", ""),
    ("alerts", {}, "異常の履歴の閲覧", ""),
]


@pytest.mark.parametrize(("name", "headers", "label", "detail"), PAGES, ids=[p[0] for p in PAGES])
def test_each_dealer_page_is_on_the_owners_record(client, world, name, headers, label, detail):
    assert label not in record_page(client, world)
    client.force_login(world["dealer"].user)
    for _ in range(2):
        response = client.get(page_url(world, name), **headers)
        assert response.status_code == 200, response
    row = DealerAccess.objects.get()
    assert row.get_action_display() == label
    assert row.count == (1 if name.endswith(("_fragment", "_progress")) else 2)
    page = record_page(client, world)
    table = page.split("<h2>販売店様による閲覧・変更の記録</h2>", 1)[1].split("</table>", 1)[0]
    assert label in table and "洛南電設" in table and "保守 一郎 様" in table
    assert f'<span class="count">{row.count}回</span>' in table and detail in table


def test_the_owner_and_an_operator_leave_no_record(client, world):
    operator = factories.customer(role="operator", email="op@example.jp")
    for user in (world["owner"], operator):
        client.force_login(user)
        for name, headers, _, _ in PAGES[1:]:
            assert client.get(page_url(world, name), **headers).status_code == 200, name
    assert not DealerAccess.objects.exists()


def test_a_live_page_and_its_polling_make_one_row(client, world):
    client.force_login(world["dealer"].user)
    client.get(page_url(world, "live"))
    for _ in range(10):
        client.get(page_url(world, "live_fragment"), HTTP_HX_REQUEST="true")
    assert list(DealerAccess.objects.values_list("action", "count")) == [("view_live", 1)]


def test_a_page_is_shown_when_its_record_fails(client, world, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(records, "_collapse_view", broken)
    client.force_login(world["dealer"].user)
    for name, headers, _, _ in PAGES:
        assert client.get(page_url(world, name), **headers).status_code == 200, name
    assert not DealerAccess.objects.exists()


def test_dealer_changes_through_the_pages_are_on_the_owners_record(client, world):
    gateway = world["gateway"]
    client.force_login(world["dealer"].user)
    form = {
        "mode": "green",
        "charge_start": "23:00",
        "charge_end": "07:00",
        "discharge_start": "07:00",
        "discharge_end": "23:00",
        "reserve_soc_pct": "30",
        "export_limit_w": "5900",
        "basis": json.dumps(IN_FORCE),
    }
    assert client.post(page_url(world, "settings"), form).status_code == 302
    dates = {"grid_connection_date": "2024-01-10", "received_date": "2024-01-05"}
    assert client.post(page_url(world, "warranty"), dates).status_code == 302
    alert = open_alert(gateway)
    ack = reverse(
        "monitoring:alert_acknowledge",
        kwargs={"gateway_id": gateway.gateway_id, "alert_id": alert.pk},
    )
    assert client.post(ack, {"comment": "明日10時に訪問します"}).status_code == 302
    table = record_page(client, world).split("販売店様による閲覧・変更の記録</h2>", 1)[1]
    for words in (
        "設定の変更",
        "運転モード: 経済モード → グリーンモード",
        "系統連系日・受取日の変更",
        "受取日: 2024年1月10日 → 2024年1月5日",
        "異常の確認",
        "「通信途絶」(2026年12月3日 10:05発生): 未確認 → 確認済み(コメント: 明日10時に訪問します)",
    ):
        assert words in table, words
    # changes and views are separate rows; the changes count no views
    assert DealerAccess.objects.filter(action__startswith="change_").count() == 2
    assert DealerAccess.objects.get(action="acknowledge_alert").count == 1


def test_a_collapsed_row_shows_its_first_and_last_time(client, world):
    first = datetime(2026, 12, 4, 10, 2, tzinfo=JST)
    for minutes in (0, 20, 46):
        with time_machine.travel(first + timedelta(minutes=minutes), tick=False):
            view(world, Action.VIEW_HISTORY)
    page = record_page(client, world)
    assert "2026年12月4日 10:02〜10:48" in page and '<span class="count">3回</span>' in page


def test_every_page_of_a_system_is_recorded():
    """「このシステムのモニタリングサイトの画面」 promises every page under
    /monitoring/<gateway_id>/: each such URL is hit by the view test above, or is the
    acknowledgement (a change, tested with the others)."""
    from essmon.monitoring.urls import urlpatterns

    def names(patterns):
        for p in patterns:
            if hasattr(p, "url_patterns"):
                yield from names(p.url_patterns)
            elif "<str:gateway_id>" in str(p.pattern):
                yield p.name

    tested = {name for name, *_ in PAGES} | {"alert_acknowledge"}
    assert set(names(urlpatterns)) - {"dealers:gateway_customer"} <= tested
    assert set(names(urlpatterns)) == tested - {"dealers:gateway_customer"}


@pytest.mark.django_db(transaction=True)
def test_the_migration_keeps_earlier_rows_as_single_views():
    """Rows from before the collapse were one view each by the dealer's one login: their
    last time is their time, their person the dealer's account (on PostgreSQL too, where
    the rows are filled after the table's changes)."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    gateway, dealer = factories.owned_gateway(), factories.dealer(name="販売 一郎")
    executor = MigrationExecutor(connection)
    executor.migrate([("dealers", "0001_initial")])
    when = timezone.now() - timedelta(days=2)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO dealers_dealeraccess (gateway_id, dealer_id, action, at, detail) "
            "VALUES (%s, %s, 'view_customer', %s, '')",
            [gateway.pk, dealer.pk, when],
        )
    executor = MigrationExecutor(connection)
    executor.migrate([("dealers", "0003_fill_earlier_access_rows")])
    try:
        row = DealerAccess.objects.get()
        assert (row.at, row.last_at, row.count) == (when, when, 1)
        assert (row.user, row.actor_name) == (dealer.user, "販売 一郎")
    finally:
        # every later migration back, or the tests after this one find tables missing
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())


def test_the_manual_says_what_is_recorded_and_for_how_long(client, settings):
    settings.DEALER_RECORD_RETENTION_DAYS = 730
    manual = client.get(reverse("accounts:manual")).content.decode()
    section = manual.split('id="dealer-records"', 1)[1].split("<h2", 1)[0]
    assert RECORDED_ACTIVITIES in section and "2年間保存" in section
    assert "1時間以内に続けて表示した場合は1行にまとめ" in section
    assert "運営者による閲覧" in section and "一覧画面" in section
    assert f"御社が{recorded_activities('お客様のシステム')}は記録され" in manual
