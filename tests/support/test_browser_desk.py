"""The support desk and the provisioning console in a real browser (issue 14): a support
operator finds a provisional customer by the katakana of a reading typed in hiragana,
resends the 仮登録メール (which arrives at the real SMTP server, with a link that works
while the first one no longer does) and unlocks an account found by its phone number; an
administration operator creates a batch and downloads its sheets. Screens at 1280 and 375
px under test-artifacts/screenshots/."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from essmon.accounts.models import User
from essmon.gateways.models import Gateway, ProvisioningBatch
from essmon.support.models import SupportAction
from tests import factories, journeys
from tests.browsing import fits_width, new_tab
from tests.conftest import SmtpSink
from tests.dealers.test_browser_dealer_records import WIDTHS, log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def tab(browser, live_server, width: str):
    mobile = {"is_mobile": True, "has_touch": True} if width == "phone" else {}
    return new_tab(browser, live_server, viewport=WIDTHS[width], accept_downloads=True, **mobile)


def open_desk(page) -> None:
    page.goto(page.base_url + "/menu/")
    page.get_by_role("link", name="サポートデスク").click()
    expect(page.get_by_role("heading", name="サポートデスク", level=1)).to_be_visible()


def find(page, text: str) -> None:
    page.get_by_label("検索").fill(text)
    page.get_by_role("button", name="検索").click()
    expect(page.get_by_test_id("hits-count")).to_be_visible()


@pytest.mark.parametrize("width", WIDTHS, ids=list(WIDTHS))
def test_support_resends_the_provisional_mail_and_unlocks(
    browser, live_server, shots, smtp_server, client, width
):
    email = f"sagano-{width}@example.jp"
    gateway = factories.gateway()
    journeys.register(
        client,
        gateway,
        email=email,
        email_confirm=email,
        name="嵯峨野 花子",
        furigana="さがの はなこ",
    )
    first = smtp_server.wait_for(1)[-1]
    first_link = SmtpSink.link(first, "/activate/")
    locked = factories.customer(
        email=f"locked-{width}@example.jp", name="鍵掛 一郎", phone="+81755550123"
    )
    User.objects.filter(pk=locked.pk).update(locked_at=timezone.now(), failed_logins=10)
    operator = factories.support_operator(name="窓口 三郎")

    page = tab(browser, live_server, width)
    log_in(page, operator.email)
    expect(page.get_by_role("heading", name="運営者メニュー")).to_be_visible()
    shots(page, "menu")
    assert fits_width(page, WIDTHS[width]["width"])
    open_desk(page)
    find(page, "サガノ")  # typed in hiragana at registration, found in katakana
    hits = page.get_by_test_id("hits")
    expect(hits).to_contain_text("嵯峨野 花子")
    expect(hits).to_contain_text("フリガナ")
    shots(page, "search")
    assert fits_width(page, WIDTHS[width]["width"])

    hits.get_by_role("link", name="嵯峨野 花子").click()
    expect(page.get_by_test_id("registration-state")).to_have_text("仮登録中")
    expect(page.get_by_test_id("gateways")).to_contain_text(gateway.gateway_id)
    expect(page.get_by_test_id("mails")).to_contain_text("お客様の仮登録")
    shots(page, "person")
    assert fits_width(page, WIDTHS[width]["width"])

    page.get_by_role("link", name="仮登録メールの再送").click()
    page.get_by_role("button", name="仮登録メールを再送する").click()
    expect(page.locator("main")).to_contain_text("理由を入力してください。")
    shots(page, "resend-refused")
    page.get_by_label("理由").fill("仮登録メールが届かないとお電話(迷惑メールに入っていた)")
    page.get_by_role("button", name="仮登録メールを再送する").click()
    expect(page.locator(".messages")).to_contain_text("仮登録メールを再送しました。")
    record = page.get_by_test_id("support-actions")
    expect(record).to_contain_text("仮登録メールの再送")
    expect(record).to_contain_text("迷惑メールに入っていた")
    expect(record).to_contain_text("窓口 三郎")
    record.scroll_into_view_if_needed()
    shots(page, "resent")
    assert fits_width(page, WIDTHS[width]["width"])

    page.get_by_test_id("gateways").get_by_role("link", name=gateway.gateway_id).click()
    expect(page.get_by_test_id("gateway-state")).to_have_text("仮登録中")
    expect(page.get_by_role("link", name="仮登録の解除")).to_be_visible()
    shots(page, "gateway")
    assert fits_width(page, WIDTHS[width]["width"])

    smtp_server.wait_for(2)
    mails = smtp_server.to(email)
    assert len(mails) == 2
    assert "仮登録のお知らせ" in mails[-1]["Subject"]
    fresh = SmtpSink.link(mails[-1], "/activate/")
    assert fresh != first_link
    customer = tab(browser, live_server, width)
    old = customer.goto(live_server.url + urlparse(first_link).path)
    assert old.status == 410  # the first link stopped working
    opened = customer.goto(live_server.url + urlparse(fresh).path)
    assert opened.status == 200
    shots(customer, "fresh-link")

    open_desk(page)
    find(page, "075-555-0123")
    expect(page.get_by_test_id("hits")).to_contain_text("電話番号")
    page.get_by_test_id("hits").get_by_role("link", name="鍵掛 一郎").click()
    expect(page.get_by_test_id("registration-state")).to_have_text("ロック中")
    page.get_by_role("link", name="ロックの解除").click()
    page.get_by_label("理由").fill("ご本人確認済み(登録の電話番号から)")
    shots(page, "unlock")
    assert fits_width(page, WIDTHS[width]["width"])
    page.get_by_role("button", name="ロックを解除する").click()
    expect(page.locator(".messages")).to_contain_text("ロックを解除しました。")
    expect(page.get_by_test_id("registration-state")).to_have_text("本登録済み")

    person = tab(browser, live_server, width)
    log_in(person, locked.email)
    expect(person.get_by_role("heading", name="メインメニュー")).to_be_visible()
    assert SupportAction.objects.filter(outcome="done").count() == 2


@pytest.mark.parametrize("width", WIDTHS, ids=list(WIDTHS))
def test_administration_creates_a_batch_and_downloads_its_sheets(
    browser, live_server, shots, tmp_path, width
):
    operator = factories.admin_operator(name="管理 次郎")
    page = tab(browser, live_server, width)
    log_in(page, operator.email)
    page.get_by_role("link", name="製造登録コンソール").click()
    expect(page.get_by_role("heading", name="製造登録コンソール", level=1)).to_be_visible()
    page.get_by_label("台数").fill("0")
    page.get_by_role("button", name="作成する").click()
    expect(page.locator("main")).to_contain_text("台数は1台以上で入力してください。")
    shots(page, "refused")

    page.get_by_label("台数").fill("2")
    page.get_by_label("品番").fill("2874598-7 A")
    with page.expect_download() as made:
        page.get_by_role("button", name="作成する").click()
    sheet_list = Path(tmp_path / made.value.suggested_filename)
    made.value.save_as(sheet_list)
    batch = ProvisioningBatch.objects.get()
    assert sheet_list.name == f"batch-{batch.pk}.csv"
    assert len(sheet_list.read_text().splitlines()) == 3  # the header and two gateways

    page.goto(page.base_url + "/support/console/")
    expect(page.locator(".messages")).to_contain_text(f"バッチ #{batch.pk}(2台)を作成し")
    row = page.get_by_test_id("batches").locator("tbody tr").first
    expect(row).to_contain_text("KP-GWBT-A")
    expect(row).to_contain_text("運用コンソール")
    shots(page, "console")
    assert fits_width(page, WIDTHS[width]["width"])

    row.get_by_label(f"用紙(バッチ #{batch.pk})").select_option("label")
    with page.expect_download() as printed:
        row.get_by_role("button", name="用紙を印刷(PDF)").click()
    pdf = Path(tmp_path / printed.value.suggested_filename)
    printed.value.save_as(pdf)
    assert pdf.name == f"sheets-batch-{batch.pk}-label.pdf"
    assert pdf.read_bytes().startswith(b"%PDF-")
    assert Gateway.objects.filter(batch=batch, sheet_printed_at__isnull=False).count() == 2

    page.goto(page.base_url + "/support/actions/")
    actions = page.get_by_test_id("support-actions")
    expect(actions).to_contain_text("登録用紙の印刷")
    expect(actions).to_contain_text("製造登録(新規発行)")
    shots(page, "record")
    assert fits_width(page, WIDTHS[width]["width"])
