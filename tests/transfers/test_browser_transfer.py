"""名義変更 in a real browser with real mail: the seller starts the transfer from the main
menu with the password and sees the code once; the buyer, at another computer, logs in and
claims it with the code, agreeing to the terms; the mails to the seller, the buyer and the
seller's dealer are read from the SMTP server; the seller then finds nothing. Screens saved
at 1280 and 375 px under test-artifacts/screenshots/."""

import re

import pytest
from playwright.sync_api import Page, expect

from essmon.dealers.services.links import link_dealer
from essmon.transfers.services import start_transfer
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


NEW_BUYER = "kaite@example.jp"
NEW_PASSWORD = "Solar2024Kyoto"
NEW_PHONE = "090-1234-5678"


def register_new_buyer(page: Page, shots, code: str, suffix: str = "") -> None:
    """登録サイトのトップ → 名義変更で引き継ぐ方 → the code → 利用規約 → お客様情報 → 確認 →
    仮登録完了."""
    page.goto(f"{page.base_url}/")
    page.get_by_role("link", name="名義変更で引き継ぐ方はこちら").click()
    expect(page.get_by_role("heading", name="名義変更で引き継ぐ方")).to_be_visible()
    expect(page.get_by_role("heading", name="アカウントをお持ちでない方")).to_be_visible()
    page.get_by_label("名義変更コード").fill("AAAA-BBBB-CCCC-DDDD")
    page.get_by_role("button", name="次に進む").click()
    expect(page.get_by_text("名義変更コードが正しくないか").first).to_be_visible()
    shots(page, f"new-buyer-code-wrong{suffix}")
    page.get_by_label("名義変更コード").fill(code.lower())
    page.get_by_role("button", name="次に進む").click()
    expect(page.get_by_role("heading", name="利用規約", exact=True)).to_be_visible()
    shots(page, f"new-buyer-terms{suffix}")
    page.get_by_role("button", name="同意する").click()
    expect(page.get_by_role("heading", name="ユーザ様 アカウント登録(名義変更)")).to_be_visible()
    expect(page.get_by_label("ゲートウェイID")).to_have_count(0)
    user = page.get_by_role("group", name="ユーザ様情報")
    user.get_by_label("氏名").fill("買主 花子")
    user.get_by_label("フリガナ").fill("かいぬし はなこ")
    user.get_by_role("textbox", name="メールアドレス", exact=True).fill(NEW_BUYER)
    user.get_by_label("メールアドレス(確認用)").fill("typo@example.jp")
    user.get_by_label("郵便番号").fill("600-8216")
    user.get_by_role("button", name="住所検索").click()
    expect(user.get_by_label("市町村区")).to_have_value("京都市下京区")
    user.get_by_label("それ以降の住所").fill("東塩小路町1-1")
    user.get_by_label("電話番号").fill(NEW_PHONE)
    page.get_by_role("button", name="次に進む").click()
    expect(page.get_by_text("メールアドレスが一致しません").first).to_be_visible()
    shots(page, f"new-buyer-form-refused{suffix}")
    page.get_by_label("メールアドレス(確認用)").fill(NEW_BUYER)
    page.get_by_role("button", name="次に進む").click()
    expect(page.get_by_role("heading", name="入力内容確認")).to_be_visible()
    expect(page.get_by_test_id("transfer-site")).to_contain_text(SITE_NAME)
    shots(page, f"new-buyer-confirm{suffix}")
    page.get_by_role("button", name="登録").click()
    expect(page.get_by_role("heading", name="仮登録完了")).to_be_visible()
    shots(page, f"new-buyer-provisional{suffix}")


