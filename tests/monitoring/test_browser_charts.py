"""issue 12 §4, the charts: one colour per flow across the live legend, the power-flow
diagram and the history (read as computed colours), legends readable without hovering at
375 px, the diagram's figures readable at 375 px, thousands separators on kWh; and the
main menu's prompt for the warranty dates. Screens at 1280 and 375 px."""

from datetime import datetime, timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from essmon.core.jst import JST
from essmon.telemetry.ingest import ingest_samples
from essmon.telemetry.models import EnergyRollup, Sample
from tests import factories
from tests.browsing import fits_width, log_in, new_tab
from tests.simulation import yesterday_from_the_physics

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

FLOWS = ("pv", "load", "charge", "discharge", "buy", "sell")
# what the live panel shows now: the sun on the roof, the battery charging, selling the rest
NOW_POWERS = {"pv_w": 4321.0, "load_w": 1234.0, "grid_w": -1087.0, "battery_w": -2000.0}
WIDTHS = ((1280, 900), (375, 812))


@pytest.fixture
def gateway(live_server):
    gw = factories.owned_gateway(site_name="嵯峨野の家")
    gw.provisioned_at = timezone.now() - timedelta(days=1200)
    gw.save(update_fields=["provisioned_at"])
    yesterday_from_the_physics(gw)
    last = Sample.objects.filter(gateway=gw).latest("ts")
    counters = (
        "pv_kwh",
        "load_kwh",
        "grid_import_kwh",
        "grid_export_kwh",
        "charge_kwh",
        "discharge_kwh",
    )
    now = timezone.now()
    ingest_samples(
        gateway=gw,
        samples=[
            factories.sample(
                last.seq + 1,
                ts=now - timedelta(seconds=20),
                soc_pct=64.0,
                battery_temp_c=25.0,
                **NOW_POWERS,
                **{c: getattr(last, c) for c in counters},
            )
        ],
        now=now,
    )
    return gw


def months_of_energy(gw, count: int = 30) -> None:
    """``count`` months before this one of 411.52 kWh generated each: 12,345.6 kWh in all."""
    first = datetime.now(JST).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    starts = []
    for back in range(1, count + 1):
        starts.append((first - timedelta(days=31 * back)).replace(day=1))
    EnergyRollup.objects.bulk_create(
        [
            EnergyRollup(
                gateway=gw,
                period="month",
                start=start,
                pv_kwh=411.52,
                load_kwh=380.0,
                grid_import_kwh=150.0,
                grid_export_kwh=181.52,
                charge_kwh=90.0,
                discharge_kwh=85.0,
                samples=44640,
                updated_at=timezone.now(),
            )
            for start in starts
        ]
    )


def palette(page) -> dict[str, str]:
    """The stylesheet's colours, as the browser computes them (rgb(...))."""
    return page.evaluate(
        """(flows) => Object.fromEntries(flows.map((f) => {
            const probe = document.createElement("span");
            probe.style.color = `var(--flow-${f})`;
            document.body.appendChild(probe);
            const colour = getComputedStyle(probe).color;
            probe.remove();
            return [f, colour];
        }))""",
        list(FLOWS),
    )


