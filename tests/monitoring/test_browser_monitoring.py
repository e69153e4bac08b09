"""The モニタリングサイト in a real browser, with `essmon simulate`'s code feeding a gateway
over HTTPS in real time: the live panel changes without a reload, a linked dealer changes
the operation mode and watches it reach 反映済み, the owner finds the change in the audit
log, an unlinked dealer gets 404. Screens are saved at desktop and at 375 px width.
"""

from datetime import datetime, timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from essmon.alerts.models import Alert
from essmon.commands.models import Command
from essmon.dealers import services as dealer_services
from essmon.gateways.models import Gateway
from essmon.simulator.fleet import FleetConfig
from essmon.simulator.physics import JST
from essmon.simulator.state import save_state
from essmon.telemetry.models import GatewayLiveState
from tests import factories
from tests.browsing import fits_width, log_in, new_tab
from tests.simulation import SimulatorThread, provision_fleet, yesterday_from_the_physics

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SITE_NAME = "嵯峨野の家"


def others_in_the_fleet(dealer) -> None:
    """Two more of the dealer's sites: one silent for hours with its alert open, one
    never connected, so the fleet table shows its states side by side."""
    now = timezone.now()
    silent = factories.owned_gateway(owner=factories.customer(name="桂 次郎"), site_name="桂川倉庫")
    dealer_services.link_dealer(customer=silent.owner, gateway=silent, dealer=dealer)
    GatewayLiveState.objects.create(
        gateway=silent, last_seen_at=now - timedelta(hours=5), latest={"soc_pct": 12.0}
    )
    Alert.objects.create(
        gateway=silent,
        kind="offline",
        severity="major",
        title="ゲートウェイからの通信が途絶えています",
        since=now - timedelta(hours=5),
    )
    never = factories.owned_gateway(
        owner=factories.customer(name="宇治 三郎"), site_name="宇治の家"
    )
    dealer_services.link_dealer(customer=never.owner, gateway=never, dealer=dealer)


@pytest.fixture
def world(tmp_path, live_server):
    creds, gateways = provision_fleet(tmp_path, ["KP-GWBT-A"])
    gateway = next(iter(gateways.values()))
    owner = factories.customer(email="hanako@example.jp", name="嵯峨 花子")
    gateway.owner, gateway.state = owner, Gateway.State.CLAIMED
    gateway.site = factories.site(owner=owner, name=SITE_NAME)
    gateway.save()
    linked = factories.dealer(email="ichiro@rakunan.example.jp", company="洛南電設")
    stranger = factories.dealer(email="jiro@other.example.jp", company="他社電機")
    dealer_services.link_dealer(customer=owner, gateway=gateway, dealer=linked)
    others_in_the_fleet(linked)
    # the live samples continue yesterday's counters, as a real gateway's do
    state = tmp_path / "simulator-state.json"
    save_state(state, {gateway.gateway_id: yesterday_from_the_physics(gateway)})
    config = FleetConfig(
        start=datetime.now(JST),
        interval=2,
        speed=1,
        status_every=30,
        jitter=False,
        drain_timeout=5,
        state_file=state,
    )
    with SimulatorThread(config, creds, live_server.url) as simulator:
        yield {
            "gateway": gateway,
            "owner": owner,
            "linked": linked,
            "stranger": stranger,
            "simulator": simulator,
        }