def test_a_buyer_without_an_account_registers_from_the_code_with_real_mail(
    page: Page, shots, smtp_server, settings, live_server
):
    settings.BASE_URL = live_server.url
    seller = factories.customer(email="seller@example.jp", name="売主 一郎")
    gateway = factories.owned_gateway(owner=seller, site_name=SITE_NAME)
    code = start_as_seller(page, shots, seller.email)
    expect(
        page.get_by_text("名義変更で引き継ぐ方はこちら")
    ).to_be_visible()  # the code page says how
    smtp_server.wait_for(1)
    page.context.clear_cookies()

    register_new_buyer(page, shots, code)
    smtp_server.wait_for(2)
    (provisional,) = smtp_server.to(NEW_BUYER)
    assert "仮登録" in provisional["Subject"]
    body = SmtpSink.body(provisional)
    assert code not in body and code.replace("-", "") not in body
    link = SmtpSink.link(provisional, "/activate/")
    assert link.startswith(live_server.url)

    page.goto(link)
    page.get_by_role("button", name="同意する").click()
    expect(page.get_by_role("heading", name="パスワード登録")).to_be_visible()
    page.get_by_role("textbox", name="パスワード", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("パスワード(確認用)").fill(NEW_PASSWORD)
    page.get_by_label("電話番号").fill(NEW_PHONE)
    page.get_by_role("button", name="登録").click()
    expect(page.get_by_role("heading", name="本登録済み")).to_be_visible()
    expect(page.get_by_test_id("activation-notice")).to_contain_text(
        "名義変更の受け取りが完了しました"
    )
    expect(page.get_by_test_id("activation-notice")).to_contain_text(gateway.gateway_id)
    shots(page, "new-buyer-activated")

    smtp_server.wait_for(4)
    assert any("受け取りが完了しました" in m["Subject"] for m in smtp_server.to(NEW_BUYER))
    assert "名義変更が完了しました" in smtp_server.to(seller.email)[-1]["Subject"]

    page.get_by_role("link", name="ログインに戻る").click()
    page.get_by_label("ユーザID(メールアドレス)").fill(NEW_BUYER)
    page.get_by_label("パスワード").fill(NEW_PASSWORD)
    page.get_by_role("button", name="ログイン").click()
    page.goto(f"{live_server.url}/monitoring/{gateway.gateway_id}/")
    expect(page.get_by_role("heading", name="ページが見つかりません")).to_have_count(0)
    shots(page, "new-buyer-live")


def test_the_new_buyer_screens_fit_phone(
    mobile_page: Page, shots, smtp_server, settings, live_server
):
    settings.BASE_URL = live_server.url
    seller = factories.customer(email="seller@example.jp", name="売主 一郎")
    factories.owned_gateway(owner=seller, site_name=SITE_NAME)
    code = start_as_seller(mobile_page, shots, seller.email)
    mobile_page.context.clear_cookies()
    register_new_buyer(mobile_page, shots, code, suffix="-phone")
    assert fits_width(mobile_page)
    mobile_page.goto(f"{mobile_page.base_url}/entry/transfer/")
    assert fits_width(mobile_page)
    shots(mobile_page, "new-buyer-code-phone")


@pytest.mark.parametrize("width", [1280, 375])
def test_an_operator_cancels_an_open_transfer_with_a_reason(
    browser, live_server, shots, smtp_server, settings, width
):
    settings.BASE_URL = live_server.url
    seller = factories.customer(email="seller@example.jp", name="売主 一郎")
    gateway = factories.owned_gateway(owner=seller, site_name=SITE_NAME)
    start_transfer(site=gateway.site, actor=seller)
    smtp_server.wait_for(1)
    factories.customer(email="op@example.jp", role="operator", is_staff=True, is_superuser=True)
    context = browser.new_context(locale="ja-JP", viewport={"width": width, "height": 900})
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.base_url = live_server.url
    log_in(page, "op@example.jp")
    page.goto(f"{live_server.url}/operator/transfers/{gateway.gateway_id}/start/")
    page.get_by_role("link", name="この名義変更を取り消す").click()
    expect(page.get_by_role("heading", name="名義変更の取り消し(運営者)")).to_be_visible()
    page.get_by_role("button", name="名義変更を取り消す").click()
    expect(page.get_by_text("取り消しの理由を入力してください。", exact=True)).to_be_visible()
    assert fits_width(page)
    shots(page, f"operator-cancel-refused-{width}")
    page.get_by_label("取り消しの理由").fill("お問い合わせ番号 456: 売主から取り消しの依頼")
    page.get_by_role("button", name="名義変更を取り消す").click()
    expect(
        page.get_by_text(f"「{SITE_NAME}」の名義変更を取り消しました。", exact=False)
    ).to_be_visible()
    assert fits_width(page)
    shots(page, f"operator-cancelled-{width}")
    smtp_server.wait_for(2)
    mailed = [m for m in smtp_server.to(seller.email) if "取り消しました" in m["Subject"]]
    assert mailed and SITE_NAME in SmtpSink.body(mailed[0])
    context.close()