def test_one_colour_per_flow_across_live_diagram_and_history(browser, live_server, gateway, shots):
    page = new_tab(browser, live_server, viewport={"width": 1280, "height": 900})
    log_in(page, gateway.owner.email)
    page.goto(f"{live_server.url}/monitoring/{gateway.gateway_id}/")
    expect(page.locator("#live .flow svg")).to_be_visible()
    colours = palette(page)
    assert len(set(colours.values())) == len(FLOWS), colours  # six different colours
    # the diagram: each flowing edge's line and its arrowhead; every flow has its arrowhead
    diagram = page.evaluate(
        """() => ({
            edges: [...document.querySelectorAll("#live .edge.active")].map((g) => [
                g.dataset.flow, getComputedStyle(g.querySelector("line")).stroke]),
            arrows: [...document.querySelectorAll("#live marker")].map((m) => [
                m.id.replace("arrow-", ""), getComputedStyle(m.querySelector("path")).fill]),
        })"""
    )
    assert {flow for flow, _ in diagram["edges"]} == {"pv", "load", "charge", "sell"}
    for flow, colour in diagram["edges"] + diagram["arrows"]:
        assert colour == colours[flow], (flow, colour, colours[flow])
    assert {flow for flow, _ in diagram["arrows"]} == set(FLOWS)
    # the live legend and today's energy list
    dots = page.evaluate(
        """() => [...document.querySelectorAll("#live .dot[class*=' f-']")]
            .map((d) => [d.dataset.flow, getComputedStyle(d).backgroundColor])"""
    )
    assert {flow for flow, _ in dots} == set(FLOWS)
    for flow, colour in dots:
        assert colour == colours[flow], (flow, colour)
    shots(page, "live")

    # the history: the day's power curve (one series per flow) and the energy bars
    day = (datetime.now(JST) - timedelta(days=1)).date().isoformat()
    page.goto(f"{live_server.url}/monitoring/{gateway.gateway_id}/history/?view=day&date={day}")
    expect(page.locator("#energy-charts canvas")).to_have_count(3)
    markers = page.evaluate(
        """() => [...document.querySelectorAll(".u-legend .u-series")]
            .filter((s) => s.querySelector(".u-marker"))
            .map((s) => [s.querySelector(".u-label").textContent,
                         getComputedStyle(s.querySelector(".u-marker")).borderColor])"""
    )
    names = {
        "発電": "pv",
        "消費": "load",
        "充電": "charge",
        "放電": "discharge",
        "買電": "buy",
        "売電": "sell",
    }
    seen = set()
    for label, colour in markers:
        flow = next((f for word, f in names.items() if label.startswith(word)), None)
        if flow is None:
            continue  # 蓄電残量: not a flow
        seen.add(flow)
        assert colour == colours[flow], (label, colour, colours[flow])
    assert seen == set(FLOWS)
    totals = page.evaluate(
        """() => [...document.querySelectorAll(".totals .dot")]
            .map((d) => [d.dataset.flow, getComputedStyle(d).backgroundColor])"""
    )
    assert {f for f, _ in totals} == set(FLOWS)
    for flow, colour in totals:
        assert colour == colours[flow], (flow, colour)
    shots(page, "history-day")
    page.context.close()


def test_legends_read_without_hovering_on_a_phone(browser, live_server, gateway, shots):
    page = new_tab(
        browser,
        live_server,
        viewport={"width": 375, "height": 812},
        is_mobile=True,
        has_touch=True,
    )
    log_in(page, gateway.owner.email)
    day = (datetime.now(JST) - timedelta(days=1)).date().isoformat()
    page.goto(f"{live_server.url}/monitoring/{gateway.gateway_id}/history/?view=day&date={day}")
    expect(page.locator("#energy-charts canvas")).to_have_count(3)
    assert fits_width(page, 375)
    legends = page.locator(".u-legend")
    expect(legends).to_have_count(5)  # power, SoC, three energy pairs
    for index in range(5):
        legend = legends.nth(index)
        legend.scroll_into_view_if_needed()
        expect(legend).to_be_visible()
        box = legend.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 375, box
        values = legend.locator(".u-series .u-value").all_inner_texts()
        # every series says its value without a cursor: the latest, or the period's total
        assert values and all(v.strip() not in ("", "—", "--") for v in values), values
        size = legend.evaluate("(el) => parseFloat(getComputedStyle(el).fontSize)")
        assert size >= 12, size
    power = legends.nth(0).inner_text()
    for word in ("最終", "発電", "消費", "買電", "売電", "充電", "放電", "kW"):
        assert word in power, power
    assert "合計" in legends.nth(2).inner_text() and "kWh" in legends.nth(2).inner_text()
    # the totals the bars' legend shows are the page's totals
    pv_total = page.get_by_test_id("total-pv_kwh").inner_text()
    assert pv_total in legends.nth(2).inner_text()
    page.locator("#chart-power").scroll_into_view_if_needed()
    shots(page, "mobile-history-power")
    page.locator("#energy-charts").scroll_into_view_if_needed()
    shots(page, "mobile-history-energy")
    page.context.close()