def test_live_settings_audit_and_access(browser, live_server, world, shots):
    gateway = world["gateway"]
    dealer = new_tab(browser, live_server, viewport={"width": 1280, "height": 900})

    # the linked dealer: fleet table → the gateway's live panel
    log_in(dealer, world["linked"].user.email)
    expect(dealer.get_by_role("heading", name="ゲートウェイ一覧")).to_be_visible()
    row = dealer.get_by_role("row", name=gateway.gateway_id)
    expect(row).to_contain_text(SITE_NAME)
    expect(row).to_contain_text("嵯峨 花子")
    expect(row).to_contain_text("オンライン")
    expect(dealer.get_by_role("row", name="桂川倉庫")).to_contain_text("1件")
    dealer.get_by_label("並べ替え").select_option(label="未復旧の異常の多い順")
    dealer.get_by_role("button", name="表示").click()
    expect(dealer.get_by_role("row").nth(1)).to_contain_text("桂川倉庫")
    shots(dealer, "fleet")
    row.get_by_role("link", name=gateway.gateway_id).click()
    expect(dealer.get_by_role("heading", name=SITE_NAME)).to_be_visible()
    live = dealer.locator("#live")
    expect(live.get_by_text("オンライン")).to_be_visible()
    sample_ts = dealer.get_by_test_id("sample-ts")
    expect(sample_ts).not_to_have_text("—")
    first = sample_ts.inner_text()
    dealer.evaluate("window.__stillTheSamePage = true")
    # the panel refreshes every 5 s; the simulator reports every 2 s
    expect(sample_ts).not_to_have_text(first, timeout=15_000)
    assert dealer.evaluate("window.__stillTheSamePage === true"), "the page was reloaded"
    expect(dealer.get_by_test_id("soc")).to_contain_text("%")
    expect(dealer.get_by_test_id("mode")).to_have_text("経済モード")
    shots(dealer, "live")

    # settings: what is in force, then the operation mode changed by the dealer
    dealer.get_by_role("link", name="設定").click()
    in_force = dealer.get_by_test_id("in-force")
    expect(in_force).to_contain_text("経済モード")
    dealer.get_by_label("グリーンモード").check()
    dealer.get_by_role("button", name="設定を変更する").click()
    expect(dealer.get_by_text("設定の変更を受け付けました")).to_be_visible()
    status = dealer.get_by_test_id("audit-log").get_by_test_id("command-status").first
    expect(status).to_have_text("反映済み", timeout=20_000)  # without reloading the page
    assert Command.objects.get().status == Command.Status.APPLIED
    expect(dealer.get_by_test_id("audit-log")).to_contain_text("販売店 洛南電設")
    # issue 12 §4: 現在の設定 follows without a reload, once the gateway reports its settings
    dealer.evaluate("window.__settingsPage = true")
    expect(dealer.get_by_test_id("in-force")).to_contain_text("グリーンモード", timeout=20_000)
    expect(dealer.get_by_test_id("in-force")).not_to_contain_text("経済モード")
    assert dealer.evaluate("window.__settingsPage === true"), "the page was reloaded"
    dealer.reload()
    expect(dealer.get_by_test_id("in-force")).to_contain_text("グリーンモード")
    shots(dealer, "settings-applied")
    dealer.get_by_role("link", name="現在の状況").click()
    expect(dealer.get_by_test_id("mode")).to_have_text("グリーンモード", timeout=15_000)

    # the owner sees who changed what in the audit log
    owner = new_tab(browser, live_server, viewport={"width": 1280, "height": 900})
    log_in(owner, world["owner"].email)
    expect(owner.get_by_role("heading", name=SITE_NAME)).to_be_visible()  # one gateway: straight in
    owner.get_by_role("link", name="設定").click()
    log_row = owner.get_by_test_id("audit-log").get_by_role("row").nth(1)
    for text in ("販売店 洛南電設", "運転モード", "経済モード", "グリーンモード", "反映済み"):
        expect(log_row).to_contain_text(text)
    shots(owner, "settings-owner")

    # history: yesterday's day view, its charts, the month view
    owner.get_by_role("link", name="発電・消費の履歴").click()
    owner.get_by_role("link", name="前へ").click()
    expect(owner.locator("#chart-power canvas").first).to_be_visible()
    expect(owner.locator("#energy-charts canvas")).to_have_count(3)
    expect(owner.get_by_test_id("total-pv_kwh")).not_to_have_text("0.0 kWh")
    shots(owner, "history-day")
    with owner.expect_download() as download:
        owner.get_by_role("link", name="CSVでダウンロード").click()
    assert download.value.suggested_filename.endswith(".csv")
    owner.get_by_role("navigation", name="表示単位").get_by_role("link", name="月").click()
    expect(owner.locator("#energy-charts canvas")).to_have_count(3)
    shots(owner, "history-month")

    # a dealer the owner did not link: the page does not exist for it
    stranger = new_tab(browser, live_server, viewport={"width": 1280, "height": 900})
    log_in(stranger, world["stranger"].user.email)
    response = stranger.goto(f"{live_server.url}/monitoring/{gateway.gateway_id}/")
    assert response.status == 404
    expect(stranger.get_by_text(SITE_NAME)).to_have_count(0)
    response = stranger.goto(f"{live_server.url}/monitoring/{gateway.gateway_id}/settings/")
    assert response.status == 404
    for tab in (dealer, owner, stranger):
        tab.context.close()


def test_every_screen_fits_a_phone(browser, live_server, world, shots):
    gateway = world["gateway"]
    phone = new_tab(
        browser, live_server, viewport={"width": 375, "height": 812}, is_mobile=True, has_touch=True
    )
    log_in(phone, world["linked"].user.email)
    expect(phone.get_by_role("heading", name="ゲートウェイ一覧")).to_be_visible()
    assert fits_width(phone, 375)
    shots(phone, "mobile-fleet")
    base = f"{live_server.url}/monitoring/{gateway.gateway_id}"
    for path, name, ready in (
        ("/", "mobile-live", "#live .flow svg"),
        (
            "/history/?view=day&date=" + (datetime.now(JST) - timedelta(days=1)).date().isoformat(),
            "mobile-history",
            "#chart-power canvas",
        ),
        ("/settings/", "mobile-settings", "form.settings-form"),
    ):
        phone.goto(base + path)
        expect(phone.locator(ready).first).to_be_visible()
        assert fits_width(phone, 375), f"{path} is wider than the phone"
        shots(phone, name)
    phone.context.close()


