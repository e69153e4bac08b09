"""What issue 12 §3 and §6 put on screens, in Chromium at 1280 and 375 px: the support
contact in the footer and on an error page, the favicon, the admin's 送信メール list with
a readable subject column, and the admin's lists in Japanese."""

from __future__ import annotations

import re

import pytest
from django.db import transaction
from playwright.sync_api import expect

from essmon.accounts.models import User
from essmon.notifications.services import queue_mail
from tests import factories

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTHS = {"1280": {"width": 1280, "height": 900}, "375": {"width": 375, "height": 812}}


@pytest.fixture(params=list(WIDTHS))
def tab(request, browser, live_server):
    options = {"viewport": WIDTHS[request.param]}
    if request.param == "375":
        options.update(is_mobile=True, has_touch=True)
    context = browser.new_context(locale="ja-JP", **options)
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.base_url = live_server.url
    page.width = request.param
    yield page
    context.close()


def fits(page) -> None:
    """Nothing wider than the screen (a page that scrolls sideways at 375 px is broken)."""
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{overflow}px wider than the window"


def test_footer_and_error_page_show_the_support_contact(tab, shots):
    failed = []
    tab.on("response", lambda r: failed.append(r.url) if r.status >= 400 else None)
    tab.goto(tab.base_url + "/")
    contact = tab.locator("footer [data-testid=support-contact]")
    expect(contact).to_contain_text("お問い合わせ窓口")
    expect(contact.get_by_role("link", name="000-000-0000")).to_have_attribute(
        "href", "tel:0000000000"
    )
    expect(contact).to_contain_text("デモ: 平日 9:00〜17:00")
    fits(tab)
    tab.locator("footer").scroll_into_view_if_needed()
    shots(tab, f"landing-footer-{tab.width}")
    assert not failed, failed  # /favicon.ico included: no 404 on any page
    icon = tab.request.get(tab.base_url + "/favicon.ico")
    assert icon.ok and icon.headers["content-type"] in ("image/x-icon", "image/vnd.microsoft.icon")
    assert tab.locator("link[rel=icon][type='image/svg+xml']").count() == 1

    response = tab.goto(tab.base_url + "/no-such-page/")
    assert response.status == 404
    main = tab.locator("main")
    expect(main).to_contain_text("お問い合わせ窓口へご連絡ください")
    expect(main.locator("[data-testid=support-contact]")).to_contain_text("000-000-0000")
    expect(main.get_by_role("link", name="https://support.essmon.example/")).to_be_visible()
    fits(tab)
    shots(tab, f"not-found-{tab.width}")


def test_admin_outbox_subject_is_readable_and_the_lists_are_japanese(tab, shots):
    operator = factories.customer(
        email="op@example.jp",
        name="運営 太郎",
        role=User.Role.OPERATOR,
        is_staff=True,
        is_superuser=True,
    )
    owner = factories.customer(email="hanako.omuro.long-address@example.jp")
    with transaction.atomic():
        for _ in range(2):
            queue_mail(
                recipient=owner.email,
                kind="email_changed_notice",
                context={"user": owner, "old_email": "old@example.jp"},
            )
    admin = tab.base_url + "/admin/"
    tab.goto(admin)
    tab.locator("#id_username").fill(operator.email)
    tab.locator("#id_password").fill(factories.USER_PASSWORD)
    tab.locator("input[type=submit]").click()
    expect(tab.locator("#site-name")).to_contain_text("運営管理")

    tab.goto(admin + "notifications/outboxmessage/")
    subject = tab.locator("#result_list td.field-subject").first
    expect(subject).to_contain_text("メールアドレスを変更しました")
    width = subject.bounding_box()["width"]
    assert width >= 200, f"subject column {width}px"  # it was one character (42 px) wide
    headers = tab.locator("#result_list thead th").all_inner_texts()
    assert "種類" in headers and "件名" in headers
    expect(tab.locator("#result_list td.field-kind_label").first).to_have_text(
        "メールアドレス変更の通知(変更前のアドレス)"
    )
    shots(tab, f"admin-outbox-{tab.width}")

    # every list's column headers and filters in Japanese (names of things like ID, MQTT,
    # HTTPS and E.164 aside)
    lists = [a.get_attribute("href") for a in tab.locator("#nav-sidebar a[href$='/']").all()]
    if not lists:
        tab.goto(admin)
        lists = [a.get_attribute("href") for a in tab.locator("#content-main th a").all()]
    assert len(lists) >= 20
    english = re.compile(r"\b(?!ID\b|MQTT\b|HTTPS\b|IP\b|URL\b|KiB\b)[A-Za-z]{2,}")
    for href in lists:
        tab.goto(tab.base_url + href)
        texts = tab.locator("#result_list thead th, #changelist-filter h3").all_inner_texts()
        found = [t for t in texts if english.search(t)]
        assert not found, f"{href}: {found}"
    if tab.width == "1280":
        from django.utils import timezone

        from essmon.core.models import PeriodicJob

        PeriodicJob.objects.create(name="rollup-energy", next_run_at=timezone.now())
        tab.goto(admin + "core/taskrecord/")
        shots(tab, "admin-tasks")
        tab.goto(admin + "core/periodicjob/")
        shots(tab, "admin-jobs")
