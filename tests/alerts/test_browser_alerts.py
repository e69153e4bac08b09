"""Alerts as people meet them: the mail as received by a real SMTP server (shown in the
browser as a mail reader shows it, and saved as a screenshot), the alert history page where
a linked dealer acknowledges it with a comment, the fleet's count, the owner's view, and
the customer's choice of alert mails on a phone."""

import html
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from essmon.alerts.engine import evaluate_alerts
from essmon.dealers import services as dealer_services
from essmon.telemetry.ingest import ingest_events
from essmon.telemetry.models import GatewayLiveState
from tests import factories
from tests.browsing import fits_width, log_in, new_tab

pytestmark = [pytest.mark.browser, pytest.mark.smtp, pytest.mark.django_db(transaction=True)]


def show_mail(page: Page, message) -> None:
    """The received message as a mail reader shows it: headers, then the plain text."""
    body = message.get_body(preferencelist=("plain",)).get_content()
    rows = "".join(
        f"<tr><th>{name}</th><td>{html.escape(str(message[name]))}</td></tr>"
        for name in ("From", "To", "Subject", "Date")
    )
    page.set_content(
        '<html lang="ja"><meta charset="utf-8"><body style="font-family: \'Noto Sans CJK JP\','
        ' sans-serif; margin: 24px; max-width: 760px">'
        f'<table style="border-collapse: collapse; margin-bottom: 16px">{rows}</table>'
        '<pre style="white-space: pre-wrap; font: inherit; line-height: 1.7; border-top: 1px'
        f' solid #ccc; padding-top: 16px">{html.escape(body)}</pre></body></html>'
    )


def test_alert_mail_history_acknowledgement_and_fleet(browser, live_server, smtp_server, shots):
    owner = factories.customer(email="hanako@example.jp", name="嵯峨 花子")
    gateway = factories.owned_gateway(owner=owner, site_name="嵯峨野の家")
    dealer = factories.dealer(email="hoshu@rakunan.example.jp", company="洛南電設")
    dealer_services.link_dealer(customer=owner, gateway=gateway, dealer=dealer)
    now = timezone.now()
    gateway.provisioned_at = now - timedelta(days=30)
    gateway.save(update_fields=["provisioned_at"])
    ingest_events(
        gateway=gateway,
        events=[
            {
                "ts": (now - timedelta(minutes=25)).isoformat(),
                "code": "E203",
                "severity": "major",
                "state": "start",
            }
        ],
    )
    # heard last with that event, 20 minutes ago: past the 15-minute offline threshold
    GatewayLiveState.objects.filter(gateway=gateway).update(
        last_seen_at=now - timedelta(minutes=20)
    )
    evaluate_alerts()
    # offline and E203, each to the owner and to the dealer's staff (after the link's notice)
    smtp_server.wait_for(5)
    mails = [m for m in smtp_server.messages if "異常発生" in m["Subject"]]
    assert sorted(m["To"] for m in mails) == sorted([owner.email, dealer.user.email] * 2)

    reader = new_tab(browser, live_server, viewport={"width": 900, "height": 1000})
    show_mail(
        reader, next(m for m in mails if "E203" in m["Subject"] and m["To"] == dealer.user.email)
    )
    expect(reader.get_by_text("蓄電池の高温").first).to_be_visible()
    shots(reader, "mail-fault")
    show_mail(reader, next(m for m in mails if "通信" in m["Subject"] and m["To"] == owner.email))
    shots(reader, "mail-offline")
    reader.context.close()

    page = new_tab(browser, live_server, viewport={"width": 1280, "height": 900})
    log_in(page, dealer.user.email)
    row = page.get_by_role("row", name=gateway.gateway_id)
    expect(row).to_contain_text("2件")
    row.get_by_role("link", name=gateway.gateway_id).click()
    page.get_by_role("link", name="異常の履歴").click()
    alerts = page.get_by_test_id("alerts")
    expect(alerts.get_by_text("未復旧")).to_have_count(2)
    first = alerts.locator("li").filter(has_text="蓄電池の高温")
    first.get_by_label("確認のコメント").fill("明日10時に点検に伺います。")
    first.get_by_role("button", name="確認済みにする").click()
    expect(page.get_by_text("異常を確認済みにしました。")).to_be_visible()
    expect(page.get_by_test_id("ack")).to_contain_text("販売店 洛南電設")
    shots(page, "alerts-dealer")
    page.context.close()

    phone = new_tab(browser, live_server, viewport={"width": 375, "height": 812}, is_mobile=True)
    log_in(phone, owner.email)
    phone.get_by_role("link", name="異常の履歴").click()
    expect(phone.get_by_test_id("ack")).to_contain_text("明日10時に点検に伺います。")
    assert fits_width(phone, 375)
    shots(phone, "mobile-alerts-owner")
    phone.goto(live_server.url + "/menu/account/alerts/")
    phone.get_by_label("通信途絶").uncheck()
    phone.get_by_role("button", name="変更する").click()
    expect(phone.get_by_text("異常のお知らせメールの設定を変更しました。")).to_be_visible()
    expect(phone.get_by_label("通信途絶")).not_to_be_checked()
    expect(phone.get_by_label("機器の異常")).to_be_checked()
    assert fits_width(phone, 375)
    shots(phone, "mobile-mail-preferences")
    phone.context.close()
