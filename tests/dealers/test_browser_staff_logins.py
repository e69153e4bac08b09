"""販売店スタッフのログイン in a real browser with real mail: the dealer's administrator adds
a 保守担当者 and invites them as 技術担当, the invitation arrives at the SMTP server, the
person sets a password, logs in with their own address and changes a setting of a linked
customer's system; the customer's record then names the dealer and the person. Screens
saved at 1280 and 375 px under test-artifacts/screenshots/."""

import pytest
from playwright.sync_api import Page, expect

from essmon.commands.models import Command
from tests import factories
from tests.conftest import SmtpSink
from tests.dealers import test_dealer_records as records_tests
from tests.dealers.test_browser_dealers import fits_width, log_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.smtp,
    pytest.mark.django_db(transaction=True),
]

# the owner's system (settings in force reported) and a linked dealer 洛南電設
world = records_tests.world

STAFF = "jiro@rakunan.example.jp"
STAFF_NAME = "技術 次郎"
STAFF_PASSWORD = "Gijutsu2026Kyoto"


def test_invite_accept_log_in_change_a_setting_and_the_customer_sees_who(
    page: Page, customer_page: Page, browser, shots, smtp_server, settings, live_server, world
):
    settings.BASE_URL = live_server.url
    dealer, gateway = world["dealer"], world["gateway"]
    staff_page = customer_page  # the technician, at another computer

    # the administrator adds the person and gives them a login
    log_in(page, dealer.user.email)
    page.get_by_role("navigation", name="販売店様メニュー").get_by_role(
        "link", name="保守担当者"
    ).click()
    page.get_by_label("氏名").fill(STAFF_NAME)
    page.get_by_label("メールアドレス").fill(STAFF)
    page.get_by_role("button", name="追加").click()
    expect(page.get_by_text(f"{STAFF_NAME} 様を保守担当者に追加しました")).to_be_visible()
    page.get_by_role("link", name=f"{STAFF_NAME} のログインの設定").click()
    expect(page.get_by_role("heading", name="ログインの設定")).to_be_visible()
    page.get_by_label("技術担当").check()
    shots(page, "admin-invite")
    page.get_by_role("button", name="招待メールを送る").click()
    expect(page.get_by_text(f"{STAFF} 宛にログインの招待メールを送りました")).to_be_visible()
    expect(page.get_by_text("招待中(未設定)")).to_be_visible()
    shots(page, "admin-invited")

    # the invitation at the real SMTP server: nothing the dealer typed in it
    smtp_server.wait_for(2)  # the 保守担当者 confirmation, then the invitation
    (invitation,) = [m for m in smtp_server.to(STAFF) if "ログイン" in m["Subject"]]
    body = SmtpSink.body(invitation)
    assert STAFF_NAME not in body and "洛南電設" not in body and dealer.dealer_code in body
    link = SmtpSink.link(invitation, "/dealer/staff/accept/")

    staff_page.goto(link)
    expect(staff_page.get_by_role("heading", name="販売店スタッフのログインの設定")).to_be_visible()
    expect(staff_page.get_by_text("洛南電設", exact=False).first).to_be_visible()
    staff_page.get_by_role("textbox", name="パスワード", exact=True).fill(STAFF_PASSWORD)
    staff_page.get_by_label("パスワード(確認用)").fill(STAFF_PASSWORD)
    staff_page.get_by_label("販売店様利用規約に同意します").check()
    shots(staff_page, "staff-accept")
    staff_page.get_by_role("button", name="同意してパスワードを設定する").click()
    expect(staff_page.get_by_text("パスワードを設定しました")).to_be_visible()

    # the ordinary login page, with the person's own address
    staff_page.get_by_label("ユーザID(メールアドレス)").fill(STAFF)
    staff_page.get_by_label("パスワード").fill(STAFF_PASSWORD)
    staff_page.get_by_role("button", name="ログイン").click()
    expect(staff_page.get_by_role("heading", name="販売店様メニュー")).to_be_visible()
    expect(staff_page.get_by_text("販売店スタッフ・技術担当")).to_be_visible()
    menu = staff_page.get_by_role("navigation", name="販売店様メニュー")
    expect(menu.get_by_role("link", name="保守担当者")).to_have_count(0)
    shots(staff_page, "staff-menu")

    # a setting of the linked customer's system
    staff_page.goto(f"{live_server.url}/monitoring/{gateway.gateway_id}/settings/")
    staff_page.get_by_label("グリーンモード").check()
    staff_page.get_by_role("button", name="設定を変更する").click()
    expect(staff_page.get_by_text("設定の変更を受け付けました")).to_be_visible()
    expect(staff_page.get_by_test_id("audit-log")).to_contain_text(f"洛南電設({STAFF_NAME})")
    shots(staff_page, "staff-settings-changed")
    command = Command.objects.get(setting="mode")
    assert command.requested_by.email == STAFF

    # the customer's record names the dealer and the person
    owner_page = browser.new_context(locale="ja-JP", viewport={"width": 1280, "height": 900})
    owner_tab = owner_page.new_page()
    owner_tab.base_url = live_server.url
    log_in(owner_tab, world["owner"].email)
    owner_tab.goto(f"{live_server.url}/menu/dealers/gateways/{gateway.gateway_id}/")
    change = owner_tab.get_by_role("row").filter(has_text="運転モード: 経済モード → グリーンモード")
    expect(change).to_contain_text("洛南電設")
    expect(change).to_contain_text(f"{STAFF_NAME} 様")
    shots(owner_tab, "customer-record")
    owner_page.close()

    # the administrator reads the person's part, and ends the login
    page.reload()
    expect(page.get_by_role("row").filter(has_text="設定の変更")).to_contain_text("運転モード")
    page.get_by_role("button", name="ログインを停止").click()
    expect(page.get_by_text(f"{STAFF_NAME} 様のログインを停止しました")).to_be_visible()
    shots(page, "admin-ended")
    staff_page.goto(f"{live_server.url}/dealer/")
    expect(staff_page.get_by_role("heading", name="ログイン")).to_be_visible()


