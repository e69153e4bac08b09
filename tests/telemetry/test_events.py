"""Events (faults starting and clearing) over HTTPS: stored once, bad ones named."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from essmon.telemetry.models import GatewayEvent
from tests import factories

pytestmark = pytest.mark.django_db
URL = "/api/v1/events"


@pytest.fixture
def gw():
    return factories.connected_gateway(provisioned_days_ago=1)


def event(minutes_ago=0, **overrides):
    ts = (timezone.now() - timedelta(minutes=minutes_ago)).replace(microsecond=0).isoformat()
    return {"ts": ts, "code": "E203", "severity": "major", "state": "start", **overrides}


def post(client, gw, events):
    return client.post(
        URL,
        json.dumps({"gateway_id": gw.gateway_id, "events": events}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Gateway {gw.gateway_id}:{gw.secret}",
    )


def test_events_are_stored_once(client, gw):
    reported = [event(10), event(2, state="clear")]
    assert post(client, gw, reported).json() == {"accepted": 2, "duplicates": 0, "rejected": []}
    assert post(client, gw, reported).json() == {"accepted": 0, "duplicates": 2, "rejected": []}
    start, clear = GatewayEvent.objects.filter(gateway=gw).order_by("ts")
    assert (start.code, start.severity, start.state) == ("E203", "major", "start")
    assert clear.state == "clear"


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"code": "e203"}, "code: expected a fault code"),
        ({"code": "E/20"}, "code: expected a fault code"),
        ({"severity": "fatal"}, "severity: 'fatal' is not one of"),
        ({"state": "ongoing"}, "state: 'ongoing' is not one of"),
        ({"ts": "2026-01-01T00:00:00"}, "has no time zone offset"),
    ],
)
def test_bad_events_are_named_and_good_ones_kept(client, gw, overrides, reason):
    body = post(client, gw, [event(5), {**event(1), **overrides}]).json()
    assert body["accepted"] == 1
    (rejected,) = body["rejected"]
    assert rejected["index"] == 1 and reason in rejected["reason"]


def test_events_must_be_a_bounded_array(client, gw):
    assert post(client, gw, {"ts": "x"}).status_code == 400
    assert post(client, gw, [event(i) for i in range(101)]).status_code == 413
