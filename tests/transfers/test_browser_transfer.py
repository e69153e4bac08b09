"""名義変更 in a real browser with real mail: the seller starts the transfer from the main
menu with the password and sees the code once; the buyer, at another computer, logs in and
claims it with the code, agreeing to the terms; the mails to the seller, the buyer and the
seller's dealer are read from the SMTP server; the seller then finds nothing. Screens saved
at 1280 and 375 px under test-artifacts/screenshots/."""

import re

import pytest
from playwright.sync_api import Page, expect

from essmon.dealers.services.links import link_dealer
from tests import factories
from tests.conftest import SmtpSink
from tests.dealers.test_browser_dealers import fits_width, log_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.smtp,
    pytest.mark.django_db(transaction=True),
]

SITE_NAME = "旧宅の蓄電池"
CODE = re.compile(r"^[A-HJ-NP-Z2-9]{4}(-[A-HJ-NP-Z2-9]{4}){3}$")


def start_as_seller(page: Page, shots, seller_email: str) -> str:
    """メインメニュー → 名義変更 → 名義変更を始める → password → the code, read off the page."""
    log_in(page, seller_email)
    page.get_by_role("navigation", name="メインメニュー").get_by_role(
        "link", name=re.compile("^名義変更")
    ).click()
    expect(page.get_by_role("heading", name="名義変更", exact=True)).to_be_visible()
    shots(page, "seller-menu")
    page.get_by_role("link", name=f"{SITE_NAME} の名義変更を始める").click()
    expect(page.get_by_role("heading", name="名義変更で起きること")).to_be_visible()
    page.get_by_role("textbox", name="パスワード").fill(factories.USER_PASSWORD)
    page.get_by_label("上記の内容を確認し、名義変更の手続きを始めます").check()
    shots(page, "seller-start")
    page.get_by_role("button", name="名義変更コードを発行する").click()
    expect(page.get_by_role("heading", name="名義変更コード")).to_be_visible()
    code = page.get_by_test_id("transfer-code").inner_text().strip()
    assert CODE.match(code), code
    shots(page, "seller-code")
    return code


def agree_and_claim(page: Page) -> None:
    page.get_by_label("利用規約と個人情報の利用目的に同意し、このシステムを受け取ります").check()
    page.get_by_role("button", name="同意して受け取る").click()
    expect(page.get_by_role("heading", name="名義変更の完了")).to_be_visible()


