"""Issue 12 §2: addresses are kept whole — 都道府県 + 市町村区 + それ以降の住所 — from the
postal look-up through the confirm page to every place that shows them (dealers' views,
alert mails, the warranty certificate), never doubled, and stored short ones repaired
where the postal code proves what is missing. The look-up racing the person's typing is
tests/core/test_browser_address.py."""

from __future__ import annotations

import importlib
import json

import pytest
from django.apps import apps
from django.urls import reverse
from django.utils import timezone

from essmon.accounts.models import User
from essmon.alerts import engine as alert_engine
from essmon.core.japanese import (
    InputError,
    compose_address,
    lookup_postal_code,
    without_repeated_area,
)
from essmon.dealers.models import DealerLink
from essmon.gateways.models import Gateway, Site
from essmon.notifications.models import OutboxMessage
from essmon.telemetry.models import GatewayLiveState
from tests import factories

WHOLE = "京都府京都市下京区東塩小路町1-1"
migration = importlib.import_module("essmon.gateways.migrations.0005_site_city_whole_addresses")


# --- composing --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prefecture", "city", "rest", "whole"),
    [
        ("京都府", "京都市下京区", "東塩小路町1-1", WHOLE),
        # typed whole into the last field, or a look-up and typing meeting there
        ("京都府", "京都市下京区", "京都市下京区東塩小路町1-1", WHOLE),
        ("京都府", "京都市下京区", "京都市下京区京都市下京区東塩小路町1-1", WHOLE),
        ("京都府", "京都市下京区", "京都府京都市下京区 東塩小路町1-1", WHOLE),
        # a site stored before it had a city: its rest is shown as it is
        ("京都府", "", "京都市下京区東塩小路町1-1", WHOLE),
        ("京都府", "", "東塩小路町1-1", "京都府東塩小路町1-1"),
        # a town that merely starts like the city is not cut
        ("茨城県", "猿島郡境町", "境町1-1", "茨城県猿島郡境町境町1-1"),
    ],
)
def test_compose_address(prefecture, city, rest, whole):
    assert compose_address(prefecture, city, rest) == whole


def test_without_repeated_area_keeps_what_follows():
    assert without_repeated_area("1-1", "京都府", "京都市下京区") == "1-1"
    assert without_repeated_area("京都市下京区", "京都府", "京都市下京区") == ""
    assert without_repeated_area("東塩小路町1-1", "京都府", "") == "東塩小路町1-1"


# --- the postal data --------------------------------------------------------------------


def test_lookup_gives_prefecture_city_and_town():
    found = lookup_postal_code("６００－８２１６")  # as typed with a Japanese IME
    assert (found.prefecture, found.city, found.town) == ("京都府", "京都市下京区", "東塩小路町")


def test_a_code_of_several_cities_or_towns_guesses_neither():
    several_cities = lookup_postal_code("004-0000")  # 札幌市厚別区 and 札幌市清田区
    assert several_cities.prefecture == "北海道"
    assert several_cities.city == "" and several_cities.town == ""
    assert set(several_cities.cities) == {"札幌市厚別区", "札幌市清田区"}
    no_town = lookup_postal_code("100-0000")  # 千代田区, no town for the code itself
    assert (no_town.city, no_town.town) == ("千代田区", "")


def test_an_unknown_code_is_an_input_error():
    with pytest.raises(InputError, match="該当する住所が見つかりません"):
        lookup_postal_code("000-0000")


# --- the look-up for JavaScript ---------------------------------------------------------


def lookup(client, code: str):
    response = client.get(reverse("accounts:postal_lookup"), {"code": code})
    return response.status_code, json.loads(response.content)


def test_postal_lookup_answers_the_whole_area(client):
    status, answer = lookup(client, "6008216")
    assert status == 200
    assert answer == {
        "postal_code": "600-8216",
        "prefecture": "京都府",
        "city": "京都市下京区",
        "town": "東塩小路町",
        "note_filled": "",
        "note_kept": "それ以降の住所は入力済みのため変えていません。"
        "この郵便番号の町域は「東塩小路町」です。",
    }


def test_postal_lookup_names_the_cities_of_a_shared_code(client):
    status, answer = lookup(client, "004-0000")
    assert status == 200 and answer["city"] == "" and answer["town"] == ""
    assert "複数の市町村区" in answer["note_filled"] and "札幌市清田区" in answer["note_filled"]


def test_postal_lookup_errors(client):
    assert lookup(client, "12-345") == (
        400,
        {"error": "郵便番号は7桁の数字で入力してください(例: 600-8216)。"},
    )
    assert lookup(client, "000-0000") == (
        404,
        {"error": "この郵便番号に該当する住所が見つかりません。"},
    )
    assert client.post(reverse("accounts:postal_lookup"), {"code": "6008216"}).status_code == 405


# --- 住所検索 without JavaScript --------------------------------------------------------


@pytest.fixture
def agreed(client):
    client.post(reverse("accounts:entry_terms"))
    return client


def no_js_lookup(client, target: str, **fields) -> str:
    data = {**factories.REGISTRATION_FORM, **fields, "lookup": target}
    return client.post(reverse("accounts:entry_form"), data).content.decode()


