"""故障交換 (issue 14): a linked dealer or an operator puts a new provisioned gateway in the
place of a failed one. Everything continues under the new ID, the old unit's credentials
stop working at once (HTTPS and MQTT), the counters' restart is not energy, the customer is
mailed, and who did it is on record."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from essmon.alerts.models import Alert
from essmon.commands.models import Command
from essmon.dealers.models import DealerAccess, DealerLink
from essmon.dealers.services.errors import DealerError
from essmon.dealers.services.links import link_dealer
from essmon.dealers.services.replacement import replace_gateway
from essmon.gateways.models import Gateway, GatewayReplacement
from essmon.gateways.services.claims import WRONG_CREDENTIALS
from essmon.gateways.services.credentials import rotate_device_secret
from essmon.monitoring import services as monitoring_services
from essmon.notifications.models import OutboxMessage
from essmon.telemetry.models import CounterDiscontinuity, EnergyRollup, Sample
from essmon.telemetry.rollups import rollup_energy
from essmon.warranty.models import WarrantyDates
from essmon.warranty.services import change_dates
from tests import factories
from tests.conftest import SmtpSink
from tests.factories import sample
from tests.mqtt_helpers import connack
from tests.waiting import wait_until

pytestmark = pytest.mark.django_db
TELEMETRY = "/api/v1/telemetry"


@pytest.fixture
def world():
    owner = factories.customer(email="owner@example.jp", name="御室 花子")
    old = factories.owned_gateway(owner=owner)
    # a system in service for a while: the ingest refuses samples older than provisioning
    Gateway.objects.filter(pk=old.pk).update(provisioned_at=timezone.now() - timedelta(days=30))
    old.refresh_from_db()
    old.secret = rotate_device_secret(gateway=old)
    dealer = factories.dealer(company="京都蓄電サービス株式会社", name="保守 一郎")
    link_dealer(customer=owner, gateway=old, dealer=dealer)
    new = factories.gateway(model="KP-GWBT-B", part_number="GW-200")
    new.secret = rotate_device_secret(gateway=new)
    return {"owner": owner, "old": old, "new": new, "dealer": dealer}


def post(client, gateway_id: str, secret: str, samples: list[dict]):
    return client.post(
        TELEMETRY,
        json.dumps({"gateway_id": gateway_id, "samples": samples}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Gateway {gateway_id}:{secret}",
    )


def replace(world, *, user=None, password=factories.GATEWAY_PASSWORD, reason="電源が入らない"):
    return replace_gateway(
        gateway=world["old"],
        new_gateway_id=world["new"].gateway_id,
        new_password=password,
        reason=reason,
        user=user or world["dealer"].user,
        client_address="192.0.2.1",
    )


def test_the_system_and_everything_of_it_continue_under_the_new_id(world, client):
    old, new, dealer = world["old"], world["new"], world["dealer"]
    old_id, new_id, new_pk = old.gateway_id, new.gateway_id, new.pk
    assert post(client, old_id, old.secret, [sample(1, minutes_ago=3)]).status_code == 200
    change_dates(
        gateway=old, user=world["owner"], grid_connection_date=date(2024, 1, 12), received_date=None
    )
    monitoring_services.change_settings(gateway=old, changes={"mode": "green"}, user=dealer.user)
    Alert.objects.create(
        gateway=old,
        kind="offline",
        severity="major",
        title="通信途絶",
        since=old.claimed_at or old.provisioned_at,
    )

    done = replace(world)

    continued = Gateway.objects.get(pk=old.pk)
    assert continued.gateway_id == new_id and continued.model == "KP-GWBT-B"
    assert continued.part_number == "GW-200" and continued.owner == world["owner"]
    assert continued.site_id == old.site_id and continued.state == Gateway.State.CLAIMED
    assert not Gateway.objects.filter(pk=new_pk).exists()  # the new unit's own row is gone
    assert not Gateway.objects.filter(gateway_id=old_id).exists()  # the old ID names nothing
    assert Sample.objects.filter(gateway=continued).count() == 1
    assert WarrantyDates.objects.get(gateway=continued).grid_connection_date == date(2024, 1, 12)
    assert Alert.objects.filter(gateway=continued).count() == 1
    assert DealerLink.objects.get(gateway=continued, ended_at__isnull=True).dealer == dealer
    # the old unit's pending change is not sent to the new one
    assert set(Command.objects.filter(gateway=continued).values_list("status", flat=True)) == {
        Command.Status.EXPIRED
    }
    assert (done.old_gateway_id, done.new_gateway_id, done.gateway_id) == (old_id, new_id, old.pk)
    assert done.old_model == "KP-GWBT-A" and done.reason == "電源が入らない"
    assert done.replaced_by == dealer.user
    assert done.replaced_by_name == "販売店 京都蓄電サービス株式会社(保守 一郎)"
    # the customer's record of what the dealer did
    row = DealerAccess.objects.get(action=DealerAccess.Action.REPLACE_GATEWAY)
    assert (row.gateway_id, row.dealer, row.user) == (old.pk, dealer, dealer.user)
    assert row.detail == f"ゲートウェイの交換: {old_id} → {new_id}(理由: 電源が入らない)"
    # the pages answer under the new ID, and under the old one nowhere
    client.force_login(world["owner"])
    assert client.get(reverse("monitoring:live", args=[new_id])).status_code == 200
    assert client.get(reverse("monitoring:live", args=[old_id])).status_code == 404


def test_the_old_units_secret_is_refused_over_https_at_once_and_the_new_ones_taken(world, client):
    old, new = world["old"], world["new"]
    old_id, new_id = old.gateway_id, new.gateway_id
    replace(world)
    assert post(client, old_id, old.secret, [sample(1, minutes_ago=2)]).status_code == 401
    # nor does the old secret open the continuing row under the new ID
    assert post(client, new_id, old.secret, [sample(1, minutes_ago=2)]).status_code == 401
    response = post(client, new_id, new.secret, [sample(1, minutes_ago=1)])
    assert response.status_code == 200 and response.json()["accepted"] == 1
    assert Sample.objects.get().gateway_id == old.pk


def test_the_new_units_counters_from_another_base_are_not_energy(world, client):
    """Through the flow: the old unit at ~5,000 kWh, the new from its factory counters."""
    old, new = world["old"], world["new"]
    high = {"pv_kwh": 5_000.0, "load_kwh": 4_000.0, "charge_kwh": 800.0, "pv_w": 1200.0}
    batch = [sample(1, minutes_ago=8, **high), sample(2, minutes_ago=7, **high)]
    assert post(client, old.gateway_id, old.secret, batch).json()["accepted"] == 2
    replace(world)
    low = {"pv_kwh": 3.0, "load_kwh": 2.0, "charge_kwh": 1_500.0, "pv_w": 1200.0}
    batch = [sample(1, minutes_ago=3, **low), sample(2, minutes_ago=2, **low)]
    assert post(client, new.gateway_id, new.secret, batch).json()["accepted"] == 2
    rollup_energy()
    hours = EnergyRollup.objects.filter(gateway_id=old.pk, period="hour")
    # 1.2 kW over the four minutes between the units, taken from the powers: 0.08 kWh
    assert 0 <= sum(h.pv_kwh for h in hours) <= 0.1
    assert 0 <= sum(h.load_kwh for h in hours) <= 0.1
    assert 0 <= sum(h.charge_kwh for h in hours) <= 0.1
    kinds = set(CounterDiscontinuity.objects.values_list("counter", "kind"))
    assert {("pv_kwh", "reset"), ("load_kwh", "reset"), ("charge_kwh", "jump")} <= kinds


def test_the_customer_is_mailed(world, smtp_server, django_capture_on_commit_callbacks):
    old_id, new_id = world["old"].gateway_id, world["new"].gateway_id
    with django_capture_on_commit_callbacks(execute=True):
        replace(world)
    (message,) = smtp_server.wait_for(1)
    assert message["To"] == "owner@example.jp"
    assert "ゲートウェイ交換のお知らせ" in message["Subject"]
    body = SmtpSink.body(message)
    assert f"交換前のゲートウェイID: {old_id}" in body
    assert f"交換後のゲートウェイID: {new_id}" in body
    assert "交換した人: 販売店 京都蓄電サービス株式会社(保守 一郎)" in body
    assert "理由: 電源が入らない" in body
    assert f"/monitoring/{new_id}/" in body
    assert OutboxMessage.objects.get(kind="gateway_replaced").recipient == "owner@example.jp"


def test_the_old_units_broker_login_is_refused_once_committed(
    world, broker, settings, django_capture_on_commit_callbacks
):
    old, new = world["old"], world["new"]
    settings.MQTT_PASSWORD_FILE = str(broker.files.password_file)
    settings.MQTT_ACL_FILE = str(broker.files.acl_file)
    settings.MQTT_URL = broker.url
    settings.MQTT_BROKER_PID_FILE = str(broker.folder / "mosquitto.pid")
    broker.reload()
    assert not connack(old.gateway_id, old.secret, broker.port).is_failure
    reloads = broker.log().count("Reloading config.")
    with django_capture_on_commit_callbacks(execute=True):
        replace(world)
    wait_until(
        lambda: broker.log().count("Reloading config.") > reloads, 10, "the broker reloading"
    )
    assert connack(old.gateway_id, old.secret, broker.port).is_failure
    assert connack(new.gateway_id, old.secret, broker.port).is_failure
    assert not connack(new.gateway_id, new.secret, broker.port).is_failure


def test_an_operators_replacement_is_kept_but_not_in_the_dealers_record(world):
    operator = factories.customer(role="operator", name="運営 太郎", is_staff=True)
    done = replace(world, user=operator, reason="")
    assert done.replaced_by_name == "運営(運営 太郎)" and done.reason == ""
    assert not DealerAccess.objects.filter(action=DealerAccess.Action.REPLACE_GATEWAY).exists()


def test_a_wrong_sheet_password_changes_nothing(world):
    with pytest.raises(DealerError) as refused:
        replace(world, password="wrongpassword1")
    assert refused.value.message == WRONG_CREDENTIALS and refused.value.field == "gateway_id"
    assert Gateway.objects.filter(gateway_id=world["old"].gateway_id).exists()
    assert not GatewayReplacement.objects.exists()
    assert not OutboxMessage.objects.filter(kind="gateway_replaced").exists()


def test_a_claimed_gateway_cannot_be_the_new_unit(world):
    taken = factories.owned_gateway()
    with pytest.raises(DealerError):
        replace_gateway(
            gateway=world["old"],
            new_gateway_id=taken.gateway_id,
            new_password=factories.GATEWAY_PASSWORD,
            reason="",
            user=world["dealer"].user,
            client_address="192.0.2.1",
        )
    assert Gateway.objects.get(pk=taken.pk).owner_id is not None
    assert not GatewayReplacement.objects.exists()


def test_the_dealers_page_replaces_and_confirms(world, client):
    old_id, new_id = world["old"].gateway_id, world["new"].gateway_id
    client.force_login(world["dealer"].user)
    url = reverse("dealers:gateway_replace", args=[old_id])
    page = client.get(url)
    assert page.status_code == 200 and "交換後のゲートウェイID" in page.content.decode()
    refused = client.post(url, {"gateway_id": new_id, "gateway_password": "wrongpassword1"})
    body = refused.content.decode()
    assert refused.status_code == 200 and "チェックを入れてください" in body
    refused = client.post(
        url, {"gateway_id": new_id, "gateway_password": "wrongpassword1", "confirm": "on"}
    )
    assert WRONG_CREDENTIALS in refused.content.decode()
    done = client.post(
        url,
        {
            "gateway_id": new_id.lower(),
            "gateway_password": factories.GATEWAY_PASSWORD,
            "reason": "故障",
            "confirm": "on",
        },
        follow=True,
    )
    assert done.redirect_chain[-1][0] == reverse("monitoring:live", args=[new_id])
    assert f"ゲートウェイを交換しました({old_id} → {new_id})" in done.content.decode()
    assert client.get(url).status_code == 404  # the old ID is gone
