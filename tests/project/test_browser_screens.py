"""The right screen for each person (issue 12 §4), in a real browser at 1280 and 375 px:
the owner's list of sites, the operator's menu, the dealer's gateways with search and
paging, and the fleet table's summary and CSV export. On a phone a gateway's row is a
compact card: its height is measured."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from essmon.accounts.models import User
from essmon.alerts.models import Alert
from essmon.notifications.models import OutboxMessage
from essmon.telemetry.models import GatewayLiveState
from tests import factories
from tests.browsing import fits_width, log_in, new_tab
from tests.fleet_data import many_sites

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DESKTOP = {"viewport": {"width": 1280, "height": 900}}
PHONE = {"viewport": {"width": 375, "height": 812}, "is_mobile": True, "has_touch": True}
# the issue: at 375 px a gateway took 570 px; a compact card is a third of that
MAX_ROW_HEIGHT = 190


def row_heights(page, selector: str) -> list[float]:
    return page.eval_on_selector_all(
        selector, "rows => rows.map(r => r.getBoundingClientRect().height)"
    )


def test_the_owner_sees_a_simple_list_of_their_sites(browser, live_server, shots):
    owner = factories.customer(email="owner@example.jp", name="嵐山 花子")
    now = timezone.now()
    home = factories.owned_gateway(owner=owner, site_name="自宅")
    parents = factories.owned_gateway(owner=owner, site_name="実家(亀岡)")
    shop = factories.owned_gateway(owner=owner, site_name="嵐山の店舗")
    GatewayLiveState.objects.create(
        gateway=home,
        last_seen_at=now - timedelta(seconds=30),
        latest={"soc_pct": 72.0, "pv_w": 3480.0, "load_w": 910.0},
    )
    GatewayLiveState.objects.create(
        gateway=shop, last_seen_at=now - timedelta(hours=5), latest={"soc_pct": 18.0}
    )
    Alert.objects.create(
        gateway=shop,
        kind="offline",
        severity="major",
        title="ゲートウェイからの通信が途絶えています",
        since=now - timedelta(hours=5),
    )

    for options, name in ((DESKTOP, "desktop"), (PHONE, "phone")):
        tab = new_tab(browser, live_server, **options)
        log_in(tab, owner.email)
        expect(tab.get_by_role("heading", name="ゲートウェイ一覧", exact=True)).to_be_visible()
        expect(tab.locator(".site-card")).to_have_count(3)
        expect(tab.get_by_label("並べ替え")).to_have_count(0)
        expect(tab.get_by_label("検索")).to_have_count(0)
        card = tab.locator(".site-card", has_text="自宅")
        expect(card).to_contain_text("オンライン")
        expect(card).to_contain_text("3,480 W")
        expect(tab.locator(".site-card", has_text="嵐山の店舗")).to_contain_text("未復旧の異常 1件")
        expect(tab.locator(".site-card", has_text="実家")).to_contain_text("未接続")
        assert fits_width(tab, options["viewport"]["width"])
        shots(tab, f"owner-sites-{name}")
    tab.locator(".site-card", has_text="自宅").get_by_role("link", name="現在の状況を見る").click()
    expect(tab).to_have_url(f"{live_server.url}/monitoring/{home.gateway_id}/")
    assert parents.gateway_id  # listed above, never heard from


def test_the_operator_has_its_own_menu(browser, live_server, shots):
    User.objects.create_superuser("op@example.jp", factories.USER_PASSWORD, name="運営 太郎")
    many_sites(40)
    OutboxMessage.objects.create(
        recipient="a@example.jp", subject="件名", body="本文", state=OutboxMessage.State.FAILED
    )
    for options, name in ((DESKTOP, "desktop"), (PHONE, "phone")):
        tab = new_tab(browser, live_server, **options)
        log_in(tab, "op@example.jp")
        tab.goto(f"{live_server.url}/menu/")
        expect(tab.get_by_role("heading", name="運営者メニュー")).to_be_visible()
        expect(tab.locator("main")).not_to_contain_text("ゲートウェイの登録")
        expect(tab.locator("main")).not_to_contain_text("〒")
        overview = tab.get_by_test_id("operator-overview")
        expect(overview).to_contain_text("延長保証 失効のおそれ4台")
        expect(overview).to_contain_text("送信失敗のメール1件")
        assert fits_width(tab, options["viewport"]["width"])
        shots(tab, f"operator-menu-{name}")
    tab.get_by_role("link", name="すべてのゲートウェイ 状態").click()
    expect(tab.get_by_role("heading", name="すべてのゲートウェイ")).to_be_visible()
    expect(tab.locator("main")).not_to_contain_text("保守を任されている")
    shots(tab, "operator-fleet-phone")
    tab.goto(f"{live_server.url}/menu/")
    tab.get_by_role("link", name="送信メール(アウトボックス) メールの宛先").click()
    expect(tab).to_have_url(f"{live_server.url}/admin/notifications/outboxmessage/")
    expect(tab.get_by_text("件名")).not_to_have_count(0)


def test_the_dealers_300_sites_are_searched_paged_summed_up_and_exported(
    browser, live_server, shots
):
    dealer = factories.dealer(email="dealer@example.jp")
    fleet = many_sites(300, dealer=dealer)

    desk = new_tab(browser, live_server, **DESKTOP)
    log_in(desk, dealer.user.email)
    summary = desk.get_by_test_id("fleet-summary")
    expect(summary).to_contain_text("全台数300台")
    expect(summary).to_contain_text(f"オフライン{fleet.offline}台")
    expect(summary).to_contain_text(f"延長保証 失効のおそれ{fleet.at_risk}台")
    shots(desk, "fleet-summary-desktop")
    summary.get_by_role("link", name="延長保証 失効のおそれ").click()
    expect(desk.get_by_test_id("fleet-count")).to_have_text(
        f"条件に合うゲートウェイ {fleet.at_risk}台"
    )
    with desk.expect_download() as download:
        desk.get_by_role("link", name=f"この{fleet.at_risk}台をCSVでダウンロード").click()
    exported = download.value.path().read_bytes()
    assert exported.startswith(b"\xef\xbb\xbf\xe3\x82\xb2")  # BOM, then ゲートウェイID
    assert len(exported.decode("utf-8-sig").splitlines()) == fleet.at_risk + 1

    desk.goto(f"{live_server.url}/dealer/gateways/")
    expect(desk.get_by_test_id("gateways-count")).to_have_text("300台(1〜50台目を表示)")
    expect(desk.locator("table.compact tbody tr")).to_have_count(50)
    shots(desk, "dealer-gateways-desktop")
    desk.get_by_role("link", name="次のページ").click()
    expect(desk.get_by_test_id("gateways-count")).to_have_text("300台(51〜100台目を表示)")
    desk.get_by_label("検索").fill("案件042")
    desk.get_by_role("button", name="検索").click()
    expect(desk.locator("table.compact tbody tr")).to_have_count(1)
    expect(desk.locator("table.compact tbody tr")).to_contain_text("77KS00000042")

    phone = new_tab(browser, live_server, **PHONE)
    log_in(phone, dealer.user.email)
    expect(phone.get_by_test_id("fleet-summary")).to_be_visible()
    assert fits_width(phone, 375)
    fleet_rows = row_heights(phone, "table.fleet tbody tr")
    assert len(fleet_rows) == 50 and max(fleet_rows) <= MAX_ROW_HEIGHT, fleet_rows
    shots(phone, "fleet-summary-phone")
    phone.goto(f"{live_server.url}/dealer/gateways/")
    expect(phone.get_by_test_id("gateways-count")).to_have_text("300台(1〜50台目を表示)")
    assert fits_width(phone, 375)
    rows = row_heights(phone, "table.compact tbody tr")
    assert len(rows) == 50 and max(rows) <= MAX_ROW_HEIGHT, rows
    print(f"row height at 375 px: fleet {max(fleet_rows):.0f} px, gateways {max(rows):.0f} px")
    shots(phone, "dealer-gateways-phone")
    phone.get_by_role("link", name="次のページ").click()
    expect(phone.get_by_test_id("gateways-count")).to_have_text("300台(51〜100台目を表示)")
