"""The owner's data rights in a real browser (issue 12 §5), at 1280 and 375 px: from
メインメニュー → アカウント情報, the data file downloads after the password, and 退会
asks for the password and the confirmation, says what happens, and ends in the
completion page, with the goodbye mail delivered over SMTP.

Screens are saved under test-artifacts/screenshots/ (privacy-*) to be looked at."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import Page, expect

from essmon.accounts.models import User
from essmon.gateways.models import Gateway
from tests import factories, privacy_world

pytestmark = [
    pytest.mark.browser,
    pytest.mark.smtp,
    pytest.mark.django_db(transaction=True),
]


def fits_width(page: Page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def log_in(page: Page, email: str) -> None:
    page.goto(page.base_url + "/login/")
    page.get_by_label("ユーザID(メールアドレス)").fill(email)
    page.get_by_label("パスワード").fill(factories.USER_PASSWORD)
    page.get_by_role("button", name="ログイン").click()
    expect(page.get_by_role("heading", name="メインメニュー")).to_be_visible()


@pytest.mark.parametrize("width", [1280, 375])
def test_export_and_withdrawal(request, width, smtp_server, tmp_path):
    tab: Page = request.getfixturevalue("page" if width == 1280 else "mobile_page")
    shots = request.getfixturevalue("shots")
    world = privacy_world.build()
    log_in(tab, privacy_world.EMAIL)
    tab.get_by_role("link", name="アカウント情報").first.click()
    expect(tab.get_by_role("heading", name="アカウント情報")).to_be_visible()
    shots(tab, f"{width}-account")

    # お客様データのダウンロード: the password, then one JSON file
    tab.get_by_role("link", name="お客様データのダウンロード").click()
    expect(tab.get_by_role("heading", name="お客様データのダウンロード")).to_be_visible()
    expect(tab.get_by_text("1日ごとに集計した電力量としてお渡しします")).to_be_visible()
    assert fits_width(tab)
    shots(tab, f"{width}-export")
    tab.get_by_label("パスワード").fill("Wrong2024Pass")
    tab.get_by_role("button", name="ダウンロード").click()
    expect(tab.locator("#id_password_error")).to_have_text("現在のパスワードが正しくありません。")
    expect(tab.get_by_role("alert")).to_contain_text("現在のパスワードが正しくありません。")
    tab.get_by_label("パスワード").fill(factories.USER_PASSWORD)
    with tab.expect_download() as download:
        tab.get_by_role("button", name="ダウンロード").click()
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    assert saved.name.startswith("essmon-data-") and saved.suffix == ".json"
    data = json.loads(saved.read_text(encoding="utf-8"))
    assert data["version"] == 2 and data["account"]["name"] == privacy_world.NAME
    assert len(data["gateways"]) == 2

    # 退会: what happens, what is kept; nothing without the confirmation
    tab.get_by_role("link", name="前に戻る").click()
    tab.get_by_role("link", name="退会", exact=True).click()
    expect(tab.get_by_role("heading", name="退会", exact=True)).to_be_visible()
    expect(tab.get_by_text("個人情報保護法第29条により保存が義務づけられている")).to_be_visible()
    expect(tab.get_by_text(world.gateways[0].gateway_id).first).to_be_visible()
    assert fits_width(tab)
    shots(tab, f"{width}-withdraw")
    tab.get_by_label("パスワード").fill(factories.USER_PASSWORD)
    tab.get_by_role("button", name="退会する").click()
    expect(tab.locator("#id_confirm_error")).to_contain_text("チェックを入れてください")
    expect(tab.get_by_role("alert")).to_contain_text("チェックを入れてください")
    assert User.objects.filter(pk=world.customer.pk).exists()
    shots(tab, f"{width}-withdraw-error")
    tab.get_by_label("パスワード").fill(factories.USER_PASSWORD)
    tab.get_by_label("上記の内容を確認し、退会します").check()
    tab.get_by_role("button", name="退会する").click()
    expect(tab.get_by_role("heading", name="退会手続き完了")).to_be_visible()
    assert fits_width(tab)
    shots(tab, f"{width}-withdrawn")

    assert not User.objects.filter(pk=world.customer.pk).exists()
    assert Gateway.objects.get(pk=world.gateways[0].pk).state == Gateway.State.UNCLAIMED
    smtp_server.wait_for(3)
    (goodbye,) = [m for m in smtp_server.to(privacy_world.EMAIL) if "退会" in m["Subject"]]
    assert "退会手続きが完了しました" in smtp_server.body(goodbye)
    # logged out everywhere: the menu asks for a login again
    tab.goto(tab.base_url + "/menu/")
    expect(tab.get_by_role("heading", name="ログイン")).to_be_visible()