@pytest.mark.django_db
def test_site_lookup_without_javascript_fills_city_and_town(agreed):
    page = no_js_lookup(
        agreed,
        "site",
        site_postal_code="6008216",
        site_prefecture="",
        site_city="",
        site_address_rest="",
    )
    assert '<option value="京都府" selected>' in page
    assert 'name="site_city" value="京都市下京区"' in page
    assert 'name="site_address_rest" value="東塩小路町"' in page
    assert 'name="site_postal_code" value="600-8216"' in page
    assert not User.objects.exists()


@pytest.mark.django_db
def test_lookup_without_javascript_never_replaces_typed_rest(agreed):
    page = no_js_lookup(agreed, "site", site_city="", site_address_rest="1-1")
    assert 'name="site_city" value="京都市下京区"' in page
    assert 'name="site_address_rest" value="1-1"' in page  # neither replaced nor prefixed
    assert "この郵便番号の町域は「東塩小路町」です。" in page
    page = no_js_lookup(agreed, "user", city="", address_rest="京都市下京区東塩小路町1-1")
    assert 'name="city" value="京都市下京区"' in page
    assert 'name="address_rest" value="東塩小路町1-1"' in page  # the city not twice
    assert "町域は" not in page


@pytest.mark.django_db
def test_gateway_add_lookup_without_javascript_fills_the_site_city(client):
    owner = factories.customer()
    gw = factories.gateway()
    client.force_login(owner)
    client.post(
        reverse("accounts:gateway_add"),
        {"gateway_id": gw.gateway_id, "gateway_password": factories.GATEWAY_PASSWORD},
    )
    page = client.post(
        reverse("accounts:gateway_add_site"),
        {"site_name": "別荘", "site_postal_code": "1000001", "lookup": "site"},
    ).content.decode()
    assert 'name="site_city" value="千代田区"' in page
    assert 'name="site_address_rest" value="千代田"' in page


# --- the form keeps the whole address, once -----------------------------------------------


@pytest.mark.django_db
def test_registration_confirm_and_stored_site_are_whole(agreed, settings):
    gw = factories.gateway()
    data = {
        **factories.REGISTRATION_FORM,
        "gateway_id": gw.gateway_id,
        "address_rest": "京都市下京区京都市下京区東塩小路町1-1",  # doubled by a race
        "site_address_rest": "京都府京都市下京区東塩小路町2-2",
    }
    response = agreed.post(reverse("accounts:entry_form"), data)
    assert response.url == reverse("accounts:entry_confirm")
    page = agreed.get(reverse("accounts:entry_confirm")).content.decode()
    assert "〒600-8216<br>" + WHOLE in page
    assert "〒600-8216<br>京都府京都市下京区東塩小路町2-2" in page
    assert "京都市下京区京都市下京区" not in page
    agreed.post(reverse("accounts:entry_confirm"), {"register": "1"})
    site = Site.objects.get()
    assert (site.prefecture, site.city, site.address_rest) == (
        "京都府",
        "京都市下京区",
        "東塩小路町2-2",
    )
    user = User.objects.get()
    assert (user.city, user.address_rest, user.address) == ("京都市下京区", "東塩小路町1-1", WHOLE)


@pytest.mark.django_db
def test_a_rest_that_is_only_the_city_again_is_refused(agreed):
    gw = factories.gateway()
    data = {
        **factories.REGISTRATION_FORM,
        "gateway_id": gw.gateway_id,
        "site_address_rest": "京都市下京区",
    }
    page = agreed.post(reverse("accounts:entry_form"), data).content.decode()
    assert "それ以降の住所には、市町村区より後の町名・番地・建物名などを入力してください。" in page
    assert not Site.objects.exists()


@pytest.mark.django_db
def test_the_site_block_asks_for_the_city(agreed):
    page = agreed.get(reverse("accounts:entry_form")).content.decode()
    site_block = page.split("設置先 [案件]", 1)[1]
    assert '<label for="id_site_city">市町村区' in site_block
    assert 'data-postal-target="site"' in site_block and 'data-city="site_city"' in site_block
    assert "js/postal.js" in page


# --- every place that shows an address ------------------------------------------------


@pytest.fixture
def linked_world():
    """An owned gateway (its site stored whole) linked to a dealer."""
    gw = factories.connected_gateway()
    dealer = factories.dealer(email="boss@rakunan.example.jp", company="洛南電設")
    DealerLink.objects.create(gateway=gw, dealer=dealer, created_by=gw.owner)
    return gw, dealer


@pytest.mark.django_db
def test_dealers_views_show_the_whole_site_address(client, linked_world):
    gw, dealer = linked_world
    client.force_login(dealer.user)
    for name in ("dealers:gateways",):
        assert WHOLE in client.get(reverse(name)).content.decode(), name
    page = client.get(
        reverse("dealers:gateway_customer", kwargs={"gateway_id": gw.gateway_id})
    ).content.decode()
    assert f"御室邸(〒600-8216 {WHOLE})" in page  # 案件名・設置先住所
    assert f"〒600-8216 {WHOLE}" in page  # the customer's 住所


