"""The link-consent screen and 販売店様による閲覧・変更の記録 in a real browser (issue 12 §3).

The consent screen lists the shared items once and stays a reasonable height on a phone (it
was 2,346 px at 375 px, the items listed twice); after the link, what the dealer opens on
the monitoring site is on the customer's record page. Screens are saved at 1280 and 375 px
under test-artifacts/screenshots/.
"""

from __future__ import annotations

from datetime import date

import pytest
from playwright.sync_api import Page, expect

from essmon.dealers import services
from essmon.dealers.models import ProvisionRecord
from essmon.warranty.services import change_dates
from tests import factories
from tests.browsing import fits_width, new_tab

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CONSENT = "上記の情報を販売店様に提供することに同意します"
SITE_NAME = "嵐山ゲストハウス"
DEALER_PHONE = "075-111-2222"
# At 375 px the page was 2,346 px tall with the items twice (its content about 2,050); once
# (as chips), with the pair of the gateway and dealer in two columns, the content is about
# 1,630. Past this bound something is listed or spaced twice again. The content, not the
# page: the footer (the support contact) is no part of the consent.
PHONE_HEIGHT_MAX = 1750
WIDTHS = {"pc": {"width": 1280, "height": 900}, "phone": {"width": 375, "height": 812}}


def log_in(page: Page, email: str) -> None:
    page.goto(page.base_url + "/login/")
    page.get_by_label("ユーザID(メールアドレス)").fill(email)
    page.get_by_label("パスワード").fill(factories.USER_PASSWORD)
    page.get_by_role("button", name="ログイン").click()


def open_consent(page: Page, gateway_id: str, dealer_code: str) -> None:
    page.goto(f"{page.base_url}/menu/dealers/link/{gateway_id}/")
    pair = page.get_by_role("group", name="販売店様の情報")
    pair.get_by_label("販売店ID").fill(dealer_code)
    pair.get_by_label("電話番号").fill(DEALER_PHONE)
    page.get_by_role("button", name="次に進む").click()
    expect(page.get_by_role("heading", name="保守を任せる販売店様の登録内容確認")).to_be_visible()


def text_of(page: Page) -> str:
    return page.locator("main").inner_text()


@pytest.mark.parametrize("width", WIDTHS, ids=list(WIDTHS))
def test_consent_lists_the_shared_items_once(browser, live_server, shots, width):
    owner = factories.customer(email=f"consent-{width}@example.jp", name="嵐山 花子")
    gateway = factories.owned_gateway(owner=owner, site_name=SITE_NAME)
    dealer = factories.dealer(company="京都蓄電サービス株式会社")
    mobile = {"is_mobile": True, "has_touch": True} if width == "phone" else {}
    page = new_tab(browser, live_server, viewport=WIDTHS[width], **mobile)
    log_in(page, owner.email)
    open_consent(page, gateway.gateway_id, dealer.dealer_code)
    shots(page, "consent")

    main = text_of(page)
    items = page.locator("ul.shared-items li")
    expect(items).to_have_count(len(services.SHARED_ITEMS))
    for _, label in services.SHARED_ITEMS:
        # 「住所」 is also inside 「設置先住所」 and the notes: count whole list items
        expect(items.filter(has_text=label).first).to_be_visible()
    assert main.count("メールアドレス") == 1 and main.count("フリガナ") == 1
    assert main.count("案件名・設置先住所") == 1 and main.count("システムの状態と設定") == 1
    # the consent's words and the promise of the record, each once
    assert main.count(services.CONSENT_LEAD.strip()) == 1
    assert main.count(services.CONSENT_TAIL) == 1
    assert main.count(services.RECORDED_ACTIVITIES) == 1 and "記録は3年間保存されます" in main
    assert fits_width(page, WIDTHS[width]["width"])
    height = page.locator("main").bounding_box()["height"]
    if width == "phone":
        assert height <= PHONE_HEIGHT_MAX, f"the content is {height}px tall at 375px"

    page.get_by_label(CONSENT).check()
    page.get_by_role("button", name="登録").click()
    expect(page.get_by_role("heading", name="登録完了")).to_be_visible()
    record = ProvisionRecord.objects.get()
    assert record.consent_text == services.CONSENT_TEXT


@pytest.mark.parametrize("width", WIDTHS, ids=list(WIDTHS))
def test_what_the_dealer_opens_is_on_the_customers_record(browser, live_server, shots, width):
    owner = factories.customer(email=f"record-{width}@example.jp", name="嵐山 花子")
    gateway = factories.owned_gateway(owner=owner, site_name=SITE_NAME)
    dealer = factories.dealer(company="京都蓄電サービス株式会社", name="保守 一郎")
    services.link_dealer(customer=owner, gateway=gateway, dealer=dealer)
    mobile = {"is_mobile": True, "has_touch": True} if width == "phone" else {}

    dealer_page = new_tab(browser, live_server, viewport=WIDTHS[width], **mobile)
    log_in(dealer_page, dealer.user.email)
    base = f"{dealer_page.base_url}/monitoring/{gateway.gateway_id}"
    dealer_page.goto(base + "/")
    expect(dealer_page.locator(".tabs [aria-current=page]")).to_have_text("現在の状況")
    # the live panel refreshes itself every 5 s: a poll makes no row of its own
    with dealer_page.expect_response(lambda r: r.url.endswith("/live/"), timeout=15_000):
        pass
    for _ in range(2):
        dealer_page.get_by_role("link", name="発電・消費の履歴").click()
        expect(dealer_page.locator(".tabs [aria-current=page]")).to_have_text("発電・消費の履歴")

    change_dates(
        gateway=gateway, user=dealer.user, grid_connection_date=date(2026, 4, 1), received_date=None
    )

    page = new_tab(browser, live_server, viewport=WIDTHS[width], **mobile)
    log_in(page, owner.email)
    page.goto(f"{page.base_url}/menu/dealers/gateways/{gateway.gateway_id}/")
    log = page.locator("table.access-log")
    expect(log.locator("tbody tr")).to_have_count(3)
    expect(log.locator("tbody tr").first).to_contain_text("系統連系日: 未入力 → 2026年4月1日")
    history = log.locator("tbody tr").filter(has_text="発電・消費の履歴の閲覧")
    expect(history).to_contain_text("2回")
    expect(history).to_contain_text("保守 一郎 様")
    expect(log.locator("tbody tr").filter(has_text="現在の状況の閲覧")).to_contain_text("1回")
    page.get_by_role("heading", name="販売店様による閲覧・変更の記録").scroll_into_view_if_needed()
    shots(page, "record")
    assert fits_width(page, WIDTHS[width]["width"])
