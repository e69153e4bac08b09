"""Access tokens on their pages, and the first resources with the access rules of the
pages: a dealer's token sees only what is entrusted at the moment of the request."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from essmon.api.models import AccessToken
from essmon.dealers.models import DealerAccess, MaintenanceStaff
from essmon.dealers.services.links import link_dealer, unlink_dealer
from essmon.dealers.services.staff_logins import end_staff_login
from tests import factories
from tests.api_helpers import ApiClient, make_token, problem, reporting

pytestmark = pytest.mark.django_db

CUSTOMER_PAGE = "/menu/api/tokens/"
DEALER_PAGE = "/dealer/api/tokens/"


def _make(client, page, **data):
    import secrets

    once = secrets.token_urlsafe(8)
    return client.post(page, {"name": "家計簿", "scopes": ["read"], "once": once, **data})


# --- the pages ---------------------------------------------------------------------------


def test_a_customer_makes_a_token_shown_once(client):
    owner = factories.customer()
    client.force_login(owner)
    assert "アクセストークン" in client.get("/menu/").content.decode()
    response = _make(client, CUSTOMER_PAGE, scopes=["read", "settings"])
    assert response.status_code == 200
    body = response.content.decode()
    token = AccessToken.objects.get(user=owner)
    secret = body.split('id="new-token" class="token-value" type="text" value="')[1].split('"')[0]
    assert secret.startswith("essmon_pat_") and len(secret) > 40
    assert sorted(token.scopes) == ["read", "settings"]
    # in no session, and never shown again
    from django.contrib.sessions.models import Session

    assert all(secret not in str(s.get_decoded()) for s in Session.objects.all())
    listed = client.get(CUSTOMER_PAGE).content.decode()
    assert secret not in listed and token.prefix in listed and "未使用" in listed
    assert ApiClient(secret).get("/sites").status_code == 200
    assert "未使用" not in client.get(CUSTOMER_PAGE).content.decode()


def test_a_deleted_token_answers_401_at_once(client):
    owner = factories.customer()
    secret = make_token(owner)
    token = AccessToken.objects.get(user=owner)
    other = factories.customer(email="other@example.jp")
    client.force_login(other)
    assert client.post(f"{CUSTOMER_PAGE}{token.pk}/delete/").status_code == 404
    assert ApiClient(secret).get("/sites").status_code == 200
    client.force_login(owner)
    response = client.post(f"{CUSTOMER_PAGE}{token.pk}/delete/")
    assert response.status_code == 302
    problem(ApiClient(secret).get("/sites"), 401)
    assert "家計簿" not in client.get(CUSTOMER_PAGE).content.decode()


@pytest.mark.parametrize(
    "data, message",
    [
        ({"name": ""}, "名前"),
        ({"scopes": []}, "権限を1つ以上"),
        ({"scopes": ["alerts"]}, "権限"),  # a customer does not acknowledge alerts
        ({"expires_on": "2001-01-01"}, "明日以降"),
        ({"expires_on": "9999-12-31"}, "5年以内"),
        ({"expires_on": "あした"}, "有効期限"),
        ({"name": "x" * 101}, "名前"),
        ({"name": "ab\x00c"}, "名前"),
    ],
)
def test_the_form_refuses_bad_input_in_japanese(client, data, message):
    owner = factories.customer()
    client.force_login(owner)
    response = _make(client, CUSTOMER_PAGE, **data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not AccessToken.objects.filter(user=owner).exists()


def test_an_expiry_date_lasts_to_the_end_of_that_day(client):
    owner = factories.customer()
    client.force_login(owner)
    tomorrow = (timezone.localdate() + timedelta(days=2)).isoformat()
    assert _make(client, CUSTOMER_PAGE, expires_on=tomorrow).status_code == 200
    token = AccessToken.objects.get(user=owner)
    assert token.expires_at is not None
    assert timezone.localtime(token.expires_at).hour == 0


def test_token_creation_is_limited(client, settings):
    settings.API_TOKENS_PER_USER_PER_DAY = 2
    owner = factories.customer()
    client.force_login(owner)
    for _ in range(2):
        assert _make(client, CUSTOMER_PAGE).status_code == 200
    response = _make(client, CUSTOMER_PAGE)
    assert response.status_code == 400
    assert "発行が多すぎる" in response.content.decode()
    assert AccessToken.objects.filter(user=owner).count() == 2


def test_dealers_and_their_staff_make_their_own_tokens(client):
    dealer = factories.dealer()
    technician = factories.dealer_staff(dealer=dealer, role="technician", email="t@example.jp")
    looker = factories.dealer_staff(dealer=dealer, role="viewer", email="l@example.jp")
    client.force_login(dealer.user)
    assert "アクセストークン" in client.get("/dealer/").content.decode()
    assert _make(client, DEALER_PAGE, scopes=["read", "settings", "alerts"]).status_code == 200
    client.force_login(technician)
    assert _make(client, DEALER_PAGE, scopes=["read", "alerts"]).status_code == 200
    client.force_login(looker)
    page = client.get(DEALER_PAGE).content.decode()
    assert 'value="settings"' not in page and 'value="alerts"' not in page
    assert _make(client, DEALER_PAGE, scopes=["settings"]).status_code == 400
    assert _make(client, DEALER_PAGE).status_code == 200
    scopes = {t.user_id: sorted(t.scopes) for t in AccessToken.objects.all()}
    assert scopes == {
        dealer.user.pk: ["alerts", "read", "settings"],
        technician.pk: ["alerts", "read"],
        looker.pk: ["read"],
    }
    # each sees only their own
    assert "家計簿" in client.get(DEALER_PAGE).content.decode()
    assert AccessToken.objects.filter(user=looker).count() == 1


def test_viewers_and_operators_get_no_token_page(client):
    owner = factories.customer()
    gateway = factories.owned_gateway(owner=owner)
    viewer = factories.viewer(owner=owner, gateway=gateway)
    client.force_login(viewer)
    assert client.get(CUSTOMER_PAGE).status_code == 404
    assert client.get(DEALER_PAGE).status_code == 404
    client.force_login(factories.admin_operator())
    assert client.get(CUSTOMER_PAGE).status_code == 302
    assert client.get(DEALER_PAGE).status_code == 404


# --- the resources -----------------------------------------------------------------------


@pytest.fixture
def fleet():
    owner = factories.customer(email="fleet-owner@example.jp")
    gateways = [factories.owned_gateway(owner=owner, site_name=f"案件{i}") for i in range(3)]
    reporting(gateways[0])
    dealer = factories.dealer()
    for gateway in gateways[:2]:
        link_dealer(customer=owner, gateway=gateway, dealer=dealer)
    return owner, gateways, dealer


def _ids(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [item["gateway_id"] for item in json.loads(response.content)["items"]]


def test_a_dealer_token_sees_what_is_entrusted_at_each_request(fleet):
    owner, gateways, dealer = fleet
    api = ApiClient(make_token(dealer.user))
    assert _ids(api.get("/gateways")) == sorted(g.gateway_id for g in gateways[:2])
    problem(api.get(f"/gateways/{gateways[2].gateway_id}"), 404)
    unlink_dealer(customer=owner, gateway=gateways[0], dealer=dealer)
    assert _ids(api.get("/gateways")) == [gateways[1].gateway_id]
    for suffix in ("", "/live", "/warranty"):
        problem(api.get(f"/gateways/{gateways[0].gateway_id}{suffix}"), 404)
    sites = json.loads(api.get("/sites").content)["items"]
    assert [g["gateway_id"] for site in sites for g in site["gateways"]] == [gateways[1].gateway_id]
    assert "fleet-owner@example.jp" not in api.get("/sites").content.decode()


def test_a_staff_login_ended_stops_its_token(fleet):
    _, gateways, dealer = fleet
    technician = factories.dealer_staff(dealer=dealer, role="technician", email="t@example.jp")
    api = ApiClient(make_token(technician))
    assert api.get(f"/gateways/{gateways[0].gateway_id}").status_code == 200
    staff = MaintenanceStaff.objects.get(user=technician)
    end_staff_login(dealer=dealer, staff_id=staff.pk)
    problem(api.get(f"/gateways/{gateways[0].gateway_id}"), 401)


def test_a_dealer_view_is_recorded_for_the_owner(fleet):
    owner, gateways, dealer = fleet
    api = ApiClient(make_token(dealer.user))
    api.get(f"/gateways/{gateways[0].gateway_id}/live")
    api.get(f"/gateways/{gateways[0].gateway_id}/warranty")
    recorded = set(
        DealerAccess.objects.filter(gateway=gateways[0], dealer=dealer).values_list(
            "action", "detail"
        )
    )
    assert recorded == {
        (DealerAccess.Action.VIEW_LIVE, "公開API"),
        (DealerAccess.Action.VIEW_WARRANTY, "公開API"),
    }
    ApiClient(make_token(owner)).get(f"/gateways/{gateways[0].gateway_id}/live")
    assert DealerAccess.objects.count() == 2  # an owner's own view is not a dealer's


def test_the_list_pages_through_every_gateway_once(fleet):
    owner, gateways, _ = fleet
    api = ApiClient(make_token(owner))
    seen, cursor, pages = [], None, 0
    while True:
        response = api.get("/gateways", limit="2", **({"cursor": cursor} if cursor else {}))
        body = json.loads(response.content)
        seen += [item["gateway_id"] for item in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(g.gateway_id for g in gateways) and pages == 2
    # a cursor of one list is refused by another
    first = json.loads(api.get("/gateways", limit="1").content)["next_cursor"]
    problem(api.get("/gateways", state="online", cursor=first), 400)
    problem(api.get("/sites", cursor=first), 400)


def test_state_filter_and_live_values(fleet):
    owner, gateways, _ = fleet
    api = ApiClient(make_token(owner))
    assert _ids(api.get("/gateways", state="online")) == [gateways[0].gateway_id]
    assert _ids(api.get("/gateways", state="never")) == sorted(g.gateway_id for g in gateways[1:])
    detail = json.loads(api.get(f"/gateways/{gateways[0].gateway_id}").content)
    assert detail["state"] == "online" and detail["last_seen_at"]
    live = json.loads(api.get(f"/gateways/{gateways[0].gateway_id}/live").content)
    assert live["values"]["soc_pct"] == factories.sample(1)["soc_pct"]
    assert {flow["target"] for flow in live["flows"]} <= {"pcs", "home", "battery", "grid"}
    waiting = json.loads(api.get(f"/gateways/{gateways[1].gateway_id}/live").content)
    assert waiting["waiting"] is True and waiting["values"] is None


def test_etags_answer_304_while_nothing_changed(fleet):
    owner, gateways, _ = fleet
    api = ApiClient(make_token(owner))
    path = f"/gateways/{gateways[1].gateway_id}/warranty"
    first = api.get(path)
    tag = first["ETag"]
    again = api.get(path, headers={"If-None-Match": tag})
    assert again.status_code == 304 and again.content == b"" and again["ETag"] == tag
    assert api.get(path, headers={"If-None-Match": '"other"'}).status_code == 200
    assert api.get(path, headers={"If-None-Match": f'W/{tag}, "x"'}).status_code == 304


def test_after_a_transfer_the_new_owner_sees_from_its_own_time(fleet):
    from essmon.transfers.services import claim_transfer, start_transfer, terms_in_force

    seller, gateways, _ = fleet
    buyer = factories.customer(email="buyer@example.jp")
    started = start_transfer(site=gateways[0].site, actor=seller)
    claim_transfer(buyer=buyer, code=started.code, terms=terms_in_force(), client_address=None)
    problem(ApiClient(make_token(seller)).get(f"/gateways/{gateways[0].gateway_id}"), 404)
    live = json.loads(
        ApiClient(make_token(buyer)).get(f"/gateways/{gateways[0].gateway_id}/live").content
    )
    # the sample before the claim is the seller's: the buyer's live view leaves it out
    assert live["values"] is None and live["sample_at"] is None


def test_an_operator_can_revoke_a_leaked_token_in_the_admin(client):
    owner = factories.customer()
    secret = make_token(owner)
    token = AccessToken.objects.get(user=owner)
    client.force_login(factories.admin_operator())
    listed = client.get("/admin/api/accesstoken/")
    assert listed.status_code == 200 and token.prefix in listed.content.decode()
    assert token.digest not in listed.content.decode()
    client.post(
        "/admin/api/accesstoken/",
        {"action": "revoke", "_selected_action": [token.pk]},
    )
    problem(ApiClient(secret).get("/sites"), 401)


def test_a_withdrawal_ends_the_tokens(fleet):
    from essmon.privacy.services import withdraw_customer

    owner, gateways, dealer = fleet
    owners, dealers = ApiClient(make_token(owner)), ApiClient(make_token(dealer.user))
    assert dealers.get(f"/gateways/{gateways[0].gateway_id}").status_code == 200
    withdraw_customer(user=owner)
    problem(owners.get("/sites"), 401)
    # the dealer's links ended with it: the gateway is no longer there for its token
    problem(dealers.get(f"/gateways/{gateways[0].gateway_id}"), 404)
    assert not AccessToken.objects.filter(user_id=owner.pk).exists()


def test_open_alerts_are_counted_and_filtered(fleet):
    from essmon.alerts.models import Alert

    owner, gateways, _ = fleet
    Alert.objects.create(
        gateway=gateways[1],
        kind="offline",
        severity="major",
        title="通信途絶",
        since=timezone.now(),
    )
    api = ApiClient(make_token(owner))
    assert (
        json.loads(api.get(f"/gateways/{gateways[1].gateway_id}").content)["open_alert_count"] == 1
    )
    assert (
        json.loads(api.get(f"/gateways/{gateways[0].gateway_id}").content)["open_alert_count"] == 0
    )
    assert _ids(api.get("/gateways", state="alerts")) == [gateways[1].gateway_id]
