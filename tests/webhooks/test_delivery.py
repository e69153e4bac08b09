"""Webhook delivery against a real HTTP receiver (tests/webhook_receiver.py) that is down,
slow, answers 500 and comes back: real events from the services that make them, the
worker's task and the requeue job run with the clock moved; every event arrives, every
signature verifies with the ``standardwebhooks`` package, and none is processed twice.
Pausing, with its mail through a real SMTP server, and 再開."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from essmon.alerts import engine
from essmon.commands.services import hand_out, record_results, request_setting_change
from essmon.dealers.services.links import link_dealer, unlink_dealer
from essmon.telemetry.connectivity import close_silent_intervals, record_contacts
from essmon.webhooks import events
from essmon.webhooks.models import Attempt, Delivery, Endpoint, Event
from essmon.webhooks.services import Holder, create_endpoint, requeue_due_deliveries
from tests import factories
from tests.waiting import wait_until
from tests.webhook_receiver import Receiver

pytestmark = [pytest.mark.django_db, pytest.mark.smtp]

ALL_TYPES = list(events.EVENT_TYPES)


@pytest.fixture(autouse=True)
def _local_receivers(settings):
    settings.WEBHOOK_ALLOW_HOSTS = ["127.0.0.1"]
    settings.WEBHOOK_TIMEOUT_SECONDS = 1


@pytest.fixture
def receiver():
    made = Receiver()
    yield made
    made.stop()


def register(receiver: Receiver, who: str, holder: Holder, types=ALL_TYPES) -> Endpoint:
    endpoint, secret = create_endpoint(
        holder=holder, url=f"{receiver.url}&who={who}", event_types=types
    )
    receiver.secrets[who] = secret
    return endpoint


def settle(moment, capture):
    """The requeue job at ``moment``: every due delivery is handed to the (in-process) worker."""
    with time_machine.travel(moment, tick=False), capture(execute=True):
        return requeue_due_deliveries()


def test_a_receiver_down_slow_broken_then_back_gets_every_event_once(
    receiver, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    gw = factories.connected_gateway()
    owner = gw.owner
    dealer = factories.dealer(code="D7654321")
    register(receiver, "owner", Holder(owner=owner))
    register(receiver, "dealer", Holder(dealer=dealer))
    t0 = timezone.now()

    # the receiver is down (nothing listens on its port) while the events happen
    with time_machine.travel(t0, tick=False), capture(execute=True):
        record_contacts([gw.pk], now=t0)  # first contact: its interval opens
        link_dealer(customer=owner, gateway=gw, dealer=dealer)
        engine.open_alert(
            gateway=gw,
            kind="fault",
            code="E101",
            since=t0,
            severity="major",
            title="PCSの異常",
        )
        command = request_setting_change(
            gateway=gw, setting="reserve_soc_pct", value=40, requested_by=owner
        )
        hand_out(gw, now=t0)
        outcome = record_results(
            gateway=gw,
            results=[{"command_id": command.pk, "status": "applied", "ts": t0.isoformat()}],
            now=t0,
        )
        assert outcome.accepted == 1
    silent = t0 + timedelta(minutes=30)
    with time_machine.travel(silent, tick=False), capture(execute=True):
        assert close_silent_intervals(now=silent) == 1  # detect-offline: gateway.offline
    back = silent + timedelta(seconds=5)
    with time_machine.travel(back, tick=False), capture(execute=True):
        record_contacts([gw.pk], now=back)  # heard again: gateway.online

    types = sorted(Event.objects.values_list("type", flat=True))
    assert types == sorted(
        [
            "gateway.online",  # first contact (the dealer was not linked yet: owner only)
            "link.added",
            "alert.opened",
            "setting.applied",
            "gateway.offline",
            "gateway.online",
        ]
    )
    deliveries = Delivery.objects.all()
    assert deliveries.count() == 11  # each event to both, but the first contact
    assert all(d.state == Delivery.State.PENDING and d.attempts == 1 for d in deliveries)
    assert all("接続エラー" in d.last_error for d in deliveries)
    assert receiver.arrivals == {}

    # up, but the first request is answered only after the timeout; then it answers 500
    receiver.start()
    receiver.mode, receiver.then = "slow", "error"
    settle(back + timedelta(minutes=5), capture)
    assert not Delivery.objects.exclude(state=Delivery.State.PENDING).exists()
    timeouts = Attempt.objects.filter(error__startswith="タイムアウト")
    assert timeouts.count() == 1
    assert Attempt.objects.filter(status=500).count() == 10
    slow_id = timeouts.get().delivery.event.webhook_id
    # the receiver finishes the request the service stopped waiting for: it processed it
    wait_until(lambda: sum(receiver.accepted.values()), 10, "the slow request processed")

    # still broken a while later; then it comes back
    settle(back + timedelta(minutes=10), capture)
    assert Attempt.objects.filter(status=500).count() == 21
    receiver.mode = "ok"
    settle(back + timedelta(hours=2), capture)
    assert settle(back + timedelta(hours=3), capture) == 0  # nothing left to send

    assert set(Delivery.objects.values_list("state", flat=True)) == {Delivery.State.DELIVERED}
    expected = {
        f"{'dealer' if d.endpoint.dealer_id else 'owner'}:{d.event.webhook_id}"
        for d in Delivery.objects.select_related("event", "endpoint")
    }
    assert set(receiver.processed) == expected
    assert receiver.bad_signatures == 0
    # the slow one arrived twice (its first answer came too late) and was processed once
    twice = [key for key, n in receiver.accepted.items() if n > 1]
    assert [key.split(":", 1)[1] for key in twice] == [slow_id]
    assert receiver.processed_twice == twice
    # what the receiver read is what happened, in the minimum words
    by_type = {p["type"]: p for p in receiver.processed.values()}
    assert by_type["alert.opened"]["data"]["alert"]["code"] == "E101"
    assert by_type["alert.opened"]["data"]["gateway_id"] == gw.gateway_id
    assert by_type["setting.applied"]["data"]["setting"] == "reserve_soc_pct"
    assert by_type["setting.applied"]["data"]["value"] == 40
    assert by_type["link.added"]["data"]["dealer_code"] == "D7654321"
    for payload in receiver.processed.values():
        assert owner.email not in str(payload) and owner.name not in str(payload)


def test_events_follow_who_may_see_the_gateway(receiver, django_capture_on_commit_callbacks):
    """A dealer gets a gateway's events while linked, and the end of its own link; the
    owner's endpoint gets only the types chosen; another customer gets nothing."""
    capture = django_capture_on_commit_callbacks
    receiver.start()
    gw = factories.connected_gateway()
    dealer = factories.dealer()
    register(receiver, "owner", Holder(owner=gw.owner), types=["link.ended"])
    register(receiver, "dealer", Holder(dealer=dealer))
    register(receiver, "stranger", Holder(owner=factories.customer()))
    with capture(execute=True):
        link_dealer(customer=gw.owner, gateway=gw, dealer=dealer)
        unlink_dealer(customer=gw.owner, gateway=gw, dealer=dealer)
        engine.open_alert(
            gateway=gw, kind="fault", code="E1", since=timezone.now(), severity="minor", title="x"
        )
    got = sorted((key.split(":")[0], p["type"]) for key, p in receiver.processed.items())
    assert got == [
        ("dealer", "link.added"),
        ("dealer", "link.ended"),
        ("owner", "link.ended"),
    ]
    ended = next(p for p in receiver.processed.values() if p["type"] == "link.ended")
    assert ended["data"]["reason"] == "unlinked"


