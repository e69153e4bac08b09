"""Webhooks tried from outside: what a delivery due after its holder lost sight of the
gateway does (an unlink, a 名義変更, a deactivated account), an endpoint deleted while
its request is out, and the addresses an endpoint may not have (docs/webhooks.md)."""

from __future__ import annotations

import pytest
from django.utils import timezone

from essmon.alerts import engine
from essmon.dealers.services.links import link_dealer, unlink_dealer
from essmon.webhooks import services
from essmon.webhooks.models import Attempt, Delivery, Endpoint
from essmon.webhooks.services import Holder, create_endpoint, deliver
from tests import factories
from tests.webhook_receiver import Receiver
from tests.webhooks.test_delivery import _local_receivers  # noqa: F401 (autouse fixture)

pytestmark = pytest.mark.django_db


@pytest.fixture
def receiver():
    made = Receiver().start()  # listening from the start: these tests are not about a receiver down
    yield made
    made.stop()


def register(receiver: Receiver, who: str, holder: Holder) -> Endpoint:
    endpoint, secret = create_endpoint(
        holder=holder, url=f"{receiver.url}&who={who}", event_types=["alert.opened", "link.ended"]
    )
    receiver.secrets[who] = secret
    return endpoint


def _alert(gateway) -> None:
    engine.open_alert(
        gateway=gateway,
        kind="fault",
        code="E7",
        since=timezone.now(),
        severity="major",
        title="PCSの異常",
    )


def _due(endpoint: Endpoint) -> list[Delivery]:
    return list(Delivery.objects.filter(endpoint=endpoint).select_related("event").order_by("pk"))


def test_a_dealer_unlinked_before_a_retry_is_not_sent_the_event(receiver):
    gw = factories.connected_gateway()
    dealer = factories.dealer(code="D1234567")
    link_dealer(customer=gw.owner, gateway=gw, dealer=dealer)
    hook = register(receiver, "dealer", Holder(dealer=dealer))
    _alert(gw)  # recorded while linked; its first try failed, say, and a retry is due
    unlink_dealer(customer=gw.owner, gateway=gw, dealer=dealer)
    states = {d.event.type: deliver(delivery_id=d.pk) for d in _due(hook)}
    assert states == {"alert.opened": Delivery.State.CANCELLED, "link.ended": "delivered"}
    assert [p["type"] for p in receiver.processed.values()] == ["link.ended"]
    cancelled = Delivery.objects.get(endpoint=hook, event__type="alert.opened")
    assert cancelled.attempts == 0 and not Attempt.objects.filter(delivery=cancelled).exists()
    assert "取りやめ" in cancelled.last_error


def test_a_held_delivery_of_a_sold_system_is_not_sent_to_the_seller_on_resume(receiver):
    gw = factories.connected_gateway()
    hook = register(receiver, "seller", Holder(owner=gw.owner))
    Endpoint.objects.filter(pk=hook.pk).update(paused_at=timezone.now())
    _alert(gw)
    assert [d.state for d in _due(hook)] == [Delivery.State.HELD]
    buyer = factories.customer(email="buyer@example.jp")
    type(gw).objects.filter(pk=gw.pk).update(owner=buyer)  # the 名義変更's effect
    services.resume_endpoint(endpoint=hook)
    assert [deliver(delivery_id=d.pk) for d in _due(hook)] == [Delivery.State.CANCELLED]
    assert receiver.processed == {}


def test_a_deactivated_dealer_is_sent_nothing_more(receiver):
    gw = factories.connected_gateway()
    dealer = factories.dealer(code="D7654321")
    link_dealer(customer=gw.owner, gateway=gw, dealer=dealer)
    hook = register(receiver, "dealer", Holder(dealer=dealer))
    _alert(gw)
    type(dealer.user).objects.filter(pk=dealer.user.pk).update(is_active=False)
    assert [deliver(delivery_id=d.pk) for d in _due(hook)] == [Delivery.State.CANCELLED]
    assert receiver.processed == {}


def test_an_endpoint_deleted_while_its_request_is_out(receiver, monkeypatch):
    gw = factories.connected_gateway()
    hook = register(receiver, "owner", Holder(owner=gw.owner))
    _alert(gw)
    (delivery,) = _due(hook)
    sending = services.post

    def post_then_delete(**kwargs):
        answer = sending(**kwargs)
        services.delete_endpoint(endpoint=hook)
        return answer

    monkeypatch.setattr(services, "post", post_then_delete)
    assert deliver(delivery_id=delivery.pk) == services.GONE
    assert not Delivery.objects.exists() and not Attempt.objects.exists()
    # and the task of a delivery deleted before it ran finds nothing to do
    assert deliver(delivery_id=delivery.pk) == "not-due"