def test_the_diagram_reads_on_a_phone(browser, live_server, gateway, shots):
    for width, height in WIDTHS:
        page = new_tab(browser, live_server, viewport={"width": width, "height": height})
        log_in(page, gateway.owner.email)
        page.goto(f"{live_server.url}/monitoring/{gateway.gateway_id}/")
        expect(page.locator("#live .flow svg")).to_be_visible()
        assert fits_width(page, width)
        texts = page.evaluate(
            """() => {
                const svg = document.querySelector("#live .flow svg");
                const scale = svg.getScreenCTM().a;
                return [...svg.querySelectorAll(".node")].flatMap((node) => {
                    const box = node.querySelector("rect").getBoundingClientRect();
                    return [...node.querySelectorAll("text")].map((t) => {
                        const r = t.getBoundingClientRect();
                        return {text: t.textContent, px: parseFloat(getComputedStyle(t).fontSize) * scale,
                                rect: [r.left, r.top, r.right, r.bottom],
                                node: [box.left, box.top, box.right, box.bottom]};
                    });
                });
            }"""
        )
        assert len(texts) == 10
        for t in texts:
            assert t["px"] >= 12, t  # rendered size, after the SVG's scaling
            left, top, right, bottom = t["rect"]
            n_left, n_top, n_right, n_bottom = t["node"]
            assert n_left <= left and right <= n_right and n_top <= top and bottom <= n_bottom, t
        for i, a in enumerate(texts):
            for b in texts[i + 1 :]:
                overlap = not (
                    a["rect"][2] <= b["rect"][0]
                    or b["rect"][2] <= a["rect"][0]
                    or a["rect"][3] <= b["rect"][1]
                    or b["rect"][3] <= a["rect"][1]
                )
                assert not overlap, (a, b)
        svg_text = page.locator("#live .flow svg").text_content()
        assert "4.3 kW" in svg_text and "1.2 kW" in svg_text and "2.0 kW" in svg_text
        page.locator("#live .flow").scroll_into_view_if_needed()
        shots(page, f"diagram-{width}")
        page.context.close()


def test_thousands_separators_on_energy(browser, live_server, shots):
    gateway = factories.owned_gateway(site_name="嵯峨野の家")
    gateway.provisioned_at = timezone.now() - timedelta(days=1200)
    gateway.save(update_fields=["provisioned_at"])
    months_of_energy(gateway)
    for width, height in WIDTHS:
        page = new_tab(browser, live_server, viewport={"width": width, "height": height})
        log_in(page, gateway.owner.email)
        page.goto(f"{live_server.url}/monitoring/{gateway.gateway_id}/history/?view=lifetime")
        expect(page.locator("#energy-charts canvas")).to_have_count(3)
        # 30 months of 411.52 kWh: the page's total (a Django filter) and the chart's
        # legend (Intl.NumberFormat) alike
        expect(page.get_by_test_id("total-pv_kwh")).to_have_text("12,345.6 kWh")
        expect(page.locator(".u-legend").first).to_contain_text("12,345.6 kWh")
        axis = page.evaluate(
            "new Intl.NumberFormat('ja-JP', {minimumFractionDigits: 1}).format(12345.6)"
        )
        assert axis == "12,345.6"
        assert fits_width(page, width)
        page.get_by_test_id("total-pv_kwh").scroll_into_view_if_needed()
        shots(page, f"lifetime-{width}")
        page.context.close()


