"""見守り in a real browser with real mail: the owner invites a family member, the mail's link
creates the viewer's account, the viewer sees the live page (and nothing personal), the
owner revokes and the viewer's next request finds nothing. Screens saved at 1280 and 375 px
under test-artifacts/screenshots/."""

import pytest
from playwright.sync_api import Page, expect

from tests import factories
from tests.conftest import SmtpSink
from tests.dealers.test_browser_dealers import fits_width, log_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.smtp,
    pytest.mark.django_db(transaction=True),
]

FAMILY = "musume@example.jp"
FAMILY_PASSWORD = "Family2024Kyoto"
SITE_NAME = "実家の蓄電池"
OWNER_NAME = "見守 太郎"


def owner_with_gateway():
    owner = factories.customer(email="oya@example.jp", name=OWNER_NAME)
    return owner, factories.owned_gateway(owner=owner, site_name=SITE_NAME)


def test_invite_accept_watch_and_revoke(
    page: Page, customer_page: Page, shots, smtp_server, settings, live_server
):
    settings.BASE_URL = live_server.url
    family_page = customer_page  # the family member, at another computer
    owner, gateway = owner_with_gateway()

    log_in(page, owner.email)
    page.get_by_role("navigation", name="メインメニュー").get_by_role(
        "link", name="見守り(ご家族の閲覧)"
    ).click()
    expect(page.get_by_role("heading", name="見守り(ご家族の閲覧)")).to_be_visible()
    page.get_by_label("見守ってもらうシステム").select_option(gateway.gateway_id)
    page.get_by_label("招待する方のメールアドレス").fill(FAMILY)
    shots(page, "owner-invite-form")
    page.get_by_role("button", name="招待メールを送る").click()
    expect(page.get_by_text(f"{FAMILY} 宛に見守りの招待メールを送りました")).to_be_visible()
    expect(page.get_by_role("row", name=FAMILY)).to_contain_text("招待中(未承諾)")
    shots(page, "owner-invited")

    smtp_server.wait_for(1)
    (invitation,) = smtp_server.to(FAMILY)
    body = SmtpSink.body(invitation)
    assert OWNER_NAME not in body and owner.email not in body and SITE_NAME not in body
    link = SmtpSink.link(invitation, "/menu/viewers/accept/")

    family_page.goto(link)
    expect(family_page.get_by_role("heading", name="見守りの招待")).to_be_visible()
    family_page.get_by_label("お名前(表示用)").fill("見守 花子")
    family_page.get_by_role("textbox", name="パスワード", exact=True).fill(FAMILY_PASSWORD)
    family_page.get_by_label("パスワード(確認用)").fill(FAMILY_PASSWORD)
    family_page.get_by_label("利用規約と個人情報の利用目的に同意します").check()
    shots(family_page, "family-accept")
    family_page.get_by_role("button", name="アカウントを作成して見守りを始める").click()

    # straight to the one shared system's live page: live and history tabs only
    expect(family_page.get_by_role("heading", name="見守り中のシステム")).to_be_visible()
    tabs = family_page.get_by_role("navigation", name="表示の切り替え")
    expect(tabs.get_by_role("link")).to_have_count(2)
    expect(tabs.get_by_role("link", name="発電・消費の履歴")).to_be_visible()
    content = family_page.content()
    assert OWNER_NAME not in content and SITE_NAME not in content and owner.email not in content
    shots(family_page, "family-live")
    tabs.get_by_role("link", name="発電・消費の履歴").click()
    expect(family_page).to_have_url(f"{live_server.url}/monitoring/{gateway.gateway_id}/history/")
    shots(family_page, "family-history")

    # the owner is told, and sees the viewer as watching
    smtp_server.wait_for(2)
    (accepted,) = smtp_server.to(owner.email)
    assert "見守りが承諾されました" in accepted["Subject"]
    page.reload()
    expect(page.get_by_role("row", name=FAMILY)).to_contain_text("閲覧中")
    shots(page, "owner-list-watching")

    page.get_by_role("button", name=f"{FAMILY} の見守りを解除").click()
    expect(page.get_by_text(f"{FAMILY} の見守りを解除しました")).to_be_visible()
    expect(page.get_by_role("row", name=FAMILY)).to_contain_text("解除済み")
    shots(page, "owner-revoked")

    # the viewer's very next request finds nothing
    family_page.goto(f"{live_server.url}/monitoring/{gateway.gateway_id}/")
    expect(family_page.get_by_role("heading", name="ページが見つかりません")).to_be_visible()
    shots(family_page, "family-after-revoke")
    family_page.goto(f"{live_server.url}/monitoring/")
    expect(family_page.get_by_text("見守りできるシステムはありません")).to_be_visible()
    shots(family_page, "family-nothing-left")


def test_viewer_screens_fit_phone(mobile_page: Page, shots, settings, live_server):
    settings.BASE_URL = live_server.url
    owner, gateway = owner_with_gateway()
    factories.viewer(owner=owner, gateway=gateway, email="family-1@example.jp")
    viewer = factories.viewer(owner=owner, gateway=gateway, email=FAMILY)

    log_in(mobile_page, owner.email)
    mobile_page.goto(f"{live_server.url}/menu/viewers/")
    expect(mobile_page.get_by_role("heading", name="見守り(ご家族の閲覧)")).to_be_visible()
    assert fits_width(mobile_page)
    shots(mobile_page, "owner-list-phone")

    # the viewer signs in at the monitoring site's own login and lands on the live page
    mobile_page.context.clear_cookies()
    mobile_page.goto(f"{live_server.url}/monitoring/login/")
    mobile_page.get_by_label("ユーザID(メールアドレス)").fill(viewer.email)
    mobile_page.get_by_label("パスワード").fill(factories.USER_PASSWORD)
    mobile_page.get_by_role("button", name="ログイン").click()
    expect(mobile_page.get_by_role("heading", name="見守り中のシステム")).to_be_visible()
    assert fits_width(mobile_page)
    assert OWNER_NAME not in mobile_page.content() and SITE_NAME not in mobile_page.content()
    shots(mobile_page, "viewer-live-phone")
    mobile_page.goto(f"{live_server.url}/menu/")
    expect(mobile_page.get_by_role("heading", name="メニュー", exact=True)).to_be_visible()
    assert fits_width(mobile_page)
    shots(mobile_page, "viewer-menu-phone")
