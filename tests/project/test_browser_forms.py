"""Forms in a real browser (issue 12 §3 and §6): the 表示 button on every kind of password
field, the error summary after a refused submit, the skip link and the focus ring.

Screens are saved under test-artifacts/screenshots/ at 1280 and 375 px.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth.tokens import default_token_generator
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from playwright.sync_api import Page, expect

from essmon.accounts.models import AccountToken
from essmon.accounts.tokens import issue_token
from tests import factories
from tests.browsing import fits_width

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# ids named by aria-describedby that no element has
MISSING_DESCRIBED_BY = """() => [...document.querySelectorAll('[aria-describedby]')].flatMap(
  (el) => el.getAttribute('aria-describedby').split(/\\s+/)
    .filter((id) => id && !document.getElementById(id))
    .map((id) => `${el.id || el.tagName} -> ${id}`))"""
# inputs in a field marked as in error that do not say so to assistive technology
NOT_INVALID = """() => [...document.querySelectorAll(
  '.has-error input:not([type=hidden]), .has-error select, .has-error textarea')]
  .filter((el) => el.getAttribute('aria-invalid') !== 'true').map((el) => el.id)"""


def log_in(page: Page, email: str, path: str = "/login/") -> None:
    page.goto(page.base_url + path)
    page.get_by_label("ユーザID(メールアドレス)").fill(email)
    page.locator("#id_password").fill(factories.USER_PASSWORD)
    page.get_by_role("button", name="ログイン").click()
    expect(page.get_by_role("heading", name="ログイン")).to_have_count(0)


def activation_path(user) -> str:
    raw, _token = issue_token(
        user=user, purpose=AccountToken.Purpose.ACTIVATION, lifetime=timedelta(days=7)
    )
    return f"/activate/{raw}/"


def reset_path(user) -> str:
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    return f"/password-reset/{uid}/{default_token_generator.make_token(user)}/"


def check_password_toggles(page: Page) -> int:
    """Every password field on the page: 表示 shows it, 非表示 hides it, by mouse and by
    keyboard, and the button says which field it belongs to."""
    ids = page.locator('input[type="password"]').evaluate_all("(els) => els.map((e) => e.id)")
    assert ids, page.url
    for input_id in ids:
        field = page.locator(f"#{input_id}")
        button = page.locator(f'button[aria-controls="{input_id}"]')
        expect(button).to_be_visible()
        label = button.locator(".visually-hidden").text_content()
        expect(button).to_have_accessible_name(f"表示 {label}")
        assert re.fullmatch(r"\(.+\)", label) and ":" not in label, label
        field.fill("Secret12ab")
        button.click()
        expect(field).to_have_attribute("type", "text")
        expect(button).to_have_accessible_name(f"非表示 {label}")
        expect(field).to_have_value("Secret12ab")
        button.click()
        expect(field).to_have_attribute("type", "password")
        button.focus()
        page.keyboard.press("Enter")
        expect(field).to_have_attribute("type", "text")
        page.keyboard.press("Space")
        expect(field).to_have_attribute("type", "password")
        field.fill("")
    return len(ids)


def check_refused_submit(page: Page) -> None:
    """After a refused submit: the focus on the error summary, the one alert on the page,
    every described-by id present, every field in error marked invalid, and the summary's
    link takes the focus to its field."""
    summary = page.locator("#error-summary")
    expect(summary).to_be_focused()
    expect(page.locator('[role="alert"]')).to_have_count(1)
    assert page.title().startswith("エラー: ")
    assert page.evaluate(MISSING_DESCRIBED_BY) == []
    assert page.evaluate(NOT_INVALID) == []
    links = summary.get_by_role("link")
    if links.count():
        target = links.first.get_attribute("href")
        field = page.locator(target)
        assert field.get_attribute("aria-invalid") == "true"
        error_id = target[1:] + "_error"
        assert error_id in (field.get_attribute("aria-describedby") or "").split()
        expect(page.locator(f"#{error_id}")).to_be_visible()
        links.first.click()
        expect(field).to_be_focused()


def test_every_password_field_has_a_working_show_button(page: Page, shots, live_server):
    owner = factories.customer(email="hanako.omuro@example.jp")
    provisional = factories.customer(email="new@example.jp", is_active=False, activated_at=None)
    reset_user = factories.customer(email="reset@example.jp")

    # not logged in: the logins, the registration's gateway password, activation, reset
    page.goto(page.base_url + "/login/")
    assert check_password_toggles(page) == 1
    shots(page, "login")
    page.goto(page.base_url + "/monitoring/login/")
    assert check_password_toggles(page) == 1
    page.goto(page.base_url + "/admin/login/")
    assert check_password_toggles(page) == 1  # the admin's own template: made by forms.js
    shots(page, "admin-login")
    page.goto(page.base_url + "/")
    page.get_by_role("link", name="お客様情報の登録").click()
    page.get_by_role("button", name="同意する").click()
    assert check_password_toggles(page) == 1  # ゲートウェイパスワード
    page.goto(page.base_url + activation_path(provisional))
    page.get_by_role("button", name="同意する").click()
    assert check_password_toggles(page) == 2
    shots(page, "activation")
    page.goto(page.base_url + reset_path(reset_user))
    assert check_password_toggles(page) == 2

    # logged in: password change, mail change, adding a gateway
    log_in(page, owner.email)
    for path, count in [
        ("/menu/account/password/", 3),
        ("/menu/account/email/", 1),
        ("/menu/gateways/add/", 1),
    ]:
        page.goto(page.base_url + path)
        assert check_password_toggles(page) == count, path
    page.goto(page.base_url + "/menu/account/password/")
    page.get_by_role("button", name="表示 (新しいパスワード)", exact=True).click()
    shots(page, "password-change-shown")


def test_a_shown_password_is_sent_hidden_and_the_login_works(page: Page, live_server):
    user = factories.customer()
    page.goto(page.base_url + "/login/")
    page.get_by_label("ユーザID(メールアドレス)").fill(user.email)
    page.locator("#id_password").fill(factories.USER_PASSWORD)
    page.get_by_role("button", name="表示 (パスワード)").click()
    expect(page.locator("#id_password")).to_have_attribute("type", "text")
    page.get_by_role("button", name="ログイン").click()
    expect(page.get_by_role("heading", name="メインメニュー")).to_be_visible()


def test_login_id_is_typed_as_a_mail_address(page: Page, live_server):
    page.goto(page.base_url + "/login/")
    login_id = page.get_by_label("ユーザID(メールアドレス)")
    expect(login_id).to_have_attribute("type", "email")
    expect(login_id).to_have_attribute("autocomplete", "username")
    expect(page.locator("#id_password")).to_have_attribute("autocomplete", "current-password")


def test_refused_submits_focus_one_error_summary(page: Page, shots, live_server):
    owner = factories.customer(email="hanako.omuro@example.jp")
    gateway = factories.owned_gateway(owner=owner)
    provisional = factories.customer(email="new@example.jp", is_active=False, activated_at=None)

    # a refused login: a message that belongs to no field
    page.goto(page.base_url + "/login/")
    page.get_by_label("ユーザID(メールアドレス)").fill(owner.email)
    page.locator("#id_password").fill("WrongPass1")
    page.get_by_role("button", name="ログイン").click()
    check_refused_submit(page)
    shots(page, "login-refused")

    # the registration form sent empty: one entry per field, each linked
    page.goto(page.base_url + "/")
    page.get_by_role("link", name="お客様情報の登録").click()
    page.get_by_role("button", name="同意する").click()
    page.get_by_role("button", name="次に進む").click()
    check_refused_submit(page)
    expect(page.locator("#error-summary li")).to_have_count(page.locator(".field .error p").count())
    shots(page, "registration-refused")

    # activation: a password that breaks three rules, each said on its own line
    page.goto(page.base_url + activation_path(provisional))
    page.get_by_role("button", name="同意する").click()
    page.locator("#id_password").fill("solar")
    page.get_by_label("パスワード(確認用)").fill("solar")
    page.get_by_label("電話番号").fill("090-1234-5678")
    page.get_by_role("button", name="登録").click()
    check_refused_submit(page)
    expect(page.locator("#id_password_error p")).to_have_count(3)
    shots(page, "activation-refused")

    # logged in: password change, a gateway's password, the warranty dates
    log_in(page, owner.email)
    page.goto(page.base_url + "/menu/account/password/")
    page.get_by_label("現在のパスワード").fill(factories.USER_PASSWORD)
    page.locator("#id_new_password").fill("Password1")
    page.get_by_label("新しいパスワード(確認用)").fill("Password2")
    page.get_by_role("button", name="変更").click()
    check_refused_submit(page)
    shots(page, "password-change-refused")
    page.goto(page.base_url + "/menu/gateways/add/")
    page.get_by_role("button", name="次に進む").click()
    check_refused_submit(page)
    page.goto(page.base_url + f"/monitoring/{gateway.gateway_id}/warranty/")
    page.get_by_label("系統連系日").fill("2099-01-01")  # not yet: refused
    page.get_by_role("button", name="日付を保存する").click()
    check_refused_submit(page)
    shots(page, "warranty-refused")


def test_skip_link_is_the_first_tab_stop_and_skips(page: Page, shots, live_server):
    for path in ["/", "/login/"]:
        page.goto(page.base_url + path)
        page.keyboard.press("Tab")
        skip = page.get_by_role("link", name="本文へスキップ")
        expect(skip).to_be_focused()
        expect(skip).to_be_in_viewport()
        if path == "/login/":
            shots(page, "skip-link")
        page.keyboard.press("Enter")
        expect(page.locator("main#main")).to_be_focused()
        page.keyboard.press("Tab")
        # the next stop is inside the main content, not the header's
        assert page.evaluate("document.querySelector('main').contains(document.activeElement)")


def test_buttons_and_links_show_a_focus_ring(page: Page, shots, live_server):
    page.goto(page.base_url + "/login/")
    button = page.get_by_role("button", name="ログイン")
    plain = button.evaluate("(el) => getComputedStyle(el).outlineStyle")
    page.locator("#id_password").focus()
    page.keyboard.press("Tab")  # to 表示
    page.keyboard.press("Tab")  # to ログイン: the keyboard's focus, so :focus-visible
    expect(button).to_be_focused()
    ring = button.evaluate(
        """(el) => { const s = getComputedStyle(el);
           return {visible: el.matches(':focus-visible'), style: s.outlineStyle,
                   width: parseFloat(s.outlineWidth), color: s.outlineColor,
                   shadow: s.boxShadow}; }"""
    )
    assert plain == "none"
    assert ring["visible"] and ring["style"] == "solid" and ring["width"] >= 3, ring
    assert ring["color"] == "rgb(31, 42, 51)" and ring["shadow"] != "none", ring
    shots(page, "focus-ring-button")
    page.keyboard.press("Tab")  # パスワードをお忘れの方
    link = page.get_by_role("link", name="パスワードをお忘れの方")
    expect(link).to_be_focused()
    style = link.evaluate("(el) => getComputedStyle(el).outlineStyle")
    assert style == "solid"


def test_forms_at_phone_width(mobile_page: Page, shots, live_server):
    page = mobile_page
    provisional = factories.customer(email="new@example.jp", is_active=False, activated_at=None)
    page.goto(page.base_url + "/login/")
    page.get_by_role("button", name="ログイン").click()
    check_refused_submit(page)
    assert fits_width(page, 375)
    shots(page, "login-refused-375")
    page.goto(page.base_url + activation_path(provisional))
    page.get_by_role("button", name="同意する").click()
    page.locator("#id_password").fill("Solar 2024")
    page.get_by_role("button", name="表示 (パスワード)", exact=True).click()
    page.get_by_role("button", name="登録").click()
    check_refused_submit(page)
    assert fits_width(page, 375)
    shots(page, "activation-refused-375")
    page.goto(page.base_url + "/")
    page.get_by_role("link", name="お客様情報の登録").click()
    page.get_by_role("button", name="同意する").click()
    page.get_by_role("button", name="次に進む").click()
    check_refused_submit(page)
    assert fits_width(page, 375)
    shots(page, "registration-refused-375")
