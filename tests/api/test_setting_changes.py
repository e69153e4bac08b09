"""The public API's setting changes (docs/api.md, "Setting changes"): the settings
form's checks with per-setting problems, the page's service, log and dealer record, the
lifecycle of one change, Idempotency-Key, and the access rules."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from essmon.api.models import IdempotentRequest
from essmon.commands.models import Command
from essmon.commands.services import expire_commands, hand_out, record_results
from essmon.dealers.models import DealerAccess
from essmon.dealers.services.links import link_dealer, unlink_dealer
from tests import factories
from tests.api_helpers import ApiClient, make_token, problem

pytestmark = pytest.mark.django_db


@pytest.fixture
def gw():
    made = factories.gateway(state="claimed", model="KP-GWBT-A")
    owner = factories.customer()
    made.owner, made.site = owner, factories.site(owner=owner)
    made.provisioned_at = timezone.now() - timedelta(days=30)
    made.save()
    return made


def path(gw, rest=""):
    return f"/gateways/{gw.gateway_id}/setting-changes{rest}"


def made(response, status=201):
    assert response.status_code == status, response.content[:500]
    return json.loads(response.content)


def test_an_owner_changes_settings_and_follows_them_to_the_end(gw):
    api = ApiClient(make_token(gw.owner))
    data = made(
        api.post(path(gw), {"values": {"mode": "green", "charge_window": ["23:00", "07:00"]}})
    )
    assert data["replayed"] is False
    assert {c["setting"]: c["value"] for c in data["items"]} == {
        "mode": "green",
        "charge_window": ["23:00", "07:00"],
    }
    assert all(c["status"] == "pending" for c in data["items"])
    mode = next(c for c in data["items"] if c["setting"] == "mode")
    one = path(gw, f"/{mode['id']}")
    first = api.get(one)
    assert json.loads(first.content)["status"] == "pending"
    assert api.get(one, headers={"If-None-Match": first["ETag"]}).status_code == 304
    hand_out(gw)
    sent = api.get(one, headers={"If-None-Match": first["ETag"]})
    assert sent.status_code == 200 and json.loads(sent.content)["status"] == "sent"
    record_results(
        gateway=gw,
        results=[{"command_id": mode["id"], "status": "applied", "ts": timezone.now().isoformat()}],
    )
    applied = json.loads(api.get(one).content)
    assert applied["status"] == "applied" and applied["processed_at"]
    # the log, newest first, with the customer's name as the audit log shows it
    log = made(api.get(path(gw)), 200)["items"]
    assert [c["id"] for c in log] == sorted((c["id"] for c in data["items"]), reverse=True)
    assert log[0]["requested_by"].startswith("お客様")


def test_a_newer_change_supersedes_and_an_old_one_expires(gw):
    api = ApiClient(make_token(gw.owner))
    first = made(api.post(path(gw), {"values": {"reserve_soc_pct": 30}}))["items"][0]
    made(api.post(path(gw), {"values": {"reserve_soc_pct": 40}}))
    assert made(api.get(path(gw, f"/{first['id']}")), 200)["status"] == "superseded"
    later = made(api.post(path(gw), {"values": {"export_limit_w": 100}}))["items"][0]
    expire_commands(now=timezone.now() + timedelta(days=30))
    assert made(api.get(path(gw, f"/{later['id']}")), 200)["status"] == "expired"


@pytest.mark.parametrize(
    ("values", "location"),
    [
        ({"reserve_soc_pct": 35}, "body.values.reserve_soc_pct"),  # 10 % steps on this model
        ({"reserve_soc_pct": 101}, "body.values.reserve_soc_pct"),
        ({"export_limit_w": 6000}, "body.values.export_limit_w"),
        ({"charge_window": ["25:00", "07:00"]}, "body.values.charge_window"),
        ({"charge_window": ["07:00", "07:00"]}, "body.values.charge_window"),
        ({"charge_window": ["07:00"]}, "body.values.charge_window"),
        ({"mode": "turbo"}, "body.values.mode"),
        ({"reserve_soc_pct": 30.5}, "body.values.reserve_soc_pct"),
        ({"reserve_soc_pct": "30"}, "body.values.reserve_soc_pct"),
        ({"reserve_soc_pct": True}, "body.values.reserve_soc_pct"),
        ({"volume": 11}, "body.values.volume"),
        ({}, "body.values"),
    ],
)
def test_invalid_values_are_422_naming_each_setting(gw, values, location):
    api = ApiClient(make_token(gw.owner))
    body = problem(api.post(path(gw), {"values": values}), 422)
    assert location in [e["location"] for e in body["errors"]], body
    assert not Command.objects.filter(gateway=gw).exists()


def test_a_value_already_on_its_way_is_no_change(gw):
    api = ApiClient(make_token(gw.owner))
    made(api.post(path(gw), {"values": {"mode": "green"}}))
    body = problem(api.post(path(gw), {"values": {"mode": "green"}}), 422)
    assert body["errors"][0]["location"] == "body.values"
    both = made(api.post(path(gw), {"values": {"mode": "green", "reserve_soc_pct": 20}}))
    assert [c["setting"] for c in both["items"]] == ["reserve_soc_pct"]


def test_the_idempotency_key_makes_a_retry_harmless(gw):
    api = ApiClient(make_token(gw.owner))
    key = {"Idempotency-Key": "retry-7f3a"}
    first = made(api.post(path(gw), {"values": {"export_limit_w": 500}}, headers=key))
    again = made(api.post(path(gw), {"values": {"export_limit_w": 500}}, headers=key), 200)
    assert again["replayed"] is True and again["items"] == first["items"]
    assert Command.objects.filter(gateway=gw).count() == 1
    # the same key with another request is the client's mistake
    body = problem(api.post(path(gw), {"values": {"export_limit_w": 600}}, headers=key), 422)
    assert body["errors"][0]["location"] == "header.Idempotency-Key"
    # another person's key of the same name is theirs
    dealer = factories.dealer()
    link_dealer(customer=gw.owner, gateway=gw, dealer=dealer)
    theirs = ApiClient(make_token(dealer.user))
    made(theirs.post(path(gw), {"values": {"export_limit_w": 700}}, headers=key))
    assert IdempotentRequest.objects.count() == 2
    # kept a day: an old key is forgotten when the next keyed request comes
    IdempotentRequest.objects.update(created_at=timezone.now() - timedelta(hours=25))
    made(api.post(path(gw), {"values": {"export_limit_w": 800}}, headers={"Idempotency-Key": "n"}))
    assert list(IdempotentRequest.objects.values_list("key", flat=True)) == ["n"]


@pytest.mark.parametrize("key", ["", " ", "x" * 256, "キー", "a\tb"])
def test_bad_idempotency_keys_are_422(gw, key):
    api = ApiClient(make_token(gw.owner))
    response = api.post(path(gw), {"values": {"mode": "green"}}, headers={"Idempotency-Key": key})
    assert problem(response, 422)["errors"][0]["location"] == "header.Idempotency-Key"
    assert not Command.objects.exists()


def test_a_dealers_change_is_recorded_and_ends_with_the_link(gw):
    dealer = factories.dealer()
    link_dealer(customer=gw.owner, gateway=gw, dealer=dealer)
    api = ApiClient(make_token(dealer.user))
    made(api.post(path(gw), {"values": {"reserve_soc_pct": 50}}))
    record = DealerAccess.objects.get(gateway=gw, action=DealerAccess.Action.CHANGE_SETTINGS)
    assert "停電時用の蓄電残量" in record.detail and "50%" in record.detail
    made(api.get(path(gw)), 200)
    assert DealerAccess.objects.get(action=DealerAccess.Action.VIEW_SETTINGS).detail == "公開API"
    unlink_dealer(customer=gw.owner, gateway=gw, dealer=dealer)
    problem(api.post(path(gw), {"values": {"reserve_soc_pct": 60}}), 404)
    problem(api.get(path(gw)), 404)


def test_who_may_not_change(gw):
    dealer = factories.dealer()
    link_dealer(customer=gw.owner, gateway=gw, dealer=dealer)
    look = factories.dealer_staff(dealer=dealer, role="viewer", email="look@example.jp")
    body = {"values": {"mode": "green"}}
    problem(ApiClient(make_token(look)).post(path(gw), body), 404)
    reader = ApiClient(make_token(gw.owner, scopes=["read"]))
    assert problem(reader.post(path(gw), body), 403)["type"].endswith("insufficient-scope")
    problem(ApiClient(make_token(factories.customer())).post(path(gw), body), 404)
    assert not Command.objects.exists()
    problem(ApiClient(make_token(gw.owner)).get(path(gw, f"/{2**63}")), 404)


def test_the_log_pages_and_a_new_owner_sees_their_time_only(gw):
    from essmon.transfers.services import claim_transfer, start_transfer, terms_in_force

    api = ApiClient(make_token(gw.owner))
    for limit in range(0, 100, 10):
        made(api.post(path(gw), {"values": {"export_limit_w": limit}}))
    seen, cursor = [], None
    while True:
        data = made(api.get(path(gw), limit="3", **({"cursor": cursor} if cursor else {})), 200)
        seen += [c["id"] for c in data["items"]]
        cursor = data["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 10 == len(set(seen)) and seen == sorted(seen, reverse=True)
    buyer = factories.customer(email="buyer@example.jp")
    started = start_transfer(site=gw.site, actor=gw.owner)
    claim_transfer(buyer=buyer, code=started.code, terms=terms_in_force(), client_address=None)
    theirs = ApiClient(make_token(buyer))
    assert made(theirs.get(path(gw)), 200)["items"] == []
    problem(theirs.get(path(gw, f"/{seen[0]}")), 404)
