"""Commands: the per-model settings schema, the lifecycle, and the HTTPS endpoints."""

import json
import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from essmon.commands.models import Command
from essmon.commands.services import (
    COMMAND_LIFETIME,
    RESEND_AFTER,
    claim_for_broker,
    expire_commands,
    hand_out,
    request_setting_change,
)
from essmon.gateways.schema import SettingError, validate_setting
from essmon.mqtt.process import GatewayCache, Incoming, process_messages
from essmon.telemetry.connectivity import note_transport, record_contacts
from essmon.telemetry.models import GatewayLiveState
from tests import factories

pytestmark = pytest.mark.django_db
S = Command.Status


@pytest.fixture
def gw():
    return factories.connected_gateway(provisioned_days_ago=1)


def change(gw, setting="mode", value="green", **kw):
    return request_setting_change(
        gateway=gw, setting=setting, value=value, requested_by=gw.owner, **kw
    )


def auth(gw):
    return {"HTTP_AUTHORIZATION": f"Gateway {gw.gateway_id}:{gw.secret}"}


def post_results(client, gw, results):
    return client.post(
        "/api/v1/results",
        json.dumps({"gateway_id": gw.gateway_id, "results": results}),
        content_type="application/json",
        **auth(gw),
    )


def result(command, status="applied", **extra):
    return {"command_id": command.pk, "status": status, "ts": timezone.now().isoformat(), **extra}


# --- the schema ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "setting", "value", "expected"),
    [
        ("KP-GWBT-A", "mode", "storage_priority", "storage_priority"),
        ("KP-GWBT-A", "charge_window", ["23:00", "07:00"], ["23:00", "07:00"]),
        ("KP-GWBT-A", "reserve_soc_pct", 40, 40),
        ("KP-GWBT-A", "reserve_soc_pct", 40.0, 40),
        ("KP-GWBT-A", "export_limit_w", 5900, 5900),
        ("KP-GWBT-C", "export_limit_w", 20000, 20000),
        ("KP-GWBT-C", "reserve_soc_pct", 15, 15),
        ("OTHER-1", "reserve_soc_pct", 37, 37),
    ],
)
def test_values_the_model_accepts(model, setting, value, expected):
    assert validate_setting(model, setting, value) == expected


@pytest.mark.parametrize(
    ("model", "setting", "value", "message"),
    [
        ("KP-GWBT-A", "mode", "turbo", "運転モードは経済モード"),
        ("KP-GWBT-A", "charge_window", ["23:00", "23:00"], "別の時刻"),
        ("KP-GWBT-A", "charge_window", ["7:00", "09:00"], "24時間制"),
        ("KP-GWBT-A", "discharge_window", "07:00-23:00", "開始時刻と終了時刻"),
        ("KP-GWBT-A", "reserve_soc_pct", 45, "10%単位"),
        ("KP-GWBT-A", "reserve_soc_pct", 110, "0〜100%"),
        ("KP-GWBT-A", "reserve_soc_pct", True, "整数"),
        ("KP-GWBT-A", "export_limit_w", 6000, "0〜5,900W"),
        ("KP-GWBT-C", "reserve_soc_pct", 5, "10〜100%"),
        ("KP-GWBT-A", "firmware", "2.0", "変更できる設定ではありません"),
    ],
)
def test_values_the_model_refuses_say_why_in_japanese(model, setting, value, message):
    with pytest.raises(SettingError, match=message):
        validate_setting(model, setting, value)


def test_a_refused_value_makes_no_command(gw):
    with pytest.raises(SettingError):
        change(gw, "export_limit_w", 999_999)
    assert not Command.objects.exists()


# --- the lifecycle ---------------------------------------------------------------------


def test_a_command_records_who_asked_and_when_and_expires_a_day_later(gw):
    command = change(gw)
    assert command.status == S.PENDING and command.requested_by == gw.owner
    assert command.expires_at - command.requested_at == COMMAND_LIFETIME


def test_a_newer_change_supersedes_an_unsent_one_of_the_same_setting_only(gw):
    first = change(gw, "mode", "green")
    other = change(gw, "reserve_soc_pct", 30)
    second = change(gw, "mode", "economy")
    first.refresh_from_db()
    other.refresh_from_db()
    assert first.status == S.SUPERSEDED and other.status == S.PENDING
    assert [c.pk for c in hand_out(gw)] == [other.pk, second.pk]


def test_a_sent_command_is_not_superseded_and_is_handed_out_until_answered(gw):
    first = change(gw, "mode", "green")
    assert [c.pk for c in hand_out(gw)] == [first.pk]
    first.refresh_from_db()
    assert first.status == S.SENT and first.sent_at is not None
    second = change(gw, "mode", "economy")
    first.refresh_from_db()
    assert first.status == S.SENT
    assert [c.pk for c in hand_out(gw)] == [first.pk, second.pk]


def test_unanswered_commands_expire(gw):
    change(gw, "mode", "green")
    hand_out(gw)  # one sent, one still pending: both expire
    change(gw, "reserve_soc_pct", 20)
    assert expire_commands(now=timezone.now() + COMMAND_LIFETIME - timedelta(seconds=5)) == 0
    assert expire_commands(now=timezone.now() + COMMAND_LIFETIME + timedelta(seconds=1)) == 2
    assert set(Command.objects.values_list("status", flat=True)) == {S.EXPIRED}
    assert hand_out(gw) == []


def test_the_broker_gets_new_commands_once_and_stale_sent_ones_again(gw):
    record_contacts([gw.pk], now=timezone.now())  # heard over MQTT
    note_transport([gw.pk], "mqtt")
    command = change(gw)
    assert [c.pk for c in claim_for_broker()] == [command.pk]
    assert claim_for_broker() == []
    later = timezone.now() + RESEND_AFTER + timedelta(seconds=1)
    assert [c.pk for c in claim_for_broker(now=later)] == [command.pk]


