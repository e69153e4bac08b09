"""The endpoint pages in a real browser, with a real receiver: the owner registers an
endpoint from the メインメニュー (1280 px), copies the secret shown once, sends a test
event the receiver verifies, rotates the secret, disables the endpoint; a dealer's
administrator registers one on a phone (375 px) after a refused address. Screens under
test-artifacts/screenshots/."""

from __future__ import annotations

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from essmon.webhooks.models import Delivery, Endpoint
from tests import factories
from tests.browsing import fits_width, log_in
from tests.waiting import wait_until
from tests.webhook_receiver import Receiver

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def receiver(settings):
    settings.WEBHOOK_ALLOW_HOSTS = ["127.0.0.1"]
    settings.WEBHOOK_TIMEOUT_SECONDS = 3
    made = Receiver().start()
    yield made
    made.stop()


def test_the_owner_registers_tests_rotates_and_disables(page: Page, shots, receiver):
    owner = factories.customer(email="hook@example.jp", name="連携 太郎")
    factories.owned_gateway(owner=owner)
    log_in(page, owner.email)
    page.goto(page.base_url + "/menu/")
    page.get_by_role("navigation", name="メインメニュー").get_by_role(
        "link", name="Webhook(イベントの送信)"
    ).click()
    expect(page.get_by_role("heading", name="Webhook(イベントの送信)")).to_be_visible()
    expect(page.get_by_text("まだ送信先はありません。")).to_be_visible()
    page.get_by_label("送信先のURL").fill(receiver.url + "&who=owner")
    page.get_by_label("異常の発生").check()
    page.get_by_label("異常の復旧").check()
    page.get_by_label("説明").fill("社内の監視ツール")
    shots(page, "owner-form")
    page.get_by_role("button", name="送信先を追加する").click()

    expect(page.get_by_role("heading", name="送信先を追加しました")).to_be_visible()
    secret = page.get_by_test_id("webhook-secret").locator(".secret").inner_text().strip()
    assert secret.startswith("whsec_")
    receiver.secrets["owner"] = secret
    shots(page, "owner-secret-once")

    page.get_by_role("link", name="送信先の詳細・送信履歴へ").click()
    expect(page.get_by_role("heading", name="Webhookの送信先")).to_be_visible()
    assert secret not in page.content()  # shown once, never again
    page.get_by_role("button", name="テストイベントを送る").click()
    expect(page.get_by_text("テストイベントを送信待ちにしました")).to_be_visible()
    wait_until(lambda: receiver.processed, 10, "the test event at the receiver")
    assert receiver.bad_signatures == 0
    ((key, payload),) = receiver.processed.items()
    assert payload["type"] == "test"
    page.reload()
    row = page.get_by_test_id("delivery-log").get_by_role("row").nth(1)
    expect(row).to_contain_text("テスト送信")
    expect(row).to_contain_text("送信済み")
    expect(row).to_contain_text("204")
    expect(row).to_contain_text(key.split(":", 1)[1])
    shots(page, "owner-delivery-log")

    page.get_by_role("button", name="シークレットを再発行する").click()
    expect(page.get_by_role("heading", name="署名用シークレットを再発行しました")).to_be_visible()
    rotated = page.get_by_test_id("webhook-secret").locator(".secret").inner_text().strip()
    assert rotated.startswith("whsec_") and rotated != secret
    page.get_by_role("link", name="送信先の詳細・送信履歴へ").click()
    page.get_by_role("button", name="無効にする").click()
    expect(page.get_by_text("送信先を無効にしました")).to_be_visible()
    expect(page.get_by_role("button", name="有効にする")).to_be_visible()
    shots(page, "owner-disabled")
    page.get_by_role("link", name="送信先の一覧に戻る").click()
    expect(page.get_by_test_id("endpoint-list")).to_contain_text("無効")
    shots(page, "owner-list")
    assert fits_width(page, 1280)


def test_a_dealer_registers_on_a_phone_after_a_refused_address(mobile_page: Page, shots, receiver):
    page = mobile_page
    dealer = factories.dealer(email="admin@dealer.example.jp")
    log_in(page, dealer.user.email)
    page.goto(page.base_url + "/dealer/")
    page.get_by_role("navigation", name="販売店様メニュー").get_by_role(
        "link", name="Webhook(イベントの送信)"
    ).click()
    expect(page.get_by_role("heading", name="Webhook(イベントの送信)")).to_be_visible()
    page.get_by_label("送信先のURL").fill("https://169.254.169.254/latest/meta-data/")
    page.get_by_role("button", name="送信先を追加する").click()
    expect(
        page.get_by_text(
            "社内ネットワークやこのサーバ自身のアドレスには送信できません。", exact=True
        )
    ).to_be_visible()
    expect(
        page.get_by_text("受け取るイベントを1つ以上選んでください。", exact=True)
    ).to_be_visible()
    assert fits_width(page, 375)
    shots(page, "dealer-refused")
    page.get_by_label("送信先のURL").fill(receiver.url + "&who=dealer")
    page.get_by_label("ゲートウェイのオフライン").check()
    page.get_by_role("button", name="送信先を追加する").click()
    expect(page.get_by_role("heading", name="送信先を追加しました")).to_be_visible()
    assert fits_width(page, 375)
    shots(page, "dealer-secret")
    receiver.secrets["dealer"] = (
        page.get_by_test_id("webhook-secret").locator(".secret").inner_text().strip()
    )
    page.get_by_role("link", name="送信先の詳細・送信履歴へ").click()
    page.get_by_role("button", name="テストイベントを送る").click()
    wait_until(lambda: receiver.processed, 10, "the test event at the receiver")
    page.reload()
    expect(page.get_by_test_id("delivery-log")).to_contain_text("送信済み")
    assert fits_width(page, 375)
    shots(page, "dealer-endpoint")
    assert Delivery.objects.get().state == Delivery.State.DELIVERED

    # paused (as after days of failures): the page says so and offers 再開
    Endpoint.objects.update(paused_at=timezone.now())
    page.reload()
    expect(page.get_by_test_id("paused")).to_contain_text("一時停止しています")
    assert fits_width(page, 375)
    shots(page, "dealer-paused")
    page.get_by_role("button", name="再開する").click()
    expect(
        page.get_by_text("送信を再開しました。保留していた0件を順に送信します。")
    ).to_be_visible()
    expect(page.get_by_test_id("paused")).to_have_count(0)
    page.get_by_role("link", name="送信先の一覧に戻る").click()
    expect(page.get_by_test_id("endpoint-list")).to_contain_text("有効")
    shots(page, "dealer-list")
