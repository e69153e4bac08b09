"""お客様情報の登録 in a real browser: the whole customer flow, the way a person does it.

Everything is found by its visible label or button words; every screen is saved under
test-artifacts/screenshots/ so that a person can look at it.
"""

import contextlib
import re

import pytest
from playwright._impl._errors import TargetClosedError
from playwright.sync_api import Page, expect

from tests import factories
from tests.conftest import SmtpSink

# The live server runs in another thread, so the data must be committed.
pytestmark = [
    pytest.mark.browser,
    pytest.mark.smtp,
    pytest.mark.django_db(transaction=True),
]

EMAIL = "hanako@example.jp"
PHONE = "090-1234-5678"
PASSWORD = "Solar2024Kyoto"


def fits_width(page: Page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def fill_first_registration(page: Page, shots, gateway_id: str) -> None:
    user = page.get_by_role("group", name="ユーザ様情報")
    user.get_by_label("氏名").fill("御室 花子")
    user.get_by_label("フリガナ").fill("おむろ はなこ")
    user.get_by_role("textbox", name="メールアドレス", exact=True).fill(EMAIL)
    user.get_by_label("メールアドレス(確認用)").fill(EMAIL)
    user.get_by_label("郵便番号").fill("600-8216")
    user.get_by_role("button", name="住所検索").click()
    expect(user.get_by_label("都道府県")).to_have_value("京都府")
    expect(user.get_by_label("都道府県").locator("option:checked")).to_have_text("京都府")
    expect(user.get_by_label("市町村区")).to_have_value("京都市下京区")
    expect(user.get_by_label("郵便番号")).to_have_value("600-8216")
    user.get_by_label("それ以降の住所").fill("東塩小路町1-1")
    user.get_by_label("電話番号").fill(PHONE)

    gateway = page.get_by_role("group", name="ゲートウェイ情報")
    gateway.get_by_label("ゲートウェイID").fill(gateway_id)
    gateway.get_by_label("ゲートウェイパスワード").fill(factories.GATEWAY_PASSWORD)

    site = page.get_by_role("group", name="設置先 [案件]")
    site.get_by_label("案件名").fill("御室邸")
    site.get_by_label("郵便番号").fill("6008216")
    site.get_by_role("button", name="住所検索").click()
    expect(site.get_by_label("都道府県")).to_have_value("京都府")
    expect(site.get_by_label("市町村区")).to_have_value("京都市下京区")
    expect(site.get_by_label("それ以降の住所")).to_have_value("東塩小路町")
    site.get_by_label("それ以降の住所").fill("東塩小路町1-1")
    shots(page, "form-filled")


def test_first_registration_to_second_gateway(
    page: Page, shots, smtp_server, settings, live_server
):
    settings.BASE_URL = live_server.url
    first = factories.gateway()
    second = factories.gateway()

    # 1. Landing → 利用規約 → 同意する
    page.goto(page.base_url + "/")
    expect(
        page.get_by_role("heading", name="遠隔モニタリングサービス 管理・登録サイト")
    ).to_be_visible()
    expect(page.get_by_role("link", name="すでにアカウントをお持ちの方")).to_be_visible()
    shots(page, "landing")
    page.get_by_role("link", name="お客様情報の登録").click()
    expect(page.get_by_role("heading", name="利用規約", exact=True)).to_be_visible()
    expect(page.get_by_role("heading", name="個人情報の利用目的")).to_be_visible()
    shots(page, "terms")
    page.get_by_role("button", name="同意する").click()

    # 2. The input form, with the postal look-up and the sample sheet.
    expect(page.get_by_role("heading", name="ユーザ様 アカウント登録")).to_be_visible()
    shots(page, "form-empty")
    with page.context.expect_page() as opened:
        page.get_by_role("link", name="サンプル画像はこちら").click()
    sample = opened.value
    sample.wait_for_load_state()
    expect(
        sample.get_by_role("heading", name="ゲートウェイIDとパスワードの記載場所")
    ).to_be_visible()
    expect(sample.get_by_role("img", name="「ご登録にあたって」用紙の見本")).to_be_visible()
    shots(sample, "sample-sheet")
    # window.close() can win the race with the click's own return
    with sample.expect_event("close"), contextlib.suppress(TargetClosedError):
        sample.get_by_role("link", name="この画面を閉じる").click()
    assert sample.is_closed()

    fill_first_registration(page, shots, first.gateway_id)

    # 3. 次に進む → 入力内容確認 → 前に戻る (input kept) → 次に進む → 登録
    page.get_by_role("button", name="次に進む").click()
    expect(page.get_by_role("heading", name="入力内容確認")).to_be_visible()
    confirm = page.locator("dl.confirm").first
    expect(confirm).to_contain_text("オムロ　ハナコ")  # the hiragana was converted
    expect(confirm).to_contain_text("〒600-8216")
    expect(confirm).to_contain_text("京都府京都市下京区東塩小路町1-1")
    expect(page.get_by_text(first.gateway_id)).to_be_visible()
    gateway_block = page.locator("dl.confirm").filter(has_text=first.gateway_id)
    expect(gateway_block).to_contain_text("確認済み")
    assert factories.GATEWAY_PASSWORD not in page.content()
    shots(page, "confirm")

    page.get_by_role("button", name="前に戻る").click()
    expect(page.get_by_role("heading", name="ユーザ様 アカウント登録")).to_be_visible()
    user = page.get_by_role("group", name="ユーザ様情報")
    expect(user.get_by_label("氏名")).to_have_value("御室 花子")
    expect(user.get_by_label("メールアドレス(確認用)")).to_have_value(EMAIL)
    expect(user.get_by_label("都道府県")).to_have_value("京都府")
    expect(user.get_by_label("市町村区")).to_have_value("京都市下京区")
    expect(page.get_by_label("ゲートウェイID")).to_have_value(first.gateway_id)
    # the checked password is neither kept nor sent back: the page says it was checked
    expect(page.get_by_label("ゲートウェイパスワード")).to_have_value("")
    expect(
        page.get_by_text(f"ゲートウェイID {first.gateway_id} のパスワードは確認済みです。")
    ).to_be_visible()
    assert factories.GATEWAY_PASSWORD not in page.content()
    expect(page.get_by_label("案件名")).to_have_value("御室邸")
    shots(page, "form-back")

    page.get_by_role("button", name="次に進む").click()
    expect(page.get_by_role("heading", name="入力内容確認")).to_be_visible()
    page.get_by_role("button", name="登録").click()
    expect(page.get_by_role("heading", name="仮登録完了")).to_be_visible()
    expect(page.get_by_text(EMAIL)).to_be_visible()
    shots(page, "provisional-done")

    # 4. The 仮登録メール, then 本登録 through its link.
    smtp_server.wait_for(1)
    (message,) = smtp_server.to(EMAIL)
    assert "仮登録" in message["Subject"]
    body = SmtpSink.body(message)
    assert body.startswith("お申し込みいただいたお客様へ")  # no typed name: not confirmed yet
    assert re.search(r"\d{4}年\d{1,2}月\d{1,2}日 \d{2}:\d{2} まで有効です", body)
    link = SmtpSink.link(message, "/activate/")
    assert link.startswith(live_server.url)

    page.goto(link)
    expect(page.get_by_role("heading", name="利用規約", exact=True)).to_be_visible()
    expect(page.get_by_text("御室 花子 様、本登録の前に利用規約をご確認ください。")).to_be_visible()
    expect(page.get_by_role("button", name="ログアウト")).to_have_count(0)  # not logged in yet
    shots(page, "activation-terms")
    page.get_by_role("button", name="同意する").click()

    expect(page.get_by_role("heading", name="パスワード登録")).to_be_visible()
    page.get_by_role("textbox", name="パスワード", exact=True).fill(PASSWORD)
    page.get_by_label("パスワード(確認用)").fill(PASSWORD)
    page.get_by_label("電話番号").fill(PHONE)
    shots(page, "activation-password")
    page.get_by_role("button", name="登録").click()
    expect(page.get_by_role("heading", name="本登録済み")).to_be_visible()
    shots(page, "activated")
    page.get_by_role("link", name="ログインに戻る").click()

    # 5. Login → メインメニュー
    expect(page.get_by_role("heading", name="ログイン")).to_be_visible()
    page.get_by_label("ユーザID(メールアドレス)").fill(EMAIL)
    page.get_by_label("パスワード").fill(PASSWORD)
    shots(page, "login")
    page.get_by_role("button", name="ログイン").click()
    expect(page.get_by_role("heading", name="メインメニュー")).to_be_visible()
    gateways = page.get_by_role("table")
    expect(gateways.get_by_role("row", name=first.gateway_id)).to_contain_text("御室邸")
    expect(gateways.get_by_role("row", name=first.gateway_id)).to_contain_text("登録済み")
    shots(page, "menu")

    # 6. 「ゲートウェイの登録」 of a second gateway.
    menu = page.get_by_role("navigation", name="メインメニュー")
    menu.get_by_role("link", name="ゲートウェイの登録").click()
    expect(page.get_by_role("heading", name="ゲートウェイの登録")).to_be_visible()
    page.get_by_label("ゲートウェイID").fill(second.gateway_id)
    page.get_by_label("ゲートウェイパスワード").fill(factories.GATEWAY_PASSWORD)
    shots(page, "gateway-add")
    page.get_by_role("button", name="次に進む").click()

    expect(page.get_by_role("group", name="設置先 [案件]")).to_be_visible()
    page.get_by_label("案件名").fill("丸の内倉庫")
    page.get_by_label("郵便番号").fill("100-0005")
    page.get_by_role("button", name="住所検索").click()
    expect(page.get_by_label("都道府県")).to_have_value("東京都")
    expect(page.get_by_label("市町村区")).to_have_value("千代田区")
    expect(page.get_by_label("それ以降の住所")).to_have_value("丸の内")
    page.get_by_label("それ以降の住所").fill("丸の内1-1")
    shots(page, "gateway-add-site")
    page.get_by_role("button", name="次に進む").click()

    expect(page.get_by_role("heading", name="入力内容確認")).to_be_visible()
    expect(page.locator("dl.confirm")).to_contain_text(second.gateway_id)
    expect(page.locator("dl.confirm")).to_contain_text("東京都千代田区丸の内1-1")
    shots(page, "gateway-add-confirm")
    page.get_by_role("button", name="登録").click()
    expect(page.get_by_role("heading", name="ゲートウェイ登録完了")).to_be_visible()
    shots(page, "gateway-add-done")
    page.get_by_role("link", name="メインメニューに戻る").click()

    expect(page.get_by_role("heading", name="メインメニュー")).to_be_visible()
    expect(gateways.get_by_role("row", name=first.gateway_id)).to_contain_text("御室邸")
    expect(gateways.get_by_role("row", name=second.gateway_id)).to_contain_text("丸の内倉庫")
    shots(page, "menu-two-gateways")

    # The menu's other destinations.
    menu.get_by_role("link", name="モニタリングサイト").click()
    # an owner of two systems gets the list of their sites, not the dealers' fleet table
    expect(page.get_by_role("heading", name="ゲートウェイ一覧")).to_be_visible()
    sites = page.get_by_test_id("site-list")
    expect(sites.get_by_role("listitem").filter(has_text=second.gateway_id)).to_contain_text(
        "丸の内倉庫"
    )
    shots(page, "monitoring")
    page.get_by_role("link", name="メインメニューに戻る").click()
    menu.get_by_role("link", name="商品マニュアル").click()
    expect(
        page.get_by_role("heading", name="商品マニュアル 遠隔モニタリングサービス")
    ).to_be_visible()
    shots(page, "manual")
    assert fits_width(page)


def test_mobile_screens_fit(mobile_page: Page, shots):
    owner = factories.customer(email="mobile@example.jp")
    site = factories.site(owner=owner)
    gw = factories.gateway(state="claimed", owner=owner, site=site)
    page = mobile_page

    page.goto(page.base_url + "/")
    expect(page.get_by_role("link", name="お客様情報の登録")).to_be_visible()
    shots(page, "landing")
    assert fits_width(page)

    page.get_by_role("link", name="お客様情報の登録").click()
    page.get_by_role("button", name="同意する").click()
    expect(page.get_by_role("heading", name="ユーザ様 アカウント登録")).to_be_visible()
    shots(page, "form")
    assert fits_width(page)

    page.goto(page.base_url + "/")
    page.get_by_role("link", name="すでにアカウントをお持ちの方").click()
    page.get_by_label("ユーザID(メールアドレス)").fill(owner.email)
    page.get_by_label("パスワード").fill(factories.USER_PASSWORD)
    page.get_by_role("button", name="ログイン").click()
    expect(page.get_by_role("heading", name="メインメニュー")).to_be_visible()
    expect(page.get_by_text(gw.gateway_id)).to_be_visible()
    shots(page, "menu")
    assert fits_width(page)


def test_a_locked_account_is_told_so_on_the_admin_and_the_sites_login(page: Page, shots):
    from essmon.accounts.models import User

    User.objects.create_superuser("op@example.jp", PASSWORD, name="運営")
    page.goto(page.base_url + "/admin/login/")
    for _ in range(10):
        page.get_by_label("メールアドレス").fill("op@example.jp")
        page.get_by_label("パスワード").fill("WrongPass1")
        page.get_by_role("button", name="ログイン").click()
    page.get_by_label("メールアドレス").fill("op@example.jp")
    page.get_by_label("パスワード").fill(PASSWORD)
    page.get_by_role("button", name="ログイン").click()
    expect(page.get_by_text("このユーザIDはロックされています")).to_be_visible()
    shots(page, "admin-locked")
    page.get_by_role("link", name=re.compile("忘れ")).click()
    expect(page.get_by_role("heading", name="パスワードの再設定")).to_be_visible()
    page.goto(page.base_url + "/login/")
    page.get_by_label("ユーザID(メールアドレス)").fill("op@example.jp")
    page.get_by_label("パスワード").fill(PASSWORD)
    page.get_by_role("button", name="ログイン").click()
    expect(page.get_by_role("alert")).to_contain_text("このユーザIDはロックされています")
    shots(page, "login-locked")