@pytest.mark.django_db
def test_customer_menu_and_fleet_search_use_the_whole_address(client, linked_world):
    gw, _ = linked_world
    client.force_login(gw.owner)
    assert WHOLE in client.get(reverse("accounts:menu")).content.decode()
    operator = User.objects.create_superuser("op@example.jp", "Solar2024Kyoto", name="運営")
    client.force_login(operator)
    found = client.get(reverse("monitoring:index"), {"q": "京都市下京区東塩小路町"})
    assert gw.gateway_id in found.content.decode()


@pytest.mark.django_db
def test_alert_mails_show_the_whole_site_address(linked_world, settings):
    gw, _ = linked_world
    settings.ALERT_OFFLINE_SECONDS = 900
    now = timezone.now()
    GatewayLiveState.objects.update_or_create(
        gateway=gw, defaults={"last_seen_at": now - timezone.timedelta(hours=1)}
    )
    alert_engine.evaluate_alerts(now=now)
    bodies = [m.body for m in OutboxMessage.objects.filter(kind="alert_opened")]
    assert len(bodies) == 2  # the owner and the dealer
    for body in bodies:
        assert f"設置先住所: 〒600-8216 {WHOLE}" in body


@pytest.mark.django_db
def test_the_warranty_certificate_shows_the_whole_site_address(monkeypatch):
    from datetime import date

    from essmon.warranty import certificate, selectors, services

    gw = factories.owned_gateway()
    Gateway.objects.filter(pk=gw.pk).update(claimed_at=timezone.now())
    gw.refresh_from_db()
    services.change_dates(
        gateway=gw,
        user=gw.owner,
        grid_connection_date=date(2024, 1, 10),
        received_date=date(2024, 1, 10),
    )
    texts: list[str] = []
    real = certificate.Paragraph

    def paragraph(text, *args, **kwargs):
        texts.append(text)
        return real(text, *args, **kwargs)

    monkeypatch.setattr(certificate, "Paragraph", paragraph)
    certificate.render_certificate(
        gw, selectors.state_of(gw), issued_at=timezone.now(), policy=selectors.current_policy()
    )
    assert f"御室邸<br/>〒600-8216 {WHOLE}" in texts


# --- addresses stored before this: repaired where the postal code proves it --------------


@pytest.mark.parametrize(
    ("stored", "repaired"),
    [
        # the short address of the issue: the rest begins with the code's town
        (("6008216", "京都府", "", "東塩小路町1-1"), ("京都市下京区", "東塩小路町1-1")),
        # the city typed (or looked up) into the rest: moved to its field
        (("6008216", "京都府", "", "京都市下京区東塩小路町1-1"), ("京都市下京区", "東塩小路町1-1")),
        (("6008216", "京都府", "", "京都市下京区京都市下京区1-1"), ("京都市下京区", "1-1")),
        (("6008216", "京都府", "", "京都府京都市下京区1-1"), ("京都市下京区", "1-1")),
        # an account with its city: only the doubled part goes
        (
            ("6008216", "京都府", "京都市下京区", "京都市下京区東塩小路町1-1"),
            ("京都市下京区", "東塩小路町1-1"),
        ),
    ],
)
def test_stored_addresses_repaired(stored, repaired):
    assert migration.repaired(*stored) == repaired


@pytest.mark.parametrize(
    "stored",
    [
        ("6008216", "京都府", "", "1-1"),  # nothing shows which city: left as it is
        ("6008216", "大阪府", "", "東塩小路町1-1"),  # the code is of another prefecture
        ("0040000", "北海道", "", "1-1"),  # the code spans two cities
        ("0000000", "京都府", "", "東塩小路町1-1"),  # unknown code
        ("6008216", "京都府", "京都市下京区", "東塩小路町1-1"),  # already whole
    ],
)
def test_stored_addresses_left_alone_when_the_city_cannot_be_told(stored):
    assert migration.repaired(*stored) is None


@pytest.mark.django_db
def test_the_migration_repairs_rows_and_goes_back(settings):
    owner = factories.customer(city="京都市下京区", address_rest="京都市下京区東塩小路町1-1")
    short = Site.objects.create(
        owner=owner,
        name="短い",
        postal_code="6008216",
        prefecture="京都府",
        address_rest="東塩小路町1-1",
    )
    unknown = Site.objects.create(
        owner=owner, name="不明", postal_code="6008216", prefecture="京都府", address_rest="1-1"
    )
    migration.repair(apps, None)
    short.refresh_from_db()
    unknown.refresh_from_db()
    owner.refresh_from_db()
    assert (short.city, short.address_rest, short.address) == (
        "京都市下京区",
        "東塩小路町1-1",
        WHOLE,
    )
    assert (unknown.city, unknown.address_rest) == ("", "1-1")
    assert owner.address_rest == "東塩小路町1-1" and owner.address == WHOLE
    migration.put_city_back(apps, None)
    short.refresh_from_db()
    assert (short.city, short.address_rest) == ("京都市下京区", "京都市下京区東塩小路町1-1")