# --- the pages ----------------------------------------------------------------------------


def test_test_events_are_limited_per_holder_too(client):
    """Deleting an endpoint and adding it again gives a fresh endpoint, not a fresh count."""
    from django.urls import reverse

    from essmon.webhooks.services import TESTS_PER_HOUR, TESTS_PER_HOUR_PER_HOLDER

    owner = factories.customer()
    client.force_login(owner)
    sent = 0
    for _ in range(TESTS_PER_HOUR_PER_HOLDER // TESTS_PER_HOUR + 1):
        made, _ = create_endpoint(
            holder=Holder(owner=owner), url="http://127.0.0.1:9/in", event_types=["alert.opened"]
        )
        url = reverse("webhooks:test", kwargs={"endpoint_id": made.pk})
        for _ in range(TESTS_PER_HOUR):
            page = client.post(url, follow=True).content.decode()
            sent += "テスト送信が続いたため" not in page
        services.delete_endpoint(endpoint=made)
    assert sent == TESTS_PER_HOUR_PER_HOLDER


def test_a_reload_of_the_page_showing_the_secret_registers_nothing_more(client):
    from django.urls import reverse

    owner = factories.customer()
    client.force_login(owner)
    menu = reverse("webhooks:menu")
    once = client.get(menu).context["form"].initial["once"]
    data = {"url": "http://127.0.0.1:9/in", "event_types": ["alert.opened"], "once": once}
    first = client.post(menu, data)
    assert first.status_code == 200 and "whsec_" in first.content.decode()
    again = client.post(menu, data)  # the browser's 「再送信」
    assert again.status_code == 400
    page = again.content.decode()
    assert "whsec_" not in page and "同じ画面から2回送信されました" in page
    assert Endpoint.objects.filter(owner=owner).count() == 1


def test_the_endpoint_page_says_which_deliveries_are_cancelled_on_each_side(client):
    from django.urls import reverse

    gw = factories.connected_gateway()
    dealer = factories.dealer(code="D1112223")
    mine, _ = create_endpoint(
        holder=Holder(owner=gw.owner), url="http://127.0.0.1:9/in", event_types=["alert.opened"]
    )
    theirs, _ = create_endpoint(
        holder=Holder(dealer=dealer), url="http://127.0.0.1:9/in", event_types=["alert.opened"]
    )
    client.force_login(gw.owner)
    page = client.get(reverse("webhooks:endpoint", kwargs={"endpoint_id": mine.pk}))
    text = page.content.decode()
    assert (
        "名義変更で手放したゲートウェイ" in text and "保守紐付けが終わったゲートウェイ" not in text
    )
    client.force_login(dealer.user)
    page = client.get(reverse("webhooks:dealer_endpoint", kwargs={"endpoint_id": theirs.pk}))
    text = page.content.decode()
    assert "保守紐付けが終わったゲートウェイ" in text and "名義変更で手放した" not in text


def test_registrations_are_limited_per_holder_before_any_name_is_resolved():
    """Each try resolves a name the user typed: a day's tries are counted, refused ones
    too, and past the limit nothing is looked up."""
    from essmon.webhooks.services import ADDS_PER_DAY, WebhookError

    owner = factories.customer()
    looked_up: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        looked_up.append(host)
        return ["10.0.0.1"]  # a private address: refused after the look-up

    for n in range(ADDS_PER_DAY):
        with pytest.raises(WebhookError):
            create_endpoint(
                holder=Holder(owner=owner),
                url=f"https://h{n}.example.com/in",
                event_types=["alert.opened"],
                resolve=resolve,
            )
    assert len(looked_up) == ADDS_PER_DAY
    with pytest.raises(WebhookError, match="送信先の登録が続いたため"):
        create_endpoint(
            holder=Holder(owner=owner),
            url="https://last.example.com/in",
            event_types=["alert.opened"],
            resolve=resolve,
        )
    assert len(looked_up) == ADDS_PER_DAY
    # another customer has a count of its own
    other = factories.customer()
    with pytest.raises(WebhookError) as refused:
        create_endpoint(
            holder=Holder(owner=other),
            url="https://other.example.com/in",
            event_types=["alert.opened"],
            resolve=resolve,
        )
    assert "登録が続いたため" not in str(refused.value)
    assert len(looked_up) == ADDS_PER_DAY + 1
