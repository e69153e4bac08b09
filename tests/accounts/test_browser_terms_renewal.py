"""利用規約の改定 in a real browser: an existing customer is told of a new version by mail,
logs in after it took effect, reads it, agrees and reaches the menu; on a phone,
「同意しない」 shows the way out."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from essmon.accounts.models import TermsAcceptance, TermsVersion
from essmon.accounts.services.terms import announce_terms
from tests import factories
from tests.browsing import fits_width
from tests.conftest import SmtpSink

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHANGES = "第5条(禁止事項)に、ゲートウェイの分解・改造を加えました。\n第8条(規約の変更)の通知方法を改めました。"


def new_version(*, hours: float = -1) -> TermsVersion:
    """Version 2.0 of the customers' terms, taking effect ``hours`` from now."""
    v1 = TermsVersion.objects.get(audience="customer", kind="terms", version="1.0")
    # published long ago (the fixtures made it a moment ago)
    TermsVersion.objects.update(effective_at=timezone.now() - timedelta(days=365))
    return TermsVersion.objects.create(
        audience="customer",
        version="2.0",
        title=v1.title,
        body=v1.body.replace("第5条(禁止事項)", "第5条(禁止事項・ゲートウェイの分解を含む)"),
        privacy_purpose=v1.privacy_purpose,
        changes=CHANGES,
        effective_at=timezone.now() + timedelta(hours=hours),
    )


def log_in(page: Page, email: str) -> None:
    page.goto(page.base_url + "/login/")
    page.get_by_label("ユーザID(メールアドレス)").fill(email)
    page.get_by_label("パスワード").fill(factories.USER_PASSWORD)
    page.get_by_role("button", name="ログイン").click()


@pytest.mark.smtp
def test_an_existing_customer_agrees_to_the_new_terms_and_reaches_the_menu(
    page: Page, shots, smtp_server, settings, live_server
):
    settings.BASE_URL = live_server.url
    gateway = factories.owned_gateway()
    owner = gateway.owner
    new = new_version(hours=24)
    assert announce_terms(terms=new) == 1
    smtp_server.wait_for(1)
    (mail,) = smtp_server.to(owner.email)
    assert "利用規約改定のお知らせ" in mail["Subject"]
    body = SmtpSink.body(mail)
    assert "第8条(規約の変更)の通知方法を改めました。" in body
    login_url = next(line for line in body.splitlines() if line.startswith("ログイン: "))
    # the date passes
    TermsVersion.objects.filter(pk=new.pk).update(
        effective_at=timezone.now() - timedelta(minutes=1)
    )

    page.goto(login_url.removeprefix("ログイン: "))
    page.get_by_label("ユーザID(メールアドレス)").fill(owner.email)
    page.get_by_label("パスワード").fill(factories.USER_PASSWORD)
    page.get_by_role("button", name="ログイン").click()
    expect(page.get_by_role("heading", name="利用規約の改定")).to_be_visible()
    expect(page.get_by_role("heading", name="主な変更点")).to_be_visible()
    expect(page.get_by_text("第8条(規約の変更)の通知方法を改めました。")).to_be_visible()
    expect(
        page.get_by_role("heading", name="遠隔モニタリングサービス利用規約(2.0)")
    ).to_be_visible()
    shots(page, "renewal")
    assert fits_width(page, 1280)

    # the menu's address typed by hand still lands on the agreement page
    page.goto(page.base_url + "/menu/")
    expect(page.get_by_role("heading", name="利用規約の改定")).to_be_visible()

    page.get_by_role("button", name="同意する").click()
    expect(page.get_by_role("heading", name="メインメニュー")).to_be_visible()
    expect(page.get_by_text("改定後の利用規約に同意いただきました。")).to_be_visible()
    expect(page.get_by_text(gateway.gateway_id)).to_be_visible()
    shots(page, "menu-after-agreeing")
    record = TermsAcceptance.objects.get(user=owner, terms=new)
    assert record.context == "renewal" and record.client_address == "127.0.0.1"


def test_on_a_phone_declining_shows_the_way_out(mobile_page: Page, shots):
    owner = factories.customer(email="mobile@example.jp")
    new_version()
    page = mobile_page

    log_in(page, owner.email)
    expect(page.get_by_role("heading", name="利用規約の改定")).to_be_visible()
    shots(page, "renewal")
    assert fits_width(page, 375)

    page.get_by_role("link", name="同意しない").click()
    expect(
        page.get_by_role("heading", name="改定後の利用規約に同意いただけない場合")
    ).to_be_visible()
    shots(page, "declined")
    assert fits_width(page, 375)
    page.get_by_role("link", name="退会する").click()
    expect(page).to_have_url(page.base_url + "/menu/account/withdraw/")
    page.go_back()
    page.get_by_role("button", name="ログアウト").last.click()
    expect(page.get_by_text("ログアウトしました。")).to_be_visible()
