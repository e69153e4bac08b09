"""The 保証 tab in a real browser: the owner enters the dates and sees the extension, a
linked dealer corrects one and the audit names the dealer, an offline system shows "at
risk", a bad date is refused next to its field; at desktop width and at 375 px."""

from datetime import date, datetime, timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from essmon.core.jst import JST
from essmon.dealers import services as dealer_services
from essmon.gateways.models import Gateway
from essmon.telemetry.models import ConnectivityInterval, GatewayLiveState
from tests import factories
from tests.browsing import fits_width, log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SITE_NAME = "嵯峨野の家"


@pytest.fixture
def world():
    owner = factories.customer(email="hanako@example.jp", name="嵯峨 花子")
    gateway = factories.owned_gateway(owner=owner, site_name=SITE_NAME)
    registered = datetime(2025, 3, 20, 14, 5, tzinfo=JST)
    Gateway.objects.filter(pk=gateway.pk).update(claimed_at=registered)
    ConnectivityInterval.objects.create(gateway=gateway, online_from=registered)
    GatewayLiveState.objects.create(gateway=gateway, last_seen_at=timezone.now())
    linked = factories.dealer(email="ichiro@rakunan.example.jp", company="洛南電設")
    dealer_services.link_dealer(customer=owner, gateway=gateway, dealer=linked)
    return {"owner": owner, "gateway": gateway, "linked": linked}


def test_warranty_page_dates_audit_and_states(page, browser, live_server, world, shots):
    gateway = world["gateway"]
    log_in(page, world["owner"].email)
    expect(page.get_by_role("heading", name=SITE_NAME)).to_be_visible()
    page.get_by_role("link", name="保証", exact=True).click()
    status = page.get_by_test_id("warranty-status")
    expect(status).to_have_text("未確定")
    shots(page, "pending")

    # a future date is refused next to its field, the input kept
    future = (timezone.localtime(timezone.now(), JST).date() + timedelta(days=3)).isoformat()
    page.get_by_label("系統連系日").fill(future)
    page.get_by_label("受取日").fill("2025-01-10")
    page.get_by_role("button", name="日付を保存する").click()
    # next to the field (and, as a link to it, in the error summary at the top)
    field_error = page.locator("#id_grid_connection_date_error")
    expect(field_error).to_have_text("系統連系日に未来の日付は入力できません。")
    expect(page.get_by_label("受取日")).to_have_value("2025-01-10")
    shots(page, "error")

    page.get_by_label("系統連系日").fill("2025-02-03")
    page.get_by_role("button", name="日付を保存する").click()
    expect(page.get_by_text("日付を保存しました")).to_be_visible()
    expect(status).to_have_text("延長保証")
    expect(page.get_by_test_id("coverage-end")).to_have_text("2040年1月9日")
    shots(page, "extended")
    with page.expect_popup() as popup:
        page.get_by_role("link", name="保証書を表示・印刷する(PDF)").click()
    response = popup.value.context.request.get(
        f"{live_server.url}/monitoring/{gateway.gateway_id}/warranty/certificate.pdf"
    )
    assert response.status == 200 and response.body().startswith(b"%PDF")
    popup.value.close()

    # the linked dealer corrects the 受取日; the owner sees which dealer did
    dealer = browser.new_context(locale="ja-JP", viewport={"width": 1280, "height": 900}).new_page()
    dealer.base_url = live_server.url
    log_in(dealer, world["linked"].user.email)
    dealer.goto(f"{live_server.url}/monitoring/{gateway.gateway_id}/warranty/")
    dealer.get_by_label("受取日").fill("2025-01-12")
    dealer.get_by_role("button", name="日付を保存する").click()
    expect(dealer.get_by_text("日付を保存しました")).to_be_visible()
    dealer.context.close()
    page.reload()
    log = page.get_by_test_id("date-changes")
    expect(log.get_by_role("row").nth(1)).to_contain_text("販売店 洛南電設")
    expect(log.get_by_role("row").nth(1)).to_contain_text("2025/01/12")
    expect(page.get_by_test_id("coverage-end")).to_have_text("2040年1月11日")
    shots(page, "audit")

    # silent for 9 days: at risk, with the date it lapses
    silent_since = timezone.now() - timedelta(days=9)
    ConnectivityInterval.objects.filter(gateway=gateway).update(online_until=silent_since)
    GatewayLiveState.objects.filter(gateway=gateway).update(last_seen_at=silent_since)
    page.reload()
    expect(status).to_have_text("延長保証 失効のおそれ")
    expect(page.get_by_test_id("warranty-reason")).to_contain_text("までに接続が戻らないと")
    shots(page, "at-risk")


def test_warranty_page_fits_a_phone(mobile_page, world, shots):
    from essmon.warranty import services

    gateway = world["gateway"]
    services.change_dates(
        gateway=gateway,
        user=world["owner"],
        grid_connection_date=date(2025, 2, 3),
        received_date=date(2025, 1, 10),
    )
    services.change_dates(
        gateway=gateway,
        user=world["linked"].user,
        grid_connection_date=date(2025, 2, 3),
        received_date=date(2025, 1, 12),
    )
    log_in(mobile_page, world["owner"].email)
    mobile_page.goto(f"{mobile_page.base_url}/monitoring/{gateway.gateway_id}/warranty/")
    expect(mobile_page.get_by_test_id("warranty-status")).to_have_text("延長保証")
    assert fits_width(mobile_page, 375)
    shots(mobile_page, "mobile")
    mobile_page.get_by_label("系統連系日").fill("1999-12-31")
    mobile_page.get_by_role("button", name="日付を保存する").click()
    expect(mobile_page.locator("#id_grid_connection_date_error")).to_contain_text(
        "2000年1月1日以降の日付"
    )
    assert fits_width(mobile_page, 375)
    shots(mobile_page, "mobile-error")
