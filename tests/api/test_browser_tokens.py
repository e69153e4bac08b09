"""アクセストークン in a real browser: an owner (1280 px) and a dealer (375 px) make a token
from their menus, see it once, copy it, call the API with it, see its last use, delete it;
the API reference page renders under the Content Security Policy, with no internet.
Screens under test-artifacts/screenshots/."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests import factories
from tests.api_helpers import PREFIX, reporting
from tests.browsing import fits_width
from tests.dealers.test_browser_dealers import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _make_and_use(page: Page, shots, menu: str, back: str, live_server) -> None:
    page.get_by_role("navigation", name=menu).get_by_role(
        "link", name="アクセストークン(公開API)"
    ).click()
    expect(page.get_by_role("heading", name="アクセストークン(公開API)", level=1)).to_be_visible()
    expect(page.get_by_text("発行済みのアクセストークンはありません。")).to_be_visible()
    shots(page, "empty")
    page.get_by_role("button", name="発行").click()
    expect(page.get_by_role("alert")).to_contain_text("名前")
    shots(page, "refused")
    page.get_by_label("名前").fill("チケット連携")
    expect(page.get_by_label("読み取り")).to_be_checked()
    page.get_by_role("button", name="発行").click()
    field = page.get_by_label("発行したアクセストークン")
    expect(field).to_be_visible()
    secret = field.input_value()
    assert secret.startswith("essmon_pat_")
    row = page.get_by_role("row", name="チケット連携")
    expect(row).to_contain_text("未使用")
    expect(row).to_contain_text(secret[:15])
    shots(page, "made")
    assert fits_width(page, page.viewport_size["width"])

    answer = httpx.get(
        f"{live_server.url}{PREFIX}/gateways", headers={"Authorization": f"Bearer {secret}"}
    )
    assert answer.status_code == 200 and answer.json()["items"]

    page.reload()  # the form sent again makes no second token, and says so
    expect(page.get_by_role("alert")).to_contain_text("この発行は済んでいます")
    expect(page.get_by_label("発行したアクセストークン")).to_have_count(0)
    expect(page.get_by_role("row", name="チケット連携")).to_have_count(1)
    shots(page, "sent-twice")
    page.goto(page.url)
    expect(page.get_by_role("row", name="チケット連携")).not_to_contain_text("未使用")
    page.get_by_role("button", name="アクセストークン「チケット連携」を削除").click()
    expect(page.get_by_text("アクセストークン「チケット連携」を削除しました。")).to_be_visible()
    shots(page, "deleted")
    again = httpx.get(
        f"{live_server.url}{PREFIX}/gateways", headers={"Authorization": f"Bearer {secret}"}
    )
    assert again.status_code == 401
    page.get_by_role("link", name=back).click()


def test_an_owner_makes_uses_and_deletes_a_token(page: Page, shots, live_server):
    owner = factories.customer(email="api-owner@example.jp")
    reporting(factories.owned_gateway(owner=owner))
    log_in(page, owner.email)
    _make_and_use(page, shots, "メインメニュー", "メインメニューに戻る", live_server)


def test_a_dealer_on_a_phone_makes_a_token(mobile_page: Page, shots, live_server):
    from essmon.dealers.services.links import link_dealer

    owner = factories.customer(email="api-owner2@example.jp")
    gateway = factories.owned_gateway(owner=owner)
    dealer = factories.dealer(email="api-dealer@example.jp")
    link_dealer(customer=owner, gateway=gateway, dealer=dealer)
    log_in(mobile_page, dealer.user.email)
    _make_and_use(mobile_page, shots, "販売店様メニュー", "販売店様メニューに戻る", live_server)


def test_the_reference_page_renders_offline_under_the_policy(page: Page, shots, live_server):
    outside: list[str] = []
    page.on(
        "request",
        lambda request: (
            outside.append(request.url) if not request.url.startswith(live_server.url) else None
        ),
    )
    page.goto(f"{live_server.url}{PREFIX}/docs")
    expect(page.get_by_text("essmon public API")).to_be_visible()
    expect(page.get_by_text("/api/public/v1/gateways/{gateway_id}/live")).to_be_visible()
    shots(page, "reference")
    # an operation opened, and one with a body (its media type <select>, whose arrow is a
    # data: image): the browser fixture fails the test on any policy violation
    page.get_by_text("/api/public/v1/gateways/{gateway_id}/live").click()
    expect(page.get_by_text("What the live panel shows")).to_be_visible()
    page.get_by_text("Ask for setting changes").click()
    expect(page.locator("select").first).to_be_visible()
    page.wait_for_timeout(300)  # a refused image is reported after it is asked for
    shots(page, "reference-opened")
    assert [url for url in outside if not url.startswith("data:")] == []
