"""故障交換 in a real browser (issue 14): the linked dealer opens the customer's page,
replaces the gateway with the new unit's sheet, sees the confirmation on the monitoring
page under the new ID; the customer's mail arrives over SMTP and the customer's record
shows the dealer's replacement. Screens at 1280 and 375 px under
test-artifacts/screenshots/."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from essmon.dealers.services.links import link_dealer
from tests import factories
from tests.browsing import fits_width, new_tab
from tests.conftest import SmtpSink
from tests.dealers.test_browser_dealer_records import WIDTHS, log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("width", WIDTHS, ids=list(WIDTHS))
def test_a_dealer_replaces_a_failed_gateway(browser, live_server, shots, smtp_server, width):
    owner = factories.customer(email=f"replace-{width}@example.jp", name="嵐山 花子")
    old = factories.owned_gateway(owner=owner, site_name="嵐山ゲストハウス")
    dealer = factories.dealer(company="京都蓄電サービス株式会社", name="保守 一郎")
    link_dealer(customer=owner, gateway=old, dealer=dealer)
    new = factories.gateway(model="KP-GWBT-B")
    old_id, new_id = old.gateway_id, new.gateway_id
    mobile = {"is_mobile": True, "has_touch": True} if width == "phone" else {}

    page = new_tab(browser, live_server, viewport=WIDTHS[width], **mobile)
    log_in(page, dealer.user.email)
    page.goto(f"{page.base_url}/dealer/gateways/{old_id}/")
    page.get_by_role("link", name="ゲートウェイを交換する(故障交換)").click()
    expect(page.get_by_role("heading", name="ゲートウェイの交換(故障交換)")).to_be_visible()
    shots(page, "form")
    assert fits_width(page, WIDTHS[width]["width"])

    page.get_by_label("交換後のゲートウェイID").fill(new_id)
    page.get_by_role("textbox", name="交換後のゲートウェイパスワード").fill("wrongpassword1")
    page.get_by_role("button", name="交換する").click()
    expect(page.locator("#error-summary")).to_be_visible()
    expect(page.locator("main")).to_contain_text("チェックを入れてください")
    shots(page, "refused")

    page.get_by_label("交換後のゲートウェイID").fill(new_id)
    page.get_by_role("textbox", name="交換後のゲートウェイパスワード").fill(
        factories.GATEWAY_PASSWORD
    )
    page.get_by_label("交換の理由").fill("ゲートウェイの故障(電源が入らない)")
    page.get_by_label("新しいゲートウェイを設置し、交換前のゲートウェイを取り外しました").check()
    page.get_by_role("button", name="交換する").click()
    expect(page.locator(".messages")).to_contain_text(
        f"ゲートウェイを交換しました({old_id} → {new_id})"
    )
    assert page.url.endswith(f"/monitoring/{new_id}/")
    shots(page, "done")
    assert fits_width(page, WIDTHS[width]["width"])

    smtp_server.wait_for(2)  # the dealer's link mail, and the customer's replacement mail
    (message,) = smtp_server.to(owner.email)
    assert "ゲートウェイ交換のお知らせ" in message["Subject"]
    assert f"交換後のゲートウェイID: {new_id}" in SmtpSink.body(message)

    customer = new_tab(browser, live_server, viewport=WIDTHS[width], **mobile)
    log_in(customer, owner.email)
    customer.goto(f"{customer.base_url}/menu/dealers/gateways/{new_id}/")
    row = customer.locator("table.access-log tbody tr").filter(has_text="ゲートウェイの交換")
    expect(row).to_contain_text(f"{old_id} → {new_id}")
    expect(row).to_contain_text("保守 一郎 様")
    row.scroll_into_view_if_needed()
    shots(customer, "customer-record")
    assert fits_width(customer, WIDTHS[width]["width"])
