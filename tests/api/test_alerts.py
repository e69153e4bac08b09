"""The public API's alerts (docs/api.md, "Alerts"): a gateway's list and the fleet-wide
one, filtered and paginated; the dealers' acknowledgement with its rules, validation and
record, as on the 異常の履歴 tab."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from essmon.alerts.models import Alert
from essmon.dealers.models import DealerAccess
from essmon.dealers.services.links import link_dealer, unlink_dealer
from tests import factories
from tests.api_helpers import ApiClient, make_token, problem

pytestmark = pytest.mark.django_db


def alert(gateway, *, kind="offline", code="", closed=False, minutes_ago=10):
    since = timezone.now() - timedelta(minutes=minutes_ago)
    return Alert.objects.create(
        gateway=gateway,
        kind=kind,
        code=code,
        severity="major",
        title="ゲートウェイからの通信が途絶えています",
        since=since,
        closed_at=since + timedelta(minutes=5) if closed else None,
    )


@pytest.fixture
def linked():
    gw = factories.owned_gateway()
    dealer = factories.dealer()
    link_dealer(customer=gw.owner, gateway=gw, dealer=dealer)
    return gw, dealer


def items(response):
    assert response.status_code == 200, response.content[:300]
    return json.loads(response.content)


def test_a_gateways_alerts_filtered_newest_first(linked):
    gw, _ = linked
    old = alert(gw, kind="fault", code="E1", closed=True, minutes_ago=60)
    new = alert(gw)
    api = ApiClient(make_token(gw.owner))
    path = f"/gateways/{gw.gateway_id}/alerts"
    assert [a["id"] for a in items(api.get(path))["items"]] == [new.pk, old.pk]
    assert [a["id"] for a in items(api.get(path, state="open"))["items"]] == [new.pk]
    closed = items(api.get(path, state="closed"))["items"]
    assert [a["id"] for a in closed] == [old.pk] and closed[0]["state"] == "closed"
    problem(api.get(path, state="shut"), 422)


def test_the_fleet_list_pages_over_every_linked_gateway_and_forgets_an_unlinked_one(linked):
    gw, dealer = linked
    others = [factories.owned_gateway() for _ in range(2)]
    for other in others:
        link_dealer(customer=other.owner, gateway=other, dealer=dealer)
    made = [alert(g, kind=kind) for g in (gw, *others) for kind in ("offline", "soc_stuck")]
    alert(gw, kind="fault", code="E9", closed=True)
    stranger = alert(factories.owned_gateway())
    api = ApiClient(make_token(dealer.user))
    seen, cursor = [], None
    while True:
        data = items(api.get("/alerts", limit="4", **({"cursor": cursor} if cursor else {})))
        seen += [a["id"] for a in data["items"]]
        cursor = data["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted((a.pk for a in made), reverse=True)
    assert stranger.pk not in seen
    # every gateway on the pages is on record for its owner, as the tab's view
    assert DealerAccess.objects.filter(action=DealerAccess.Action.VIEW_ALERTS).count() == 3
    assert len(items(api.get("/alerts", state="all"))["items"]) == 7
    unlink_dealer(customer=others[0].owner, gateway=others[0], dealer=dealer)
    assert len(items(api.get("/alerts"))["items"]) == 4
    problem(api.get(f"/gateways/{others[0].gateway_id}/alerts"), 404)
    # the owner's list holds its own gateway's only
    mine = items(ApiClient(make_token(gw.owner)).get("/alerts", state="all"))["items"]
    assert {a["gateway_id"] for a in mine} == {gw.gateway_id} and len(mine) == 3


def test_a_dealer_acknowledges_with_a_comment_once(linked):
    gw, dealer = linked
    open_ = alert(gw)
    api = ApiClient(make_token(dealer.user))
    path = f"/gateways/{gw.gateway_id}/alerts/{open_.pk}/acknowledge"
    data = items(api.post(path, {"comment": "明日の午前に伺います"}))
    assert data["acknowledged_at"] and data["ack_comment"] == "明日の午前に伺います"
    assert dealer.company_name in data["acknowledged_by"]
    record = DealerAccess.objects.get(gateway=gw, action=DealerAccess.Action.ACKNOWLEDGE_ALERT)
    assert "明日の午前に伺います" in record.detail
    body = problem(api.post(path, {"comment": "again"}), 409)
    assert body["type"].endswith("conflict")
    assert DealerAccess.objects.filter(action=DealerAccess.Action.ACKNOWLEDGE_ALERT).count() == 1


def test_acknowledging_is_not_the_owners_nor_a_read_tokens(linked):
    gw, dealer = linked
    open_ = alert(gw)
    path = f"/gateways/{gw.gateway_id}/alerts/{open_.pk}/acknowledge"
    # the owner may never acknowledge: no such gateway for it, as on the tab
    problem(ApiClient(make_token(gw.owner)).post(path, {"comment": ""}), 404)
    # the dealer may, but this token was made to read
    reader = ApiClient(make_token(dealer.user, scopes=["read"]))
    assert problem(reader.post(path, {"comment": ""}), 403)["type"].endswith("insufficient-scope")
    staff = factories.dealer_staff(dealer=dealer, role="viewer", email="look@example.jp")
    problem(ApiClient(make_token(staff)).post(path, {"comment": ""}), 404)
    # another gateway's alert, or none
    other = alert(factories.owned_gateway())
    api = ApiClient(make_token(dealer.user))
    problem(
        api.post(f"/gateways/{gw.gateway_id}/alerts/{other.pk}/acknowledge", {"comment": ""}), 404
    )
    problem(api.post(f"/gateways/{gw.gateway_id}/alerts/{2**63}/acknowledge", {"comment": ""}), 404)
    open_.refresh_from_db()
    assert open_.acknowledged_at is None


@pytest.mark.parametrize(
    "body",
    [
        {"comment": "x" * 501},
        {"comment": "止\x00め"},
        {"comment": 5},
        {"comment": None},
        {},
        [],
        ["x"],
        "text",
    ],
)
def test_bad_comments_are_422_naming_the_field(linked, body):
    gw, dealer = linked
    open_ = alert(gw)
    api = ApiClient(make_token(dealer.user))
    response = api.post(f"/gateways/{gw.gateway_id}/alerts/{open_.pk}/acknowledge", body)
    found = problem(response, 422)
    assert any(e["location"].startswith("body") for e in found["errors"]), found
    open_.refresh_from_db()
    assert open_.acknowledged_at is None


def test_a_new_owner_sees_the_alerts_open_in_their_time():
    from essmon.transfers.services import claim_transfer, start_transfer, terms_in_force

    seller = factories.customer(email="seller@example.jp")
    gw = factories.owned_gateway(owner=seller)
    before = alert(gw, kind="fault", code="E1", closed=True, minutes_ago=60)
    carried = alert(gw)
    buyer = factories.customer(email="buyer@example.jp")
    started = start_transfer(site=gw.site, actor=seller)
    claim_transfer(buyer=buyer, code=started.code, terms=terms_in_force(), client_address=None)
    api = ApiClient(make_token(buyer))
    for path in (f"/gateways/{gw.gateway_id}/alerts", "/alerts"):
        assert [a["id"] for a in items(api.get(path, state="all"))["items"]] == [carried.pk]
    assert before.pk not in [a["id"] for a in items(api.get("/alerts", state="closed"))["items"]]
