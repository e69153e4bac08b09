"""販売店様 and 保守紐付け in a real browser: a dealer registers and adds a 保守担当者, a
customer links the dealer to a gateway (five at most) and unlinks it again.

Everything is found by its visible label or button words; every screen is saved under
test-artifacts/screenshots/ so that a person can look at it.
"""

import re

import pytest
from playwright.sync_api import Page, expect

from essmon.dealers.services.links import link_dealer
from tests import factories
from tests.conftest import SmtpSink

# The live server runs in another thread, so the data must be committed.
pytestmark = [
    pytest.mark.browser,
    pytest.mark.smtp,
    pytest.mark.django_db(transaction=True),
]

DEALER_EMAIL = "ichiro@kyoto-chikuden.example.jp"
DEALER_PHONE = "075-111-2222"
STAFF_EMAIL = "hoshu@kyoto-chikuden.example.jp"
PASSWORD = "Solar2024Kyoto"
SITE_NAME = "嵐山ゲストハウス"
CONSENT = "上記の情報を販売店様に提供することに同意します"


def fits_width(page: Page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def log_in(page: Page, email: str, password: str = factories.USER_PASSWORD) -> None:
    page.goto(page.base_url + "/")
    page.get_by_role("link", name="すでにアカウントをお持ちの方").click()
    expect(page.get_by_role("heading", name="ログイン")).to_be_visible()
    page.get_by_label("ユーザID(メールアドレス)").fill(email)
    page.get_by_label("パスワード").fill(password)
    page.get_by_role("button", name="ログイン").click()


def open_link_form(page: Page, shots, gateway_id: str, shot: bool = True) -> None:
    """メインメニュー → 保守を任せる販売店様の管理 → 販売店様登録 → search → the gateway."""
    page.get_by_role("navigation", name="メインメニュー").get_by_role(
        "link", name="保守を任せる販売店様の管理"
    ).click()
    expect(page.get_by_role("heading", name="保守を任せる販売店様の管理メニュー")).to_be_visible()
    if shot:
        shots(page, "links-menu")
    page.get_by_role("link", name="保守を任せる販売店様登録").click()
    expect(
        page.get_by_role("heading", name="販売店様に保守を任せるゲートウェイの検索")
    ).to_be_visible()
    page.get_by_label("ゲートウェイIDまたは案件名").fill("嵐山")
    page.get_by_role("button", name="検索").click()
    expect(page.get_by_role("row", name=gateway_id)).to_contain_text(SITE_NAME)
    if shot:
        shots(page, "link-search")
    page.get_by_role("link", name=gateway_id, exact=True).click()
    expect(page.get_by_role("heading", name="保守を任せる販売店様の登録")).to_be_visible()


def fill_dealer_pair(page: Page, code: str, phone: str) -> None:
    pair = page.get_by_role("group", name="販売店様の情報")
    pair.get_by_label("販売店ID").fill(code)
    pair.get_by_label("電話番号").fill(phone)


def register_dealer(page: Page, shots, live_server, smtp_server) -> str:
    """The entry site's 販売店様の登録 up to the first login; returns the 販売店ID."""
    page.goto(page.base_url + "/")
    shots(page, "landing")
    page.get_by_role("link", name="販売店様の登録").click()
    expect(page.get_by_role("heading", name="利用規約", exact=True)).to_be_visible()
    shots(page, "terms")
    page.get_by_role("button", name="同意する").click()

    expect(page.get_by_role("heading", name="販売店様 アカウント登録")).to_be_visible()
    shots(page, "entry-form-empty")
    company = page.get_by_role("group", name="販売店様情報")
    company.get_by_label("販売店名").fill("京都蓄電サービス株式会社")
    company.get_by_label("支店・部署名").fill("嵯峨支店")
    person = page.get_by_role("group", name="ご担当者様情報")
    person.get_by_label("氏名").fill("販売 一郎")
    person.get_by_label("フリガナ").fill("はんばい いちろう")
    person.get_by_role("textbox", name="メールアドレス", exact=True).fill(DEALER_EMAIL)
    person.get_by_label("メールアドレス(確認用)").fill(DEALER_EMAIL)
    place = page.get_by_role("group", name="所在地・連絡先")
    place.get_by_label("郵便番号").fill("600-8216")
    place.get_by_role("button", name="住所検索").click()
    expect(place.get_by_label("都道府県")).to_have_value("京都府")
    expect(place.get_by_label("市町村区")).to_have_value("京都市下京区")
    place.get_by_label("それ以降の住所").fill("東塩小路町2-2")
    place.get_by_label("電話番号").fill(DEALER_PHONE)
    shots(page, "entry-form-filled")
    page.get_by_role("button", name="次に進む").click()

    expect(page.get_by_role("heading", name="入力内容確認")).to_be_visible()
    confirm = page.locator("dl.confirm")
    expect(confirm.first).to_contain_text("京都蓄電サービス株式会社")
    expect(confirm.nth(1)).to_contain_text("ハンバイ　イチロウ")  # the hiragana was converted
    expect(confirm.nth(2)).to_contain_text("〒600-8216")
    expect(confirm.nth(2)).to_contain_text(DEALER_PHONE)
    shots(page, "entry-confirm")
    page.get_by_role("button", name="登録").click()
    expect(page.get_by_role("heading", name="仮登録完了")).to_be_visible()
    expect(page.get_by_text(DEALER_EMAIL)).to_be_visible()
    shots(page, "entry-done")

    # The 仮登録メール carries the activation link and the 販売店ID.
    smtp_server.wait_for(1)
    (message,) = smtp_server.to(DEALER_EMAIL)
    assert "販売店様 仮登録" in message["Subject"]
    body = SmtpSink.body(message)
    assert body.startswith("販売店様のご担当者様へ") and "販売 一郎" not in body
    code = re.search(r"■販売店ID: (D\d{7})", body).group(1)
    link = SmtpSink.link(message, "/activate/")
    assert link.startswith(live_server.url)

    page.goto(link)
    expect(page.get_by_role("heading", name="利用規約", exact=True)).to_be_visible()
    shots(page, "activation-terms")
    page.get_by_role("button", name="同意する").click()
    expect(page.get_by_role("heading", name="パスワード登録")).to_be_visible()
    page.get_by_role("textbox", name="パスワード", exact=True).fill(PASSWORD)
    page.get_by_label("パスワード(確認用)").fill(PASSWORD)
    page.get_by_label("電話番号").fill(DEALER_PHONE)
    shots(page, "activation-password")
    page.get_by_role("button", name="登録").click()
    expect(page.get_by_role("heading", name="本登録済み")).to_be_visible()
    shots(page, "activated")
    page.get_by_role("link", name="ログインに戻る").click()

    expect(page.get_by_role("heading", name="ログイン")).to_be_visible()
    page.get_by_label("ユーザID(メールアドレス)").fill(DEALER_EMAIL)
    page.get_by_label("パスワード").fill(PASSWORD)
    page.get_by_role("button", name="ログイン").click()
    expect(page.get_by_role("heading", name="販売店様メニュー")).to_be_visible()
    expect(page.locator(".dealer-code")).to_have_text(code)
    expect(page.get_by_text("京都蓄電サービス株式会社 嵯峨支店 販売 一郎 様")).to_be_visible()
    shots(page, "dealer-menu")
    return code


def test_dealer_link_lifecycle(
    page: Page, customer_page: Page, shots, smtp_server, settings, live_server
):
    settings.BASE_URL = live_server.url
    dealer_page = page

    # 1. The dealer registers on the entry site, activates and logs in.
    code = register_dealer(dealer_page, shots, live_server, smtp_server)

    # 2. A second 保守担当者, confirmed through the mailed link.
    menu = dealer_page.get_by_role("navigation", name="販売店様メニュー")
    menu.get_by_role("link", name="保守担当者").click()
    expect(dealer_page.get_by_role("heading", name="保守担当者", exact=True)).to_be_visible()
    staff = dealer_page.get_by_role("table")
    expect(staff.get_by_role("row", name=DEALER_EMAIL)).to_contain_text("確認済み")
    shots(dealer_page, "staff")
    adding = dealer_page.locator("form", has=dealer_page.get_by_role("button", name="追加"))
    adding.get_by_label("氏名").fill("保守 太郎")
    adding.get_by_label("メールアドレス").fill(STAFF_EMAIL)
    adding.get_by_role("button", name="追加").click()
    expect(dealer_page.get_by_role("status")).to_contain_text(
        "保守 太郎 様を保守担当者に追加しました"
    )
    expect(staff.get_by_role("row", name=STAFF_EMAIL)).to_contain_text("確認待ち")
    shots(dealer_page, "staff-added")

    smtp_server.wait_for(2)
    (message,) = smtp_server.to(STAFF_EMAIL)
    assert "保守担当者メールアドレスの確認" in message["Subject"]
    assert f"販売店ID: {code}" in SmtpSink.body(message)
    dealer_page.goto(SmtpSink.link(message, "/dealer/staff/confirm/"))
    expect(dealer_page.get_by_role("heading", name="確認しました")).to_be_visible()
    expect(dealer_page.get_by_text(STAFF_EMAIL)).to_be_visible()
    shots(dealer_page, "staff-confirmed")
    dealer_page.goto(dealer_page.base_url + "/dealer/staff/")
    expect(staff.get_by_role("row", name=STAFF_EMAIL)).to_contain_text("確認済み")
    expect(staff.get_by_role("row", name=STAFF_EMAIL)).not_to_contain_text("確認待ち")
    shots(dealer_page, "staff-list-confirmed")

    # 3. The customer, at another computer, links the dealer to a gateway.
    owner = factories.customer(
        email="arashiyama@example.jp", name="嵐山 花子", furigana="アラシヤマ　ハナコ"
    )
    gateway = factories.owned_gateway(owner=owner, site_name=SITE_NAME)
    gw_id = gateway.gateway_id
    log_in(customer_page, owner.email)
    expect(customer_page.get_by_role("heading", name="メインメニュー")).to_be_visible()
    shots(customer_page, "customer-menu")
    open_link_form(customer_page, shots, gw_id)
    expect(customer_page.locator("dl.confirm")).to_contain_text("0社 / 5社")
    fill_dealer_pair(customer_page, code.lower(), "０７５－１１１－２２２２")  # as people type
    shots(customer_page, "link-form")
    customer_page.get_by_role("button", name="次に進む").click()

    expect(
        customer_page.get_by_role("heading", name="保守を任せる販売店様の登録内容確認")
    ).to_be_visible()
    pair = customer_page.locator("dl.confirm")
    expect(pair).to_contain_text(gw_id)
    expect(pair).to_contain_text(SITE_NAME)
    expect(pair).to_contain_text("京都蓄電サービス株式会社")
    expect(pair).to_contain_text(code)
    shots(customer_page, "link-confirm")
    customer_page.get_by_role("button", name="登録").click()  # without the consent
    expect(customer_page.get_by_role("alert")).to_contain_text(
        "同意いただけない場合は登録できません"
    )
    shots(customer_page, "link-confirm-no-consent")
    customer_page.get_by_label(CONSENT).check()
    customer_page.get_by_role("button", name="登録").click()
    expect(customer_page.get_by_role("heading", name="登録完了")).to_be_visible()
    expect(customer_page.get_by_text(f"(販売店ID {code})")).to_be_visible()
    shots(customer_page, "link-done")

    smtp_server.wait_for(4)
    for address in (DEALER_EMAIL, STAFF_EMAIL):
        (linked,) = [m for m in smtp_server.to(address) if "保守紐付け登録" in m["Subject"]]
        assert gw_id in SmtpSink.body(linked)
        assert SITE_NAME in SmtpSink.body(linked)

    # 4. The dealer sees the gateway and its customer's data (read-only).
    dealer_page.goto(dealer_page.base_url + "/dealer/")
    expect(menu.get_by_role("link", name="保守を任されているゲートウェイ")).to_contain_text("1台")
    menu.get_by_role("link", name="保守を任されているゲートウェイ").click()
    expect(
        dealer_page.get_by_role("heading", name="保守を任されているゲートウェイ")
    ).to_be_visible()
    expect(dealer_page.get_by_role("row", name=gw_id)).to_contain_text("嵐山 花子 様")
    shots(dealer_page, "entrusted")
    dealer_page.get_by_role("link", name=gw_id).click()
    expect(dealer_page.get_by_role("heading", name="お客様情報")).to_be_visible()
    data = dealer_page.locator("dl.confirm")
    expect(data).to_contain_text("嵐山 花子")
    expect(data).to_contain_text("アラシヤマ　ハナコ")
    expect(data).to_contain_text("090-1234-5678")
    expect(data).to_contain_text(SITE_NAME)
    expect(dealer_page.get_by_role("textbox")).to_have_count(0)  # nothing to edit
    expect(dealer_page.get_by_role("button")).to_have_count(1)  # ログアウト only
    shots(dealer_page, "entrusted-customer")
    customer_url = dealer_page.url

    # 5. Four more dealers make five; a sixth is refused on screen.
    for n in range(2, 6):
        other = factories.dealer(company=f"保守商会{n}号店")
        link_dealer(customer=owner, gateway=gateway, dealer=other)
    sixth = factories.dealer(company="六番目電機")
    customer_page.get_by_role("link", name="遠隔モニタリングサービス").click()  # the brand
    open_link_form(customer_page, shots, gw_id, shot=False)
    expect(customer_page.locator("dl.confirm")).to_contain_text("5社 / 5社")
    fill_dealer_pair(customer_page, sixth.dealer_code, "075-111-2222")
    customer_page.get_by_role("button", name="次に進む").click()
    expect(customer_page.get_by_role("alert")).to_contain_text(
        "1台のゲートウェイにつき5社まで登録できます"
    )
    expect(customer_page.get_by_role("heading", name="保守を任せる販売店様の登録")).to_be_visible()
    shots(customer_page, "link-sixth-refused")

    # 6. The customer unlinks the first dealer; the dealer's access ends at once.
    customer_page.get_by_role("link", name="遠隔モニタリングサービス").click()
    customer_page.get_by_role("navigation", name="メインメニュー").get_by_role(
        "link", name="保守を任せる販売店様の管理"
    ).click()
    expect(customer_page.get_by_role("row", name=gw_id)).to_contain_text("5社 / 5社")
    customer_page.get_by_role("link", name="保守している販売店様解除").click()
    expect(
        customer_page.get_by_role(
            "heading", name="保守を任せている販売店様を解除するゲートウェイの検索"
        )
    ).to_be_visible()
    shots(customer_page, "unlink-search")
    customer_page.get_by_role("link", name=gw_id, exact=True).click()
    expect(
        customer_page.get_by_role("heading", name="保守を任せている販売店様の解除")
    ).to_be_visible()
    linked = customer_page.get_by_role("table")
    expect(linked.locator("tbody tr")).to_have_count(5)
    shots(customer_page, "unlink-dealers")
    customer_page.get_by_label("販売店IDまたは販売店名").fill("京都蓄電")
    customer_page.get_by_role("button", name="検索").click()
    expect(linked.locator("tbody tr")).to_have_count(1)
    shots(customer_page, "unlink-dealers-found")
    linked.get_by_role("link", name=code).click()
    expect(
        customer_page.get_by_role("heading", name="保守を任せている販売店様の解除内容確認")
    ).to_be_visible()
    expect(customer_page.locator("dl.confirm")).to_contain_text(code)
    shots(customer_page, "unlink-confirm")
    customer_page.get_by_role("button", name="解除").click()
    expect(customer_page.get_by_role("heading", name="解除完了")).to_be_visible()
    shots(customer_page, "unlink-done")

    # The dealer's very next request is refused, and the gateway left its list.
    response = dealer_page.goto(customer_url)
    assert response.status == 404
    shots(dealer_page, "entrusted-customer-gone")
    dealer_page.goto(dealer_page.base_url + "/dealer/gateways/")
    expect(dealer_page.get_by_text("保守を任されているゲートウェイはありません。")).to_be_visible()
    expect(dealer_page.get_by_text(gw_id)).to_have_count(0)
    shots(dealer_page, "entrusted-empty")

    smtp_server.wait_for(10)  # 4 so far, 4 for the dealers made here, 2 for the unlink
    for address in (DEALER_EMAIL, STAFF_EMAIL):
        (unlinked,) = [m for m in smtp_server.to(address) if "保守紐付け解除" in m["Subject"]]
        assert gw_id in SmtpSink.body(unlinked)

    # The customer's record of the gateway: who looked, and the link history.
    customer_page.get_by_role("link", name="このゲートウェイの販売店様と操作履歴").click()
    expect(
        customer_page.get_by_role("heading", name="保守を任せている販売店様と操作履歴")
    ).to_be_visible()
    expect(
        customer_page.get_by_role("heading", name="保守を任せている販売店様(4社 / 5社)")
    ).to_be_visible()
    shots(customer_page, "gateway-history")


def test_dealer_screens_fit_phone(mobile_page: Page, shots, settings, live_server):
    settings.BASE_URL = live_server.url
    dealer = factories.dealer(
        email="sumaho@example.jp", company="京都蓄電サービス株式会社", furigana="ハンバイ　イチロウ"
    )
    owner = factories.customer(email="phone-owner@example.jp")
    gateway = factories.owned_gateway(owner=owner, site_name=SITE_NAME)
    page = mobile_page

    log_in(page, dealer.user.email)
    expect(page.get_by_role("heading", name="販売店様メニュー")).to_be_visible()
    expect(page.locator(".dealer-code")).to_have_text(dealer.dealer_code)
    shots(page, "dealer-menu")
    assert fits_width(page)
    page.get_by_role("button", name="ログアウト").click()

    log_in(page, owner.email)
    expect(page.get_by_role("heading", name="メインメニュー")).to_be_visible()
    page.get_by_role("navigation", name="メインメニュー").get_by_role(
        "link", name="保守を任せる販売店様の管理"
    ).click()
    expect(page.get_by_role("heading", name="保守を任せる販売店様の管理メニュー")).to_be_visible()
    shots(page, "links-menu")
    assert fits_width(page)

    page.get_by_role("link", name="保守を任せる販売店様登録").click()
    page.get_by_role("link", name=gateway.gateway_id, exact=True).click()
    fill_dealer_pair(page, dealer.dealer_code, DEALER_PHONE)
    page.get_by_role("button", name="次に進む").click()
    expect(page.get_by_role("heading", name="保守を任せる販売店様の登録内容確認")).to_be_visible()
    expect(page.get_by_label(CONSENT)).to_be_visible()
    shots(page, "link-confirm")
    assert fits_width(page)
