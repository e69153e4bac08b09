"""The right screen for each person (issue 12 §4): an owner gets a simple list of their
sites, an operator a menu of its own whose every link works, a dealer with hundreds of
sites a searchable, paged list, a fleet table with its summary and a CSV export, and none
of these pages asks the database once per row."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from essmon.accounts.models import User
from essmon.alerts.models import Alert
from essmon.dealers.models import DealerLink
from essmon.gateways.models import Site
from essmon.mqtt.models import DeadLetter
from essmon.notifications.models import OutboxMessage
from essmon.telemetry.models import GatewayLiveState
from tests import factories
from tests.fleet_data import many_sites

pytestmark = pytest.mark.django_db

# 300 sites: the query counts below hold for any number; a per-row query would add 300
MANY = 300


def as_user(client, user):
    client.force_login(user)
    return client


def operator(**fields) -> User:
    return User.objects.create_superuser("op@example.jp", "OpPass2024x", name="運営 太郎", **fields)


def text(response) -> str:
    return response.content.decode()


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag, attrs):
        href = dict(attrs).get("href")
        if tag == "a" and href:
            self.hrefs.append(href)


def links_of(html: str, base: str) -> list[str]:
    parser = Links()
    parser.feed(html)
    found = []
    for href in parser.hrefs:
        url = urljoin(base, href)
        parts = urlsplit(url)
        if parts.scheme not in ("", "http") or parts.netloc not in ("", "testserver"):
            continue  # another site
        if href.startswith("#"):
            continue
        found.append(parts.path + (f"?{parts.query}" if parts.query else ""))
    return list(dict.fromkeys(found))


# --- the owner: a simple list of their sites ------------------------------------------


def test_an_owner_with_two_systems_gets_their_sites_not_the_fleet_table(client):
    owner = factories.customer(name="二台 持子")
    now = timezone.now()
    home = factories.owned_gateway(owner=owner, site_name="自宅")
    shop = factories.owned_gateway(owner=owner, site_name="店舗")
    GatewayLiveState.objects.create(
        gateway=home,
        last_seen_at=now - timedelta(minutes=1),
        latest={"soc_pct": 64.4, "pv_w": 3210.0, "load_w": 845.0},
    )
    GatewayLiveState.objects.create(
        gateway=shop, last_seen_at=now - timedelta(hours=3), latest={"soc_pct": 12.0, "pv_w": 99}
    )
    Alert.objects.create(
        gateway=shop,
        kind="offline",
        severity="major",
        title="通信が途絶えています",
        since=now - timedelta(hours=3),
    )
    other = factories.owned_gateway(site_name="他人の家")

    page = text(as_user(client, owner).get(reverse("monitoring:index")))

    assert "<h1>ゲートウェイ一覧</h1>" in page
    # none of the dealer's controls: no search, no status filter, no sort orders
    for control in ('id="fleet-q"', 'id="fleet-status"', 'id="fleet-sort"', "並べ替え"):
        assert control not in page
    assert "自宅" in page and "店舗" in page and "他人の家" not in page
    home_card, shop_card = page.split('class="site-card"')[1:3]
    if "自宅" not in home_card:
        home_card, shop_card = shop_card, home_card
    assert "オンライン" in home_card and "3,210 W" in home_card and "845 W" in home_card
    assert "64%" in home_card and "異常" not in home_card
    assert reverse("monitoring:live", kwargs={"gateway_id": home.gateway_id}) in home_card
    # offline: no "current" power from a three-hour-old sample, the state of charge says when
    assert "オフライン" in shop_card and "99 W" not in shop_card
    assert "蓄電残量(最終受信時)" in shop_card and "12%" in shop_card
    assert "未復旧の異常 1件" in shop_card
    assert reverse("monitoring:alerts", kwargs={"gateway_id": shop.gateway_id}) in shop_card
    assert timezone.localtime(now - timedelta(hours=3)).strftime("%Y/%m/%d %H:%M") in shop_card
    assert other.gateway_id not in page


def test_an_owner_with_one_system_goes_straight_to_it_and_with_none_is_told_how(client):
    gw = factories.owned_gateway()
    response = as_user(client, gw.owner).get(reverse("monitoring:index"))
    assert response.status_code == 302
    assert response["Location"] == reverse("monitoring:live", kwargs={"gateway_id": gw.gateway_id})
    # its live view does not offer a list of one
    live = text(client.get(response["Location"]))
    assert "ゲートウェイ一覧</a>" not in live and "メインメニュー</a>" in live

    nobody = factories.customer()
    page = text(as_user(client, nobody).get(reverse("monitoring:index")))
    assert "モニタリングできるゲートウェイはまだありません" in page
    assert reverse("accounts:gateway_add") in page


def test_the_owner_does_not_get_the_fleet_export(client):
    gw = factories.owned_gateway()
    assert as_user(client, gw.owner).get(reverse("monitoring:fleet_csv")).status_code == 404


# --- the operator: its own menu and words ---------------------------------------------


def test_the_operators_menu_is_its_own(client):
    op = operator()
    factories.owned_gateway()
    page = text(as_user(client, op).get(reverse("accounts:menu")))
    assert "<h1>運営者メニュー</h1>" in page
    # nothing of the customer's menu: no address, no gateway registration, no dealers to link
    for customer_word in (
        "住所",
        "〒",
        "ゲートウェイの登録",
        "保守を任せる販売店様",
        "メインメニュー",
    ):
        assert customer_word not in page, customer_word
    for link in (
        "admin:index",
        "admin:notifications_outboxmessage_changelist",
        "admin:mqtt_deadletter_changelist",
        "admin:alerts_alert_changelist",
        "admin:gateways_gateway_changelist",
        "monitoring:index",
    ):
        assert f'href="{reverse(link)}' in page, link


def test_the_operators_menu_counts_what_needs_looking_at(client):
    op = operator()
    fleet = many_sites(20)
    OutboxMessage.objects.create(
        recipient="a@example.jp", subject="件名", body="本文", state=OutboxMessage.State.FAILED
    )
    DeadLetter.objects.create(topic="essmon/v1/x/telemetry", reason="bad json")
    DeadLetter.objects.create(
        topic="essmon/v1/x/telemetry", reason="old", received_at=timezone.now() - timedelta(days=2)
    )
    page = text(as_user(client, op).get(reverse("accounts:menu")))
    overview = page.split('data-testid="operator-overview"')[1].split("</ul>")[0]
    # of 20: 2 never heard from, 6 offline (2 of them for 8 days), 2 with an open alert
    assert (fleet.offline, fleet.with_alerts, fleet.at_risk) == (6, 2, 2)
    assert "<span>ゲートウェイ</span><strong>20台</strong>" in overview
    assert "<span>オフライン</span><strong>6台</strong>" in overview
    assert "<span>未復旧の異常あり</span><strong>2台</strong>" in overview
    assert "<span>延長保証 失効のおそれ</span><strong>2台</strong>" in overview
    assert "<span>送信失敗のメール</span><strong>1件</strong>" in overview
    assert "<span>受信できなかったメッセージ(24時間)</span><strong>1件</strong>" in overview


def test_an_operator_without_admin_rights_gets_no_admin_links(client):
    op = User.objects.create_user(
        "viewer@example.jp",
        "OpPass2024x",
        name="閲覧 専任",
        role=User.Role.OPERATOR,
        is_active=True,
        activated_at=timezone.now(),
    )
    page = text(as_user(client, op).get(reverse("accounts:menu")))
    assert "<h1>運営者メニュー</h1>" in page and "/admin/" not in page
    assert "運営管理サイトの権限がありません" in page
    assert "送信失敗のメール" not in page  # counts of what it may not open are not shown


def test_the_operators_fleet_speaks_to_the_operator(client):
    op = operator()
    factories.owned_gateway(site_name="どこかの家")
    factories.gateway()  # not registered yet: an operator sees it too
    page = text(as_user(client, op).get(reverse("monitoring:index")))
    assert "<h1>すべてのゲートウェイ</h1>" in page and "お客様の登録前のものを含む" in page
    assert "保守を任されている" not in page and "運営者メニューに戻る" in page
    dealer = factories.dealer()
    page = text(as_user(client, dealer.user).get(reverse("monitoring:index")))
    assert "保守を任されているゲートウェイの状況です" in page and "販売店様メニューに戻る" in page


def test_customer_pages_send_an_operator_back_to_its_menu(client):
    as_user(client, operator())
    for name in ("accounts:account", "accounts:profile", "accounts:gateway_add"):
        response = client.get(reverse(name))
        assert response.status_code == 302 and response["Location"] == reverse("accounts:menu")


# --- no link on any menu leads nowhere ------------------------------------------------


def _customer_with_two():
    owner = factories.customer()
    factories.owned_gateway(owner=owner, site_name="一号")
    factories.owned_gateway(owner=owner, site_name="二号")
    return owner


def _dealer_with_sites():
    dealer = factories.dealer()
    many_sites(3, dealer=dealer, prefix="55DL")
    return dealer.user


def _viewer():
    owner = factories.customer()
    return factories.viewer(owner=owner, gateway=factories.owned_gateway(owner=owner))


MENU_ROLES = {
    "customer": _customer_with_two,
    "viewer": _viewer,
    "customer_without_gateways": factories.customer,
    "dealer": _dealer_with_sites,
    "operator": operator,
    "operator_without_admin": lambda: User.objects.create_user(
        "viewer@example.jp",
        "OpPass2024x",
        name="閲覧",
        role=User.Role.OPERATOR,
        is_active=True,
        activated_at=timezone.now(),
    ),
}


@pytest.mark.parametrize("role", MENU_ROLES)
def test_every_link_of_each_menu_works_for_its_role(client, role):
    user = MENU_ROLES[role]()
    as_user(client, user)
    menu = client.get(reverse("accounts:menu"), follow=True)
    assert menu.status_code == 200
    menu_url = menu.request["PATH_INFO"]
    links = links_of(text(menu), menu_url)
    assert len(links) >= 4, links
    broken = []
    for link in links:
        response = client.get(link)
        if response.status_code not in (200, 302):
            broken.append((link, response.status_code))
            continue
        if response.status_code == 302:  # wherever it leads must work too
            final = client.get(link, follow=True)
            if final.status_code != 200:
                broken.append((link, f"302 → {final.status_code}"))
        assert client.session.get("_auth_user_id") == str(user.pk), f"{link} logged out"
    assert not broken, f"{role}: {broken}"


# --- the dealer with 300 sites -----------------------------------------------------------


def test_the_dealers_gateways_are_searched_and_paged(client):
    dealer = factories.dealer()
    many_sites(120, dealer=dealer)
    as_user(client, dealer.user)
    url = reverse("dealers:gateways")
    first = text(client.get(url))
    assert first.count('data-label="ゲートウェイID"') == 50
    assert "120台(1〜50台目を表示)" in first and "1 / 3ページ" in first
    # newest link first: the last of the 120 was linked last
    assert first.index("77KS00000119") < first.index("77KS00000118")
    last = text(client.get(url, {"page": 3}))
    assert last.count('data-label="ゲートウェイID"') == 20 and "101〜120台目を表示" in last
    assert "77KS00000000" in last
    found = text(client.get(url, {"q": "案件042"}))
    assert "「案件042」に合うゲートウェイ 1台" in found and "77KS00000042" in found
    assert found.count('data-label="ゲートウェイID"') == 1
    by_owner = text(client.get(url, {"q": "顧客 10"}))  # 顧客 100 … 顧客 109
    assert "10台" in by_owner and by_owner.count('data-label="ゲートウェイID"') == 10
    # full-width digits find the half-width ones; the pager keeps the search
    assert "77KS00000042" in text(client.get(url, {"q": "案件０４２"}))
    paged = text(client.get(url, {"q": "案件"}))
    assert "?q=%E6%A1%88%E4%BB%B6&amp;page=2" in paged
    nothing = text(client.get(url, {"q": "存在しない"}))
    assert "「存在しない」に合うゲートウェイはありません" in nothing
    assert client.get(url, {"page": "x", "q": "a\x00b"}).status_code == 200


def test_the_fleet_summary_counts_the_whole_fleet_and_links_to_each_filter(client):
    dealer = factories.dealer()
    fleet = many_sites(MANY, dealer=dealer)
    factories.owned_gateway(site_name="他社の案件")  # not this dealer's: not counted
    as_user(client, dealer.user)
    page = text(client.get(reverse("monitoring:index"), {"q": "案件001"}))
    summary = page.split('data-testid="fleet-summary"')[1].split("</ul>")[0]
    assert f"<span>全台数</span><strong>{MANY}台</strong>" in summary
    assert f"<span>オンライン</span><strong>{fleet.online}台</strong>" in summary
    assert f"<span>オフライン</span><strong>{fleet.offline}台</strong>" in summary
    assert f"<span>未接続</span><strong>{fleet.never}台</strong>" in summary
    assert f"<span>未復旧の異常あり</span><strong>{fleet.with_alerts}台</strong>" in summary
    assert f"<span>延長保証 失効のおそれ</span><strong>{fleet.at_risk}台</strong>" in summary
    assert (fleet.online, fleet.offline, fleet.never, fleet.at_risk) == (180, 90, 30, 30)
    # each count is the filter that lists exactly those
    for status, expected in (
        ("offline", fleet.offline),
        ("warranty_at_risk", fleet.at_risk),
        ("alerts", fleet.with_alerts),
        ("never", fleet.never),
    ):
        assert f'href="?status={status}&amp;sort=gateway_id"' in summary
        listed = text(client.get(reverse("monitoring:index"), {"status": status}))
        assert f"条件に合うゲートウェイ {expected}台" in listed


# --- the CSV export ---------------------------------------------------------------------


def test_the_fleet_csv_is_the_filtered_set_for_excel_with_no_formulas(client):
    dealer = factories.dealer()
    fleet = many_sites(60, dealer=dealer)
    hostile = fleet.gateways[1]  # offline for two hours
    Site.objects.filter(pk=hostile.site_id).update(
        name='=HYPERLINK("http://evil.example","x")', address_rest="-2+3"
    )
    User.objects.filter(pk=hostile.owner_id).update(name="@SUM(A1)")
    other = fleet.gateways[2]
    User.objects.filter(pk=other.owner_id).update(name="+81 太郎")
    as_user(client, dealer.user)

    response = client.get(reverse("monitoring:fleet_csv"), {"status": "offline", "sort": "-soc"})

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="gateways_')
    body = response.content
    assert body.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM: Excel reads the Japanese right
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0] == [
        "ゲートウェイID",
        "案件名",
        "お客様",
        "設置先住所",
        "状態",
        "最終受信",
        "蓄電残量(%)",
        "本日の発電量(kWh)",
        "未復旧の異常(件)",
        "保証",
    ]
    data = rows[1:]
    # every offline one (not one page of them), nothing else, in the table's order
    assert sorted(r[0] for r in data) == sorted(
        fleet.by_state["offline"] + fleet.by_state["at_risk"]
    )
    assert {r[4] for r in data} == {"オフライン"}
    socs = [int(r[6]) for r in data]
    assert socs == sorted(socs, reverse=True)
    by_id = {r[0]: r for r in data}
    row = by_id[hostile.gateway_id]
    assert row[1] == '\'=HYPERLINK("http://evil.example","x")'
    assert row[2] == "'@SUM(A1)" and row[3].endswith("-2+3") and not row[3].startswith("-")
    assert by_id[other.gateway_id][2] == "'+81 太郎"
    for cell in (c for r in data for c in r):
        assert not cell.startswith(("=", "+", "-", "@")), cell
    at_risk = by_id[fleet.by_state["at_risk"][0]]
    assert at_risk[9].startswith("延長保証 失効のおそれ")
    # the search narrows it as it narrows the table
    found = client.get(reverse("monitoring:fleet_csv"), {"q": "案件011"}).content
    assert len(list(csv.reader(io.StringIO(found.decode("utf-8-sig"))))) == 2


def test_the_fleet_page_links_to_the_export_of_what_it_shows(client):
    dealer = factories.dealer()
    many_sites(5, dealer=dealer)
    page = text(
        as_user(client, dealer.user).get(reverse("monitoring:index"), {"status": "offline"})
    )
    csv_url = reverse("monitoring:fleet_csv")
    assert f'href="{csv_url}?q=&amp;status=offline&amp;sort=gateway_id"' in page
    assert "この3台をCSVでダウンロード" in page


# --- no query per row -----------------------------------------------------------------------


# session, user, the dealer's seat (administrator or staff, looked up afresh where the page
# asks: whether it is a fleet, which gateways, the summary), the terms the user has yet to
# agree to (asked on every request, so a version coming into force stops the next page), and
# the page's own statements
# (the warranty rule takes four for the page's rows, four for the summary's at-risk count,
# four for the at-risk filter, and records the lapses it finds once); on PostgreSQL also the
# savepoint and `SET LOCAL jit = off` of the fleet query
MAX_QUERIES = 26


def queries_of(client, url: str, params: dict) -> int:
    with CaptureQueriesContext(connection) as context:
        assert client.get(url, params).status_code == 200
    return len(context)


@pytest.mark.parametrize(
    "name, params",
    [
        ("monitoring:index", {}),
        ("monitoring:index", {"status": "warranty_at_risk", "sort": "-alerts", "page": "2"}),
        ("monitoring:index", {"q": "案件", "sort": "-pv_today"}),
        ("monitoring:fleet_csv", {}),
        ("monitoring:fleet_csv", {"status": "offline"}),
        ("dealers:gateways", {}),
        ("dealers:gateways", {"q": "案件", "page": "6"}),
        ("dealers:menu", {}),
    ],
)
def test_the_dealers_pages_at_300_sites_make_no_query_per_row(
    client, django_assert_max_num_queries, name, params
):
    """The same number of queries for 10 sites as for 300, and few."""
    dealer = factories.dealer()
    many_sites(10, dealer=dealer, prefix="10SM")
    as_user(client, dealer.user)
    url = reverse(name)
    client.get(url, params)  # the session's first use is not what is measured
    for_ten = queries_of(client, url, params)
    many_sites(MANY - 10, dealer=dealer)
    with django_assert_max_num_queries(MAX_QUERIES):
        response = client.get(url, params)
    assert response.status_code == 200
    assert queries_of(client, url, params) == for_ten
    if name == "monitoring:fleet_csv" and not params:
        assert len(response.content.decode("utf-8-sig").splitlines()) == MANY + 1


def test_the_owners_list_and_the_operators_menu_at_300_sites_make_no_query_per_row(
    client, django_assert_max_num_queries
):
    owner = factories.customer(company_name="三百拠点株式会社")
    many_sites(MANY, owner=owner)
    as_user(client, owner).get(reverse("monitoring:index"))
    with django_assert_max_num_queries(MAX_QUERIES):
        assert client.get(reverse("monitoring:index"), {"page": "3"}).status_code == 200
    as_user(client, operator()).get(reverse("accounts:menu"))
    with django_assert_max_num_queries(MAX_QUERIES):
        assert client.get(reverse("accounts:menu")).status_code == 200
    with django_assert_max_num_queries(MAX_QUERIES):
        assert client.get(reverse("monitoring:index")).status_code == 200
    assert DealerLink.objects.count() == 0
