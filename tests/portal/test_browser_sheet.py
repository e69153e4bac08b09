"""The printed sheet's QR code in a real browser: a phone (375 px) opens the QR code's
URL, finds the gateway ID filled in after the terms, registers with the password typed
from the paper, gets the provisional mail (a real SMTP server), sets its password, and
the monitoring site says 「データ受信待ち」 with what to check; the same pages at 1280 px,
and the sample sheet at both widths. Screens go to test-artifacts/screenshots/."""

import pytest
from playwright.sync_api import Page, expect

from essmon.gateways.services.sheets import registration_url
from essmon.gateways.sheet_layout import SheetData
from tests import factories
from tests.browsing import fits_width, log_in
from tests.conftest import SmtpSink
from tests.portal.test_browser_registration import EMAIL, PASSWORD, PHONE, fill_first_registration

pytestmark = [
    pytest.mark.browser,
    pytest.mark.smtp,
    pytest.mark.django_db(transaction=True),
]


def waiting_shown(tab: Page, shots, name: str, width: int) -> None:
    waiting = tab.get_by_test_id("waiting")
    expect(waiting.get_by_role("heading", name="データ受信待ち")).to_be_visible()
    for check in ("LANケーブル", "ルーター", "ゲートウェイのランプ"):
        expect(waiting).to_contain_text(check)
    expect(tab.locator(".live-grid")).to_have_count(0)
    shots(tab, name)
    assert fits_width(tab, width)


def test_qr_code_to_registration_to_waiting_for_data(
    page: Page, mobile_page: Page, shots, smtp_server, settings, live_server
):
    settings.BASE_URL = live_server.url
    gateway = factories.gateway()
    qr_url = SheetData(gateway.gateway_id, "", "KP-GWBT-A", "", registration_url()).qr_url
    assert qr_url == f"{live_server.url}/?gw={gateway.gateway_id}"

    # 1. The phone opens the QR code's URL: the landing says which gateway it read.
    mobile_page.goto(qr_url)
    expect(mobile_page.get_by_test_id("sheet-gateway")).to_contain_text(gateway.gateway_id)
    shots(mobile_page, "qr-landing-375")
    assert fits_width(mobile_page, 375)
    mobile_page.get_by_role("link", name="お客様情報の登録").click()
    mobile_page.get_by_role("button", name="同意する").click()

    # 2. The form has the ID filled in; the password is typed from the paper.
    expect(mobile_page.get_by_role("heading", name="ユーザ様 アカウント登録")).to_be_visible()
    expect(mobile_page.get_by_label("ゲートウェイID")).to_have_value(gateway.gateway_id)
    expect(mobile_page.get_by_label("ゲートウェイパスワード")).to_have_value("")
    mobile_page.get_by_label("ゲートウェイID").scroll_into_view_if_needed()
    shots(mobile_page, "qr-form-prefilled-375")
    fill_first_registration(mobile_page, shots, gateway.gateway_id)
    mobile_page.get_by_role("button", name="次に進む").click()
    expect(mobile_page.get_by_role("heading", name="入力内容確認")).to_be_visible()
    mobile_page.get_by_role("button", name="登録").click()
    expect(mobile_page.get_by_role("heading", name="仮登録完了")).to_be_visible()

    # 3. The provisional mail's link → terms → password → 本登録済み.
    smtp_server.wait_for(1)
    (message,) = smtp_server.to(EMAIL)
    mobile_page.goto(SmtpSink.link(message, "/activate/"))
    mobile_page.get_by_role("button", name="同意する").click()
    mobile_page.get_by_role("textbox", name="パスワード", exact=True).fill(PASSWORD)
    mobile_page.get_by_label("パスワード(確認用)").fill(PASSWORD)
    mobile_page.get_by_label("電話番号").fill(PHONE)
    mobile_page.get_by_role("button", name="登録").click()
    expect(mobile_page.get_by_role("heading", name="本登録済み")).to_be_visible()

    # 4. The monitoring site: one gateway, no data yet → データ受信待ち, not empty charts.
    log_in(mobile_page, EMAIL)
    waiting_shown(mobile_page, shots, "waiting-live-375", 375)
    log_in(page, EMAIL)
    waiting_shown(page, shots, "waiting-live-1280", 1280)
    page.get_by_role("link", name="発電・消費の履歴").click()
    expect(page.get_by_test_id("waiting")).to_be_visible()
    expect(page.locator("#energy-charts")).to_have_count(0)
    shots(page, "waiting-history-1280")

    # 5. The landing at 1280 px, and 「サンプル画像はこちら」 (the printed sheet's layout).
    page.goto(qr_url)
    expect(page.get_by_test_id("sheet-gateway")).to_be_visible()
    shots(page, "qr-landing-1280")
    for tab, width in ((page, 1280), (mobile_page, 375)):
        tab.goto(live_server.url + "/entry/sample/")
        sheet = tab.get_by_role("img", name="「ご登録にあたって」用紙の見本")
        expect(sheet).to_be_visible()
        expect(sheet).to_contain_text("ここに記載されています")
        shots(tab, f"sample-sheet-{width}")
        assert fits_width(tab, width)