def test_staff_login_screens_fit_phone(mobile_page: Page, shots, settings, live_server, world):
    settings.BASE_URL = live_server.url
    dealer = world["dealer"]
    technician = factories.dealer_staff(dealer=dealer, role="technician", name=STAFF_NAME)
    factories.dealer_staff(dealer=dealer, role="viewer", name="閲覧 三郎")
    log_in(mobile_page, dealer.user.email)
    mobile_page.goto(f"{live_server.url}/dealer/staff/")
    expect(mobile_page.get_by_role("heading", name="保守担当者", exact=True)).to_be_visible()
    assert fits_width(mobile_page)
    shots(mobile_page, "admin-staff-list-phone")
    mobile_page.get_by_role("link", name=f"{STAFF_NAME} のログインの設定").click()
    expect(mobile_page.get_by_role("heading", name="ログインの設定")).to_be_visible()
    assert fits_width(mobile_page)
    shots(mobile_page, "admin-login-page-phone")

    mobile_page.context.clear_cookies()
    log_in(mobile_page, technician.email)
    expect(mobile_page.get_by_role("heading", name="販売店様メニュー")).to_be_visible()
    assert fits_width(mobile_page)
    shots(mobile_page, "staff-menu-phone")
    gateway_id = world["gateway"].gateway_id
    mobile_page.goto(f"{live_server.url}/dealer/gateways/{gateway_id}/")
    expect(mobile_page.get_by_role("heading", name="お客様情報")).to_be_visible()
    assert fits_width(mobile_page)
    shots(mobile_page, "staff-customer-phone")

    # a pending invitation's page, as the invited person opens it on a phone (the link as
    # invite_staff_login makes it; the mail itself: the test above)
    from datetime import timedelta

    from essmon.accounts.models import AccountToken
    from essmon.accounts.tokens import issue_token
    from essmon.dealers.models import MaintenanceStaff

    invited = MaintenanceStaff.objects.create(
        dealer=dealer, name="招待 四郎", email="shiro@rakunan.example.jp"
    )
    raw, token = issue_token(
        user=dealer.user,
        purpose=AccountToken.Purpose.STAFF_INVITATION,
        lifetime=timedelta(days=7),
        new_email=invited.email,
    )
    MaintenanceStaff.objects.filter(pk=invited.pk).update(login_token=token, login_role="viewer")
    mobile_page.context.clear_cookies()
    mobile_page.goto(f"{live_server.url}/dealer/staff/accept/{raw}/")
    expect(mobile_page.get_by_role("heading", name="個人情報の利用目的")).to_be_visible()
    assert fits_width(mobile_page)
    shots(mobile_page, "staff-accept-phone")