def test_seller_starts_buyer_claims_with_real_mail(
    page: Page, customer_page: Page, shots, smtp_server, settings, live_server
):
    settings.BASE_URL = live_server.url
    seller = factories.customer(email="seller@example.jp", name="売主 一郎")
    gateway = factories.owned_gateway(owner=seller, site_name=SITE_NAME)
    dealer = factories.dealer(email="dealer@example.jp")
    link_dealer(customer=seller, gateway=gateway, dealer=dealer)
    smtp_server.wait_for(1)  # the link's notice to the dealer
    buyer = factories.customer(email="buyer@example.jp", name="買主 花子")

    code = start_as_seller(page, shots, seller.email)
    smtp_server.wait_for(2)
    (started,) = [m for m in smtp_server.to(seller.email) if "始めました" in m["Subject"]]
    body = SmtpSink.body(started)
    assert SITE_NAME in body and gateway.gateway_id in body
    assert code not in body and code.replace("-", "") not in body
    page.get_by_role("link", name="名義変更の画面に戻る").click()
    expect(page.get_by_test_id("transfer-sites")).to_contain_text("受け取り待ち")
    expect(page.get_by_role("button", name=f"{SITE_NAME} の名義変更を取り消す")).to_be_visible()
    assert code not in page.content()
    shots(page, "seller-pending")

    # the buyer, at another computer: a wrong code first, then the right one typed loosely
    buyer_page = customer_page
    log_in(buyer_page, buyer.email)
    buyer_page.get_by_role("navigation", name="メインメニュー").get_by_role(
        "link", name=re.compile("^名義変更")
    ).click()
    buyer_page.get_by_role("link", name="名義変更の受け取り(コードをお持ちの方)").click()
    expect(buyer_page.get_by_role("heading", name="名義変更の受け取り")).to_be_visible()
    buyer_page.get_by_label("名義変更コード").fill("AAAA-BBBB-CCCC-DDDD")
    buyer_page.get_by_role("button", name="次に進む").click()
    expect(buyer_page.get_by_text("名義変更コードが正しくないか").first).to_be_visible()
    shots(buyer_page, "buyer-wrong-code")
    buyer_page.get_by_label("名義変更コード").fill(code.lower().replace("-", " "))
    buyer_page.get_by_role("button", name="次に進む").click()
    expect(buyer_page.get_by_role("heading", name="名義変更の受け取り(確認)")).to_be_visible()
    expect(buyer_page.get_by_text(gateway.gateway_id)).to_be_visible()
    buyer_page.get_by_role("button", name="同意して受け取る").click()
    expect(
        buyer_page.get_by_text(
            "受け取るには、利用規約と個人情報の利用目的への同意が必要です。", exact=True
        )
    ).to_be_visible()
    shots(buyer_page, "buyer-confirm-refused")
    agree_and_claim(buyer_page)
    shots(buyer_page, "buyer-done")

    # the mails: the buyer's, the seller's and the seller's dealer's
    smtp_server.wait_for(5)
    (to_buyer,) = smtp_server.to(buyer.email)
    assert "受け取りが完了しました" in to_buyer["Subject"]
    assert SmtpSink.link(to_buyer, "/monitoring/")
    assert "名義変更が完了しました" in smtp_server.to(seller.email)[-1]["Subject"]
    ended = [m for m in smtp_server.to(dealer.user.email) if "名義変更" in m["Subject"]]
    assert ended and gateway.gateway_id in SmtpSink.body(ended[0])
    assert "売主 一郎" not in SmtpSink.body(ended[0]) and "買主 花子" not in SmtpSink.body(ended[0])

    # the buyer sees the system; the seller's very next request finds nothing
    buyer_page.get_by_role("link", name="モニタリングサイトを見る").click()
    expect(buyer_page).to_have_url(re.compile(f"/monitoring/{gateway.gateway_id}/"))
    shots(buyer_page, "buyer-live")
    page.goto(f"{live_server.url}/monitoring/{gateway.gateway_id}/")
    expect(page.get_by_role("heading", name="ページが見つかりません")).to_be_visible()
    page.goto(f"{live_server.url}/menu/transfers/")
    expect(page.get_by_test_id("transfer-history")).to_contain_text("名義変更済み")
    expect(page.get_by_test_id("transfer-sites")).to_have_count(0)
    shots(page, "seller-after")


def test_transfer_screens_fit_phone(mobile_page: Page, shots, settings, live_server):
    settings.BASE_URL = live_server.url
    seller = factories.customer(email="seller@example.jp", name="売主 一郎")
    factories.owned_gateway(owner=seller, site_name=SITE_NAME)
    code = start_as_seller(mobile_page, shots, seller.email)
    assert fits_width(mobile_page)
    buyer = factories.customer(email="buyer@example.jp")
    mobile_page.context.clear_cookies()
    log_in(mobile_page, buyer.email)
    mobile_page.goto(f"{mobile_page.base_url}/menu/transfers/claim/")
    mobile_page.get_by_label("名義変更コード").fill(code)
    mobile_page.get_by_role("button", name="次に進む").click()
    expect(mobile_page.get_by_role("heading", name="名義変更の受け取り(確認)")).to_be_visible()
    assert fits_width(mobile_page)
    shots(mobile_page, "buyer-confirm-phone")
    agree_and_claim(mobile_page)
    assert fits_width(mobile_page)
    shots(mobile_page, "buyer-done-phone")
    mobile_page.goto(f"{mobile_page.base_url}/menu/transfers/")
    assert fits_width(mobile_page)
    shots(mobile_page, "buyer-menu-phone")