def test_an_https_gateways_commands_wait_for_its_poll_and_stay_supersedable(client, gw):
    """With MQTT on, the ingest worker must not take (and mark 送信済み) the commands of a
    gateway that only speaks HTTPS: they wait for its poll, and a newer change replaces an
    older one still waiting (protocol 2.5)."""
    assert client.get("/api/v1/commands", **auth(gw)).json() == {"commands": []}
    assert GatewayLiveState.objects.get(gateway=gw).transport == "https"
    first = change(gw, "reserve_soc_pct", 20)
    assert claim_for_broker() == []
    first.refresh_from_db()
    assert first.status == S.PENDING
    second = change(gw, "reserve_soc_pct", 30)
    first.refresh_from_db()
    assert first.status == S.SUPERSEDED
    polled = client.get("/api/v1/commands", **auth(gw)).json()["commands"]
    assert [c["id"] for c in polled] == [second.pk]


def test_a_gateway_moving_to_mqtt_gets_its_commands_there(client, gw):
    client.get("/api/v1/commands", **auth(gw))
    command = change(gw)
    assert claim_for_broker() == []
    body = {"gateway_id": gw.gateway_id, "events": []}
    process_messages(
        [Incoming(f"essmon/v1/{gw.gateway_id}/events", json.dumps(body).encode())],
        cache=GatewayCache(),
    )
    assert GatewayLiveState.objects.get(gateway=gw).transport == "mqtt"
    assert [c.pk for c in claim_for_broker()] == [command.pk]


# --- HTTPS -----------------------------------------------------------------------------


def test_get_commands_hands_out_the_protocol_message(client, gw):
    command = change(gw, "reserve_soc_pct", 40)
    response = client.get("/api/v1/commands", **auth(gw))
    assert response.status_code == 200
    (message,) = response.json()["commands"]
    assert message["id"] == command.pk and message["setting"] == "reserve_soc_pct"
    assert message["value"] == 40 and message["issued_at"].endswith("+09:00")
    # handed out again until answered: a lost answer loses no command
    assert [m["id"] for m in client.get("/api/v1/commands", **auth(gw)).json()["commands"]] == [
        command.pk
    ]


def test_asking_for_commands_counts_as_contact(client, gw):
    from essmon.telemetry.models import GatewayLiveState

    client.get("/api/v1/commands", **auth(gw))
    assert GatewayLiveState.objects.filter(gateway=gw).exists()


@pytest.mark.parametrize("wait", ["31", "-1", "abc", "１", "²", "9" * 5000, "0" * 5000])
def test_a_bad_wait_is_refused(client, gw, wait):
    response = client.get(f"/api/v1/commands?wait={wait}", **auth(gw))
    assert response.status_code == 400 and "wait" in response.json()["error"]


def test_commands_need_the_device_secret(client, gw):
    response = client.get(
        "/api/v1/commands", HTTP_AUTHORIZATION=f"Gateway {gw.gateway_id}:wrong-secret"
    )
    assert response.status_code == 401


@pytest.mark.django_db(transaction=True)
def test_a_long_poll_returns_as_soon_as_a_command_is_made(client):
    gw = factories.connected_gateway(provisioned_days_ago=1)

    def later():
        try:
            change(gw)
        finally:
            connection.close()  # this thread's own connection

    timer = threading.Timer(1.0, later)
    timer.start()
    started = time.monotonic()
    response = client.get("/api/v1/commands?wait=10", **auth(gw))
    timer.join()
    assert len(response.json()["commands"]) == 1
    assert time.monotonic() - started < 5  # woken by the command, not by the 10 s limit


def test_results_finish_commands(client, gw):
    applied, refused = change(gw, "mode", "green"), change(gw, "reserve_soc_pct", 90)
    hand_out(gw)
    response = post_results(
        client, gw, [result(applied), result(refused, "rejected", reason="battery service mode")]
    )
    assert response.json() == {"accepted": 2, "duplicates": 0, "rejected": []}
    applied.refresh_from_db()
    refused.refresh_from_db()
    assert applied.status == S.APPLIED and applied.answered_at and applied.result_ts
    assert refused.status == S.REJECTED and refused.reason == "battery service mode"
    assert hand_out(gw) == []
    again = post_results(client, gw, [result(applied)])
    assert again.json() == {"accepted": 0, "duplicates": 1, "rejected": []}


def test_results_that_cannot_be_taken_are_refused_by_index(client, gw):
    other_gw = factories.connected_gateway(provisioned_days_ago=1)
    foreign = change(other_gw)
    stale = change(gw, "mode", "green")
    change(gw, "mode", "economy")  # supersedes the unsent one
    answered = change(gw, "reserve_soc_pct", 30)
    post_results(client, gw, [result(answered)])
    response = post_results(
        client,
        gw,
        [
            result(foreign),
            result(stale),
            result(answered, "rejected", reason="x"),
            {"command_id": answered.pk, "status": "rejected", "ts": timezone.now().isoformat()},
            {"command_id": "7", "status": "applied", "ts": timezone.now().isoformat()},
            {"command_id": answered.pk, "status": "done", "ts": timezone.now().isoformat()},
        ],
    )
    body = response.json()
    assert body["accepted"] == 0
    reasons = {r["index"]: r["reason"] for r in body["rejected"]}
    assert "not a command for this gateway" in reasons[0]
    assert "is superseded" in reasons[1]
    assert "already answered as applied" in reasons[2]
    assert "reason: required" in reasons[3]
    assert "command_id: expected" in reasons[4]
    assert "status: 'done'" in reasons[5]
    foreign.refresh_from_db()
    assert foreign.status == S.PENDING
