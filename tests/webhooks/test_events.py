"""Which events each path records, for whom (the deliveries written with them), and what
stays cheap: every path that ends a link, the warranty warning, a rejected setting, a
closed alert, the MQTT last will; the ingest of a gateway that keeps talking records
nothing. The endpoint pages' limits, the requeue job and the log's purge."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from essmon.accounts.models import User
from essmon.alerts import engine
from essmon.commands.services import hand_out, record_results, request_setting_change
from essmon.dealers.services.links import link_dealer
from essmon.privacy.services import withdraw_customer
from essmon.telemetry.connectivity import connection_lost, record_contacts
from essmon.transfers.services import claim_transfer, start_transfer, terms_in_force
from essmon.warranty import services as warranty
from essmon.webhooks import events
from essmon.webhooks.models import Attempt, Delivery, Endpoint, Event
from essmon.webhooks.services import (
    MAX_ENDPOINTS,
    TESTS_PER_HOUR,
    Holder,
    purge_deliveries,
    requeue_due_deliveries,
    seal_secret,
)
from tests import factories
from tests.warranty.test_warranty import silent_world, world  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db


def endpoint(types=None, **holder) -> Endpoint:
    return Endpoint.objects.create(
        url="https://hooks.example.com/in",
        event_types=types or list(events.EVENT_TYPES),
        secret_sealed=seal_secret("whsec_dGVzdA=="),
        **holder,
    )


def told() -> list[tuple[str, str]]:
    """(type, holder) per delivery written, in order."""
    rows = Delivery.objects.select_related("event", "endpoint").order_by("pk")
    return [
        (d.event.type, f"dealer:{d.endpoint.dealer_id}" if d.endpoint.dealer_id else "owner")
        for d in rows
    ]


@pytest.fixture
def linked():
    gw = factories.connected_gateway()
    dealer = factories.dealer()
    link_dealer(customer=gw.owner, gateway=gw, dealer=dealer)
    return gw, dealer


def test_a_transfer_tells_the_seller_and_the_dealer_never_the_buyer(linked):
    gw, dealer = linked
    seller = gw.owner
    buyer = factories.customer()
    endpoint(owner=seller)
    endpoint(owner=buyer)
    endpoint(dealer=dealer)
    started = start_transfer(site=gw.site, actor=seller)
    claim_transfer(buyer=buyer, code=started.code, terms=terms_in_force(), client_address=None)
    assert told() == [("link.ended", "owner"), ("link.ended", f"dealer:{dealer.pk}")]
    assert Delivery.objects.filter(endpoint__owner=buyer).count() == 0
    assert Delivery.objects.filter(endpoint__owner=seller).count() == 1
    assert Event.objects.get().payload["data"]["reason"] == "transfer"


def test_withdrawal_tells_the_dealer_and_takes_the_owners_endpoints_with_it(linked):
    gw, dealer = linked
    endpoint(owner=gw.owner)
    endpoint(dealer=dealer)
    withdraw_customer(user=User.objects.get(pk=gw.owner_id))
    event = Event.objects.get()
    assert event.type == "link.ended" and event.payload["data"]["reason"] == "withdrawal"
    # the owner's endpoint went with the account; the dealer's delivery stays
    assert not Endpoint.objects.filter(owner__isnull=False).exists()
    assert told() == [("link.ended", f"dealer:{dealer.pk}")]


def test_an_unlinked_dealer_hears_nothing_more(linked):
    from essmon.dealers.services.links import unlink_dealer

    gw, dealer = linked
    endpoint(dealer=dealer)
    unlink_dealer(customer=gw.owner, gateway=gw, dealer=dealer)
    engine.open_alert(
        gateway=gw, kind="fault", code="E9", since=timezone.now(), severity="minor", title="x"
    )
    assert told() == [("link.ended", f"dealer:{dealer.pk}")]


def test_a_disabled_endpoint_or_an_unchosen_type_records_nothing(linked):
    gw, dealer = linked
    endpoint(owner=gw.owner, types=["alert.closed"])
    off = endpoint(dealer=dealer)
    Endpoint.objects.filter(pk=off.pk).update(enabled=False)
    engine.open_alert(
        gateway=gw, kind="fault", code="E9", since=timezone.now(), severity="minor", title="x"
    )
    assert not Event.objects.exists()


def test_a_closed_alert_and_a_rejected_setting(linked):
    gw, dealer = linked
    endpoint(dealer=dealer, types=["alert.opened", "alert.closed", "setting.rejected"])
    now = timezone.now()
    alert = engine.open_alert(
        gateway=gw, kind="fault", code="E2", since=now, severity="minor", title="x"
    )
    assert alert is not None
    later = now + timedelta(hours=1)
    assert engine.settle(alert, present=False, gone_since=now, now=later)
    command = request_setting_change(
        gateway=gw, setting="reserve_soc_pct", value=30, requested_by=gw.owner
    )
    hand_out(gw)
    result = {
        "command_id": command.pk,
        "status": "rejected",
        "reason": "運転中のため",
        "ts": timezone.now().isoformat(),
    }
    record_results(gateway=gw, results=[result])
    record_results(gateway=gw, results=[result])  # a resend is a duplicate: no second event
    assert [t for t, _ in told()] == ["alert.opened", "alert.closed", "setting.rejected"]
    rejected = Event.objects.get(type="setting.rejected").payload["data"]
    assert rejected["reason"] == "運転中のため" and rejected["value"] == 30
    closed = Event.objects.get(type="alert.closed").payload["data"]["alert"]
    assert closed["closed_at"] is not None


def test_the_mqtt_last_will_tells_offline(linked):
    gw, dealer = linked
    endpoint(dealer=dealer, types=["gateway.offline"])
    record_contacts([gw.pk], now=timezone.now())
    assert connection_lost(gateway=gw)
    assert told() == [("gateway.offline", f"dealer:{dealer.pk}")]


def test_a_gateway_that_keeps_talking_records_nothing_and_costs_no_query_more(linked):
    gw, _ = linked
    endpoint(owner=gw.owner)
    now = timezone.now()
    record_contacts([gw.pk], now=now)
    assert told() == [("gateway.online", "owner")]
    with CaptureQueriesContext(connection) as queries:
        record_contacts([gw.pk], now=now + timedelta(seconds=10))
    assert len(told()) == 1
    assert not any("webhooks_" in q["sql"] for q in queries.captured_queries)


def test_warranty_at_risk_goes_with_the_warning(silent_world):  # noqa: F811
    gateway, dealer = silent_world["gateway"], silent_world["linked"]
    endpoint(owner=silent_world["owner"], types=["warranty.at_risk"])
    endpoint(dealer=dealer, types=["warranty.at_risk"])
    last = silent_world["last"]
    assert warranty.check_warranties(now=last + timedelta(days=7, hours=1)) == 1
    assert warranty.check_warranties(now=last + timedelta(days=7, hours=2)) == 0
    assert told() == [("warranty.at_risk", "owner"), ("warranty.at_risk", f"dealer:{dealer.pk}")]
    data = Event.objects.get().payload["data"]
    assert data["gateway_id"] == gateway.gateway_id and data["offline_days"] == 7
    assert data["lapses_at"] is not None


# --- the pages' limits -----------------------------------------------------------------


def test_ten_endpoints_at_most(client, settings):
    settings.WEBHOOK_ALLOW_HOSTS = ["127.0.0.1"]
    owner = factories.customer()
    for _ in range(MAX_ENDPOINTS):
        endpoint(owner=owner)
    client.force_login(owner)
    response = client.post(
        reverse("webhooks:menu"), {"url": "http://127.0.0.1:9/in", "event_types": ["test"]}
    )
    assert response.status_code == 400  # "test" is not a type to choose
    response = client.get(reverse("webhooks:menu"))
    assert "送信先は10件まで登録できます。追加するには" in response.content.decode()
    with pytest.raises(Exception, match="10件まで"):
        from essmon.webhooks.services import create_endpoint

        create_endpoint(
            holder=Holder(owner=owner), url="http://127.0.0.1:9/in", event_types=["alert.opened"]
        )


def test_test_events_are_limited_per_endpoint(client):
    owner = factories.customer()
    made = endpoint(owner=owner)
    client.force_login(owner)
    url = reverse("webhooks:test", kwargs={"endpoint_id": made.pk})
    for _ in range(TESTS_PER_HOUR):
        assert client.post(url).status_code == 302
    page = client.post(url, follow=True).content.decode()
    assert "テスト送信が続いたため" in page
    assert Event.objects.filter(type="test").count() == TESTS_PER_HOUR


def test_a_staff_login_finds_no_dealer_webhooks(client):
    dealer = factories.dealer()
    staff = factories.dealer_staff(dealer=dealer, role="technician", email="t@example.jp")
    client.force_login(staff)
    assert client.get(reverse("webhooks:dealer_menu")).status_code == 404


# --- the jobs --------------------------------------------------------------------------


def test_requeue_returns_a_delivery_a_dead_worker_left_sending(
    linked, django_capture_on_commit_callbacks
):
    gw, _ = linked
    made = endpoint(owner=gw.owner)
    with django_capture_on_commit_callbacks(execute=False):
        engine.open_alert(
            gateway=gw, kind="fault", code="E3", since=timezone.now(), severity="minor", title="x"
        )
    delivery = Delivery.objects.get(endpoint=made)
    stuck = timezone.now() - timedelta(minutes=11)
    Delivery.objects.filter(pk=delivery.pk).update(
        state=Delivery.State.SENDING, claimed_at=stuck, attempts=1
    )
    Endpoint.objects.filter(pk=made.pk).update(enabled=False)  # so the requeue does not send
    assert requeue_due_deliveries() == 1
    delivery.refresh_from_db()
    assert delivery.state == Delivery.State.HELD  # taken again; the endpoint is disabled


def test_the_log_is_purged_after_its_retention_held_ones_stay(linked, settings):
    gw, _ = linked
    made = endpoint(owner=gw.owner)
    old = timezone.now() - timedelta(days=settings.WEBHOOK_LOG_RETENTION_DAYS + 1)
    for state in (Delivery.State.DELIVERED, Delivery.State.HELD):
        event = Event.objects.create(type="test", payload={}, created_at=old)
        delivery = Delivery.objects.create(event=event, endpoint=made, state=state, created_at=old)
        Attempt.objects.create(delivery=delivery, status=204)
    orphan = Event.objects.create(type="test", payload={})  # its endpoint was deleted
    assert purge_deliveries() == 2  # the delivered one and its attempt
    assert list(Delivery.objects.values_list("state", flat=True)) == [Delivery.State.HELD]
    assert Event.objects.count() == 1 and not Event.objects.filter(pk=orphan.pk).exists()


def test_many_gateways_back_at_once_cost_a_few_queries(linked):
    """After an outage a whole fleet speaks again in one batch: the gateways nobody listens
    to cost nothing per gateway."""
    gw, _ = linked
    endpoint(owner=gw.owner)
    others = [factories.owned_gateway() for _ in range(20)]
    now = timezone.now()
    with CaptureQueriesContext(connection) as queries:
        record_contacts([gw.pk, *(o.pk for o in others)], now=now)
    assert told() == [("gateway.online", "owner")]
    assert len(queries.captured_queries) < 20