def test_the_history_marks_a_counter_reset(browser, live_server, world, shots):
    """A gateway whose counters restarted from 0 at noon yesterday (a firmware update):
    its day and month read as a sunny day, the 12時 bar and yesterday's bar are marked 補完
    and the page says what that means; at 1280 and at 375 px."""
    Gateway.objects.filter(site__name="宇治の家").update(
        provisioned_at=timezone.now() - timedelta(days=3)
    )
    gateway = Gateway.objects.get(site__name="宇治の家")
    yesterday_from_the_physics(gateway, reset_at=12 * 60)
    day = (datetime.now(JST) - timedelta(days=1)).date().isoformat()
    for width, height, name in ((1280, 900, "history-marks"), (375, 812, "mobile-history-marks")):
        page = new_tab(browser, live_server, viewport={"width": width, "height": height})
        log_in(page, gateway.owner.email)
        page.goto(f"{live_server.url}/monitoring/{gateway.gateway_id}/history/?view=day&date={day}")
        expect(page.locator("#energy-charts canvas")).to_have_count(3)
        expect(page.get_by_test_id("chart-marks")).to_contain_text("補完")
        pv = float(page.get_by_test_id("total-pv_kwh").inner_text().split()[0].replace(",", ""))
        assert 10 < pv < 5.9 * 24, pv
        sufficiency = page.get_by_test_id("self-sufficiency").inner_text()
        assert int(sufficiency.rstrip("%")) > 20, sufficiency
        marks = page.evaluate(
            "JSON.parse(document.getElementById('history-data').textContent).marks"
        )
        assert marks[12] == "補完" and marks.count("補完") == 1
        assert fits_width(page, width)
        page.get_by_test_id("chart-marks").scroll_into_view_if_needed()
        shots(page, name)
        page.context.close()


def test_the_live_panel_when_refreshing_fails(browser, live_server, world, shots):
    gateway = world["gateway"]
    page = new_tab(browser, live_server, viewport={"width": 1280, "height": 900})
    log_in(page, world["owner"].email)
    expect(page.get_by_test_id("sample-ts")).not_to_have_text("—")
    # the network fails: the old values must not go on looking current
    page.route("**/live/", lambda route: route.abort())
    expect(page.get_by_text("サーバーと通信できないため")).to_be_visible(timeout=15_000)
    shots(page, "live-connection-lost")
    page.unroute("**/live/")
    expect(page.get_by_text("サーバーと通信できないため")).to_have_count(0, timeout=15_000)
    # logged out elsewhere: the next refresh takes the whole page to the login, and
    # logging in again comes back to this page, not to the panel
    other = page.context.new_page()
    other.goto(f"{live_server.url}/monitoring/")
    other.get_by_role("button", name="ログアウト").click()
    expect(page.get_by_role("heading", name="ログイン")).to_be_visible(timeout=15_000)
    assert page.locator("header.site-header").count() == 1
    page.get_by_label("ユーザID(メールアドレス)").fill(world["owner"].email)
    page.get_by_label("パスワード").fill(factories.USER_PASSWORD)
    page.get_by_role("button", name="ログイン").click()
    expect(page).to_have_url(f"{live_server.url}/monitoring/{gateway.gateway_id}/")
    expect(page.locator("#live .flow svg")).to_be_visible()
    page.context.close()


def test_the_live_panel_rests_while_its_tab_is_hidden(browser, live_server):
    gateway = factories.owned_gateway(owner=factories.customer(email="kiyo@example.jp"))
    page = new_tab(browser, live_server, viewport={"width": 1280, "height": 900})
    page.clock.install()  # htmx's polling timers run when the test says
    log_in(page, "kiyo@example.jp")
    page.goto(f"{live_server.url}/monitoring/{gateway.gateway_id}/")
    refreshes = []
    page.on("request", lambda r: refreshes.append(r.url) if r.url.endswith("/live/") else None)
    page.evaluate(
        "Object.defineProperty(document, 'visibilityState', {configurable: true, get: () => 'hidden'})"
    )
    page.clock.run_for(60_000)
    assert refreshes == []
    page.evaluate("delete document.visibilityState")  # visible again
    with page.expect_request("**/live/"):
        page.clock.run_for(6_000)