def test_an_endpoint_failing_for_days_is_paused_with_a_mail_and_resumed_by_its_owner(
    receiver, smtp_server, client, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    receiver.start()
    receiver.mode = "error"
    gw = factories.connected_gateway()
    endpoint = register(receiver, "owner", Holder(owner=gw.owner))
    t0 = timezone.now()

    def alert(code, at):
        with time_machine.travel(at, tick=False), capture(execute=True):
            engine.open_alert(
                gateway=gw, kind="fault", code=code, since=at, severity="minor", title=code
            )

    alert("E1", t0)
    # failing hour after hour for 71 h: still retried, not paused
    for hour in range(1, 72):
        settle(t0 + timedelta(hours=hour, minutes=1), capture)
    endpoint.refresh_from_db()
    assert endpoint.paused_at is None and endpoint.failing_since == t0

    def pause_mails():  # the alert's own mails go to the owner too
        return [m for m in smtp_server.messages if "Webhook" in m["Subject"]]

    smtp_server.wait_for(1)  # the alert's mail
    assert pause_mails() == []
    settle(t0 + timedelta(hours=72, minutes=2), capture)
    endpoint.refresh_from_db()
    assert endpoint.paused_at is not None
    smtp_server.wait_for(2)
    (mail,) = pause_mails()
    assert mail["To"] == gw.owner.email
    assert "一時停止" in mail["Subject"]
    body = smtp_server.body(mail)
    assert "72時間続けて" in body and receiver.url in body and "保留" in body
    assert reverse("webhooks:endpoint", kwargs={"endpoint_id": endpoint.pk}) in body

    # paused: a new event is held, not sent, not lost; the requeue job leaves it
    alert("E2", t0 + timedelta(hours=73))
    settle(t0 + timedelta(hours=74), capture)
    assert set(Delivery.objects.values_list("state", flat=True)) == {Delivery.State.HELD}
    before = sum(receiver.arrivals.values())
    assert before == 73  # the attempts of E1, none of E2

    # the owner mends the receiver and presses 再開 on the page
    receiver.mode = "ok"
    with time_machine.travel(t0 + timedelta(hours=75), tick=False), capture(execute=True):
        client.force_login(gw.owner)
        page = client.get(reverse("webhooks:endpoint", kwargs={"endpoint_id": endpoint.pk}))
        assert "一時停止しています" in page.content.decode()
        response = client.post(reverse("webhooks:resume", kwargs={"endpoint_id": endpoint.pk}))
    assert response.status_code == 302
    assert response["Location"] == page.request["PATH_INFO"]
    assert set(Delivery.objects.values_list("state", flat=True)) == {Delivery.State.DELIVERED}
    assert sorted(p["data"]["alert"]["code"] for p in receiver.processed.values()) == ["E1", "E2"]
    assert receiver.processed_twice == [] and receiver.bad_signatures == 0
    endpoint.refresh_from_db()
    assert endpoint.paused_at is None and endpoint.failing_since is None
    assert len(pause_mails()) == 1  # one mail per pause