def test_the_menu_asks_for_the_warranty_dates(browser, live_server, shots):
    owner = factories.customer(email="hanako@example.jp")
    gw = factories.owned_gateway(owner=owner, site_name="嵯峨野の家")
    gw.claimed_at = timezone.now()
    gw.save(update_fields=["claimed_at"])
    from essmon.warranty.models import WarrantyDates

    received = timezone.localdate() - timedelta(days=20)
    WarrantyDates.objects.create(gateway=gw, received_date=received)
    for width, height in WIDTHS:
        page = new_tab(browser, live_server, viewport={"width": width, "height": height})
        page.goto(live_server.url + "/login/")
        page.get_by_label("ユーザID(メールアドレス)").fill(owner.email)
        page.get_by_label("パスワード").fill(factories.USER_PASSWORD)
        page.get_by_role("button", name="ログイン").click()
        prompt = page.get_by_test_id("dates-prompt")
        expect(prompt).to_be_visible()
        expect(prompt).to_contain_text("系統連系日・受取日を入力してください")
        expect(prompt.get_by_test_id("dates-prompt-deadline")).to_be_visible()
        assert fits_width(page, width)
        shots(page, f"menu-dates-prompt-{width}")
        prompt.get_by_role("link", name="系統連系日・受取日を入力する").click()
        page.get_by_label("系統連系日").fill((received + timedelta(days=3)).isoformat())
        page.get_by_role("button", name="日付を保存する").click()
        expect(page.get_by_text("日付を保存しました")).to_be_visible()
        page.goto(live_server.url + "/menu/")
        expect(page.get_by_role("heading", name="メインメニュー")).to_be_visible()
        expect(page.get_by_test_id("dates-prompt")).to_have_count(0)
        WarrantyDates.objects.filter(gateway=gw).update(grid_connection_date=None)
        page.context.close()


def test_a_second_gateway_with_its_warranty_dates(browser, live_server, shots):
    owner = factories.customer(email="hanako@example.jp")
    for width, height in WIDTHS:
        gw = factories.gateway()
        page = new_tab(browser, live_server, viewport={"width": width, "height": height})
        page.goto(live_server.url + "/login/")
        page.get_by_label("ユーザID(メールアドレス)").fill(owner.email)
        page.get_by_label("パスワード").fill(factories.USER_PASSWORD)
        page.get_by_role("button", name="ログイン").click()
        page.goto(live_server.url + "/menu/gateways/add/")
        page.get_by_label("ゲートウェイID").fill(gw.gateway_id)
        page.get_by_label("ゲートウェイパスワード").fill(factories.GATEWAY_PASSWORD)
        page.get_by_role("button", name="次に進む").click()
        page.get_by_label("案件名").fill("別荘")
        page.get_by_label("郵便番号").fill("100-0001")
        page.get_by_label("郵便番号").press("Tab")  # the look-up answers before typing on
        expect(page.get_by_label("都道府県")).to_have_value("東京都")
        expect(page.get_by_label("市町村区")).to_have_value("千代田区")
        page.get_by_label("それ以降の住所").fill("千代田1-1")
        grid = timezone.localdate() - timedelta(days=10)
        page.get_by_label("系統連系日").fill(grid.isoformat())
        expect(page.get_by_text("15年間になります")).to_be_visible()
        assert fits_width(page, width)
        page.get_by_label("受取日").scroll_into_view_if_needed()
        shots(page, f"gateway-add-site-{width}")
        page.get_by_role("button", name="次に進む").click()
        outlook = page.get_by_test_id("warranty-outlook")
        expect(outlook).to_contain_text("保証期間は15年になります")
        expect(page.get_by_test_id("confirm-received-date")).to_have_text("未入力")
        assert fits_width(page, width)
        shots(page, f"gateway-add-confirm-{width}")
        page.get_by_role("button", name="登録").click()
        expect(page.get_by_text(gw.gateway_id).first).to_be_visible()
        page.context.close()
