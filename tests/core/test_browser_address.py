"""Issue 12 §2 in a real browser: 「住所検索」 keeps the whole address, and its answer never
replaces or doubles what the person typed while it was on its way.

The look-up's answers are held back with Playwright's route interception and released
when the test says, so each race happens every time: the person types on before the
answer, an older answer arrives after a newer one, a double press sends two.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, Route, expect

from tests import factories
from tests.browsing import fits_width

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LOOKUP = re.compile(r"/entry/postal/")
USER, SITE = "ユーザ様情報", "設置先 [案件]"
WHOLE = "京都府京都市下京区東塩小路町1-1"


def open_form(page: Page) -> None:
    page.goto(page.base_url + "/")
    page.get_by_role("link", name="お客様情報の登録").click()
    page.get_by_role("button", name="同意する").click()
    expect(page.get_by_role("heading", name="ユーザ様 アカウント登録")).to_be_visible()


def hold_lookups(page: Page) -> list[Route]:
    """Every look-up from now on waits in the returned list until the test releases it."""
    held: list[Route] = []

    def hold(route: Route) -> None:
        held.append(route)

    page.route(LOOKUP, hold)
    return held


def wait_for(page: Page, held: list[Route], count: int) -> None:
    for _ in range(200):
        if len(held) >= count:
            return
        page.wait_for_timeout(25)
    raise AssertionError(f"{count} look-ups expected, {len(held)} sent")


def note_of(page: Page, block: str):
    target = "user" if block == USER else "site"
    return page.locator(f"#postal-note-{target}")


@pytest.mark.parametrize("block", [USER, SITE], ids=["user", "site"])
def test_typing_on_before_the_answer_is_kept(page: Page, shots, block):
    """Typing 郵便番号, then straight into それ以降の住所: the answer fills 都道府県 and
    市町村区 and leaves 「1-1」 alone (it once became 「1-1京都市下京区東塩小路町」)."""
    open_form(page)
    held = hold_lookups(page)
    group = page.get_by_role("group", name=block)
    group.get_by_label("郵便番号").press_sequentially("6008216")
    group.get_by_label("それ以降の住所").click()
    wait_for(page, held, 1)
    group.get_by_label("それ以降の住所").press_sequentially("1-1")
    held[0].continue_()  # the answer arrives only now

    expect(group.get_by_label("都道府県")).to_have_value("京都府")
    expect(group.get_by_label("市町村区")).to_have_value("京都市下京区")
    expect(group.get_by_label("郵便番号")).to_have_value("600-8216")
    expect(note_of(page, block)).to_have_text(
        "それ以降の住所は入力済みのため変えていません。この郵便番号の町域は「東塩小路町」です。"
    )
    page.wait_for_timeout(200)  # nothing else is coming
    expect(group.get_by_label("それ以降の住所")).to_have_value("1-1")
    assert len(held) == 1
    group.scroll_into_view_if_needed()
    shots(page, "typed-on")


def test_a_late_or_repeated_answer_never_doubles(page: Page, shots):
    """An older answer after a newer one is dropped; two presses of 住所検索 fill once;
    a look-up after the person typed behind the town adds nothing (it once gave
    「京都市下京区京都市下京区」)."""
    open_form(page)
    held = hold_lookups(page)
    site = page.get_by_role("group", name=SITE)
    postal, rest = site.get_by_label("郵便番号"), site.get_by_label("それ以降の住所")

    postal.press_sequentially("1000001")  # 千代田区千代田
    wait_for(page, held, 1)
    postal.fill("")
    postal.press_sequentially("600-8216")
    wait_for(page, held, 2)
    held[1].continue_()  # the newer answer first
    expect(rest).to_have_value("東塩小路町")
    held[0].continue_()  # then the stale one: dropped
    page.wait_for_timeout(300)
    expect(site.get_by_label("都道府県")).to_have_value("京都府")
    expect(site.get_by_label("市町村区")).to_have_value("京都市下京区")
    expect(rest).to_have_value("東塩小路町")

    button = site.get_by_role("button", name="住所検索")
    button.click()
    button.click()
    wait_for(page, held, 4)
    held[2].continue_()
    held[3].continue_()
    page.wait_for_timeout(300)
    expect(site.get_by_label("市町村区")).to_have_value("京都市下京区")
    expect(rest).to_have_value("東塩小路町")

    rest.press("End")
    rest.press_sequentially("1-1")
    button.click()
    wait_for(page, held, 5)
    rest.press("End")
    rest.press_sequentially(" 2F")  # typed while the answer is on its way
    held[4].continue_()
    page.wait_for_timeout(300)
    expect(site.get_by_label("市町村区")).to_have_value("京都市下京区")
    expect(rest).to_have_value("東塩小路町1-1 2F")
    site.scroll_into_view_if_needed()
    shots(page, "no-doubling")


def fill_with_lookups(page: Page, gateway_id: str) -> None:
    user = page.get_by_role("group", name=USER)
    user.get_by_label("氏名").fill("御室 花子")
    user.get_by_label("フリガナ").fill("おむろ はなこ")
    user.get_by_role("textbox", name="メールアドレス", exact=True).fill("hanako@example.jp")
    user.get_by_label("メールアドレス(確認用)").fill("hanako@example.jp")
    for block in (USER, SITE):
        group = page.get_by_role("group", name=block)
        if block == SITE:
            group.get_by_label("案件名").fill("御室邸")
        group.get_by_label("郵便番号").fill("600-8216")
        group.get_by_role("button", name="住所検索").click()
        expect(group.get_by_label("市町村区")).to_have_value("京都市下京区")
        expect(group.get_by_label("それ以降の住所")).to_have_value("東塩小路町")
        group.get_by_label("それ以降の住所").press("End")
        group.get_by_label("それ以降の住所").press_sequentially("1-1")
    user.get_by_label("電話番号").fill("090-1234-5678")
    gateway = page.get_by_role("group", name="ゲートウェイ情報")
    gateway.get_by_label("ゲートウェイID").fill(gateway_id)
    gateway.get_by_label("ゲートウェイパスワード").fill(factories.GATEWAY_PASSWORD)


@pytest.mark.parametrize("width", [1280, 375])
def test_the_confirm_page_shows_both_addresses_whole(request, shots, width):
    page: Page = request.getfixturevalue("page" if width == 1280 else "mobile_page")
    gw = factories.gateway()
    open_form(page)
    fill_with_lookups(page, gw.gateway_id)
    site = page.get_by_role("group", name=SITE)
    site.scroll_into_view_if_needed()
    shots(page, "form")
    assert fits_width(page, width)
    page.get_by_role("button", name="次に進む").click()
    expect(page.get_by_role("heading", name="入力内容確認")).to_be_visible()
    for block in page.locator("dl.confirm").filter(has_text="〒600-8216").all():
        expect(block).to_contain_text(WHOLE)
    expect(page.locator("dl.confirm").filter(has_text=WHOLE)).to_have_count(2)
    shots(page, "confirm")
    assert fits_width(page, width)


def test_without_javascript_the_server_fills_and_keeps_typed_text(browser, live_server, shots):
    context = browser.new_context(
        locale="ja-JP", java_script_enabled=False, viewport={"width": 1280, "height": 900}
    )
    page = context.new_page()
    page.base_url = live_server.url
    open_form(page)
    site = page.get_by_role("group", name=SITE)
    site.get_by_label("案件名").fill("御室邸")
    site.get_by_label("郵便番号").fill("６００８２１６")
    site.get_by_label("それ以降の住所").fill("1-1")
    site.get_by_role("button", name="住所検索").click()
    site = page.get_by_role("group", name=SITE)
    expect(site.get_by_label("郵便番号")).to_have_value("600-8216")
    expect(site.get_by_label("都道府県")).to_have_value("京都府")
    expect(site.get_by_label("市町村区")).to_have_value("京都市下京区")
    expect(site.get_by_label("それ以降の住所")).to_have_value("1-1")
    expect(page.get_by_text("この郵便番号の町域は「東塩小路町」です。")).to_be_visible()
    expect(site.get_by_label("案件名")).to_have_value("御室邸")
    site.scroll_into_view_if_needed()
    shots(page, "no-js")
    context.close()
