"""The status (heartbeat) message over HTTPS: firmware and the settings in force."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from essmon.telemetry.models import ConnectivityInterval, GatewayLiveState
from tests import factories

pytestmark = pytest.mark.django_db
URL = "/api/v1/status"
SETTINGS = {
    "mode": "economy",
    "charge_window": ["23:00", "07:00"],
    "discharge_window": ["07:00", "23:00"],
    "reserve_soc_pct": 30,
    "export_limit_w": 0,
}


@pytest.fixture
def gw():
    return factories.connected_gateway(provisioned_days_ago=1)


def status(minutes_ago=0, **overrides):
    ts = (timezone.now() - timedelta(minutes=minutes_ago)).isoformat()
    return {"ts": ts, "firmware": "1.4.2", "settings": {**SETTINGS, **overrides}}


def post(client, gw, body):
    return client.post(
        URL,
        json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Gateway {gw.gateway_id}:{gw.secret}",
    )


def test_status_is_stored_and_counts_as_contact(client, gw):
    response = post(client, gw, {"gateway_id": gw.gateway_id, "status": status()})
    assert response.status_code == 200 and response.json() == {"ok": True}
    state = GatewayLiveState.objects.get(gateway=gw)
    assert state.firmware == "1.4.2" and state.settings_in_force == SETTINGS
    assert ConnectivityInterval.objects.filter(gateway=gw, online_until__isnull=True).exists()


def test_an_older_status_does_not_overwrite_a_newer_one(client, gw):
    post(client, gw, {"gateway_id": gw.gateway_id, "status": status(0, mode="green")})
    post(client, gw, {"gateway_id": gw.gateway_id, "status": status(5, mode="economy")})
    assert GatewayLiveState.objects.get(gateway=gw).settings_in_force["mode"] == "green"


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"mode": "turbo"}, "settings.mode: 'turbo' is not one of"),
        ({"charge_window": ["25:00", "07:00"]}, "settings.charge_window: expected"),
        ({"charge_window": "23:00-07:00"}, "settings.charge_window: expected"),
        ({"reserve_soc_pct": 120}, "settings.reserve_soc_pct: expected a number from 0 to 100"),
        ({"export_limit_w": -1}, "settings.export_limit_w: expected a number"),
        ({"colour": "red"}, "settings: unknown key(s) colour"),
    ],
)
def test_bad_settings_are_refused_with_the_reason(client, gw, overrides, reason):
    response = post(client, gw, {"gateway_id": gw.gateway_id, "status": status(**overrides)})
    assert response.status_code == 422 and reason in response.json()["error"]
    assert not GatewayLiveState.objects.filter(gateway=gw, firmware="1.4.2").exists()


def test_missing_parts_and_other_refusals(client, gw):
    body = status()
    del body["firmware"]
    response = post(client, gw, {"gateway_id": gw.gateway_id, "status": body})
    assert response.status_code == 422 and "missing field(s): firmware" in response.json()["error"]
    response = post(client, gw, {"gateway_id": gw.gateway_id})
    assert (
        response.status_code == 422 and "status: expected a JSON object" in response.json()["error"]
    )
    other = factories.owned_gateway()
    assert post(client, gw, {"gateway_id": other.gateway_id, "status": status()}).status_code == 403
