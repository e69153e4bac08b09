"""Hostile and careless gateway messages (issue 11, section 1): whatever a gateway sends, on
either transport and in any of the four message kinds, essmon answers or dead-letters it,
never fails with a 500, never stops the MQTT worker, and the next good message still lands.

The property-based tests build each message from a valid one and spoil it: a field with a
wrong type, a huge or tiny number, NaN or Infinity, a lone surrogate, NUL, deep nesting; a
field missing, one too many; the item, the list or the whole body replaced."""

from __future__ import annotations

import copy
import itertools
import json
import math
import os
from datetime import datetime, timedelta
from datetime import timezone as fixed_offset

import pytest
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from essmon.commands.models import Command
from essmon.commands.services import request_setting_change
from essmon.mqtt.models import DeadLetter
from essmon.mqtt.process import GatewayCache, Incoming, process_messages
from essmon.telemetry.models import GatewayEvent, GatewayLiveState, Sample
from tests import factories
from tests.mqtt_helpers import WorkerThread, connect, gateway_client
from tests.waiting import wait_until

KINDS = ("telemetry", "status", "events", "results")
PATHS = {
    "telemetry": "/api/v1/telemetry",
    "status": "/api/v1/status",
    "events": "/api/v1/events",
    "results": "/api/v1/results",
}
FUZZ = settings(
    # more for a deeper search: FUZZ_EXAMPLES=2000 pytest tests/project/test_hostile_input.py
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "60")),
    deadline=None,
    database=None,  # nothing written into the checkout
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def nested(depth: int) -> list:
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


# --- what a hostile gateway sends ---------------------------------------------------------

# valid ISO 8601 to Python, refused by PostgreSQL as it stood: an offset with a fraction
ODD_OFFSET_TS = (
    (timezone.now() - timedelta(hours=6))
    .astimezone(fixed_offset(timedelta(hours=5, minutes=30, seconds=15, milliseconds=500)))
    .isoformat()
)

NASTY = st.sampled_from(
    [
        ["running"],
        {"mode": "green"},
        [],
        {},
        None,
        True,
        False,
        "",
        "x" * 5000,
        2**70,
        -(2**70),
        2**63,
        2**63 - 1,
        -1,
        0,
        10**400,
        1e308,
        -1e308,
        5e-324,
        -0.0,
        math.nan,
        math.inf,
        -math.inf,
        "\ud800",
        "ok\udfff",
        "\ud83d",
        "a\x00b",
        "\x00",
        "1.4.2\r\nBcc: x@example.com",
        "２０２６-１１-２４",
        "0²:00",
        nested(60),
        nested(200),
        "2026-11-24T10:15:00",
        "9999-12-31T23:59:59-23:59",
        "0001-01-01T00:00:00+23:59",
        ODD_OFFSET_TS,
        ["23:00", "0²:00"],
        ["23:00"],
        ["23:00", "07:00", "x"],
        [1, 2],
    ]
)
JUNK = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(alphabet=st.characters(codec=None), max_size=20),  # surrogates included
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
# a fresh copy each draw: the same list put in two places (or in itself) is no JSON
HOSTILE = (NASTY | JUNK).map(copy.deepcopy)
RAW_BODIES = st.sampled_from(
    [
        b"",
        b"null",
        b"[]",
        b"NaN",
        b"Infinity",
        b"\xff\xfe",
        b"{" * 100_000,
        b'{"gateway_id": "\\ud800"}',
        b'{"a": 1e999999}',
        b"9" * 5000,
        '{"gateway_id": "x"}'.encode("utf-16"),
    ]
)


def _places(body: dict, item_key: str | None) -> list[tuple[object, object]]:
    """Every (container, key) of ``body`` a spoiler may touch: the body's own fields, the
    item list, the first item and its fields (and a status's settings)."""
    places: list[tuple[object, object]] = [(body, name) for name in body]
    items = body.get(item_key) if item_key else None
    if isinstance(items, list) and items:
        places.append((items, 0))
        if isinstance(items[0], dict):
            places += [(items[0], name) for name in items[0]]
    elif isinstance(items, dict):  # a status
        places += [(items, name) for name in items]
        if isinstance(items.get("settings"), dict):
            places += [(items["settings"], name) for name in items["settings"]]
    return places


@st.composite
def spoiled(draw, valid: dict, item_key: str | None):
    """``valid`` spoiled in one place (or, now and then, two), or replaced whole."""
    if draw(st.integers(min_value=0, max_value=9)) == 0:
        return draw(HOSTILE)
    body = json.loads(json.dumps(valid))
    for _ in range(draw(st.integers(min_value=1, max_value=2))):
        holder, key = draw(st.sampled_from(_places(body, item_key)))
        action = draw(st.sampled_from(["replace", "replace", "drop", "extra"]))
        if isinstance(holder, list):
            holder[key] = draw(HOSTILE)
        elif action == "drop":
            holder.pop(key, None)
        elif action == "extra":
            holder[draw(st.text(min_size=1, max_size=8))] = draw(HOSTILE)
        else:
            holder[key] = draw(HOSTILE)
    return body


def encode(body) -> bytes:
    """As a careless gateway's JSON library writes it: NaN and Infinity as bare words, lone
    surrogates as \\u escapes, any integer in full."""
    return json.dumps(body, allow_nan=True).encode()


def payloads(valid: dict, item_key: str | None):
    return RAW_BODIES | spoiled(valid, item_key).map(encode)


# --- good messages, each new -----------------------------------------------------------

_moment = itertools.count(1)


def fresh_ts() -> str:
    """A distinct instant inside every limit the ingest checks."""
    base = timezone.now() - timedelta(days=1)
    return (base + timedelta(seconds=next(_moment))).replace(microsecond=0).isoformat()


def good_sample() -> dict:
    return factories.sample(next(_moment), ts=fresh_ts())


def good_status() -> dict:
    return {
        "ts": fresh_ts(),
        "firmware": "1.4.2",
        "settings": {
            "mode": "economy",
            "charge_window": ["23:00", "07:00"],
            "discharge_window": ["07:00", "23:00"],
            "reserve_soc_pct": 30,
            "export_limit_w": 0,
        },
    }


def good_event() -> dict:
    return {"ts": fresh_ts(), "code": "E203", "severity": "major", "state": "start"}


def good_body(kind: str, gateway_id: str, *, command_id: int = 1) -> dict:
    if kind == "telemetry":
        return {"gateway_id": gateway_id, "samples": [good_sample()]}
    if kind == "status":
        return {"gateway_id": gateway_id, "status": good_status()}
    if kind == "events":
        return {"gateway_id": gateway_id, "events": [good_event()]}
    result = {"command_id": command_id, "status": "applied", "ts": fresh_ts()}
    return {"gateway_id": gateway_id, "results": [result]}


ITEM_KEY = {"telemetry": "samples", "status": "status", "events": "events", "results": "results"}


def landed(kind: str, gw, body: dict) -> bool:
    """Whether the good message's content is stored."""
    if kind == "telemetry":
        return Sample.objects.filter(gateway=gw, ts=body["samples"][0]["ts"]).exists()
    if kind == "status":
        state = GatewayLiveState.objects.get(gateway=gw)
        return state.status_ts.isoformat() == body["status"]["ts"]
    if kind == "events":
        return GatewayEvent.objects.filter(gateway=gw, ts=body["events"][0]["ts"]).exists()
    return Command.objects.get(pk=body["results"][0]["command_id"]).status == "applied"


def open_command(gw) -> int:
    return request_setting_change(
        gateway=gw, setting="reserve_soc_pct", value=40, requested_by=None
    ).pk


# --- HTTPS ----------------------------------------------------------------------------


def post(client, gw, kind: str, payload: bytes):
    return client.post(
        PATHS[kind],
        payload,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Gateway {gw.gateway_id}:{gw.secret}",
    )


def assert_json_answer(response) -> None:
    assert response.status_code != 500, response.content[:300]
    assert response["Content-Type"] == "application/json", response.content[:300]
    body = response.json()
    if response.status_code == 200 and "accepted" in body:
        for refusal in body["rejected"]:
            assert isinstance(refusal["index"], int) and refusal["reason"]
    elif response.status_code != 200:
        assert body["error"]


@pytest.fixture
def bad_gw(db):
    return factories.connected_gateway(provisioned_days_ago=30)


@pytest.fixture
def good_gw(db):
    return factories.connected_gateway(provisioned_days_ago=30)


def https_case(client, bad_gw, good_gw, kind: str, payload: bytes) -> None:
    assert_json_answer(post(client, bad_gw, kind, payload))
    body = good_body(kind, good_gw.gateway_id, command_id=open_command(good_gw))
    response = post(client, good_gw, kind, json.dumps(body).encode())
    assert response.status_code == 200, response.content
    assert landed(kind, good_gw, body)


@pytest.mark.django_db
@pytest.mark.parametrize("kind", KINDS)
@FUZZ
@given(data=st.data())
def test_https_survives_any_body(client, bad_gw, good_gw, kind, data):
    command = {"command_id": open_command(bad_gw)} if kind == "results" else {}
    valid = good_body(kind, bad_gw.gateway_id, **command)
    https_case(client, bad_gw, good_gw, kind, data.draw(payloads(valid, ITEM_KEY[kind])))


# --- MQTT: the worker's batch ------------------------------------------------------------


def mqtt_case(bad_gw, good_gw, kind: str, payload: bytes) -> None:
    """The bad message and a good one in the same batch, as the worker hands them in."""
    body = good_body(kind, good_gw.gateway_id, command_id=open_command(good_gw))
    bad = Incoming(f"essmon/v1/{bad_gw.gateway_id}/{kind}", payload)
    good = Incoming(f"essmon/v1/{good_gw.gateway_id}/{kind}", json.dumps(body).encode())
    letters = DeadLetter.objects.filter(gateway_id=bad_gw.gateway_id).count()
    outcome = process_messages([bad, good], cache=GatewayCache())
    assert landed(kind, good_gw, body)
    assert not DeadLetter.objects.filter(gateway_id=good_gw.gateway_id).exists()
    new_letters = DeadLetter.objects.filter(gateway_id=bad_gw.gateway_id).count() - letters
    assert new_letters == outcome.counts["dead_letters"] <= 1
    if new_letters:
        letter = DeadLetter.objects.filter(gateway_id=bad_gw.gateway_id).latest("pk")
        assert letter.reason and len(letter.reason) < 2000
        assert not letter.reason.startswith("could not be handled"), letter.reason


@pytest.mark.django_db
@FUZZ
@given(kind=st.sampled_from(KINDS), data=st.data())
def test_mqtt_batch_survives_any_message(bad_gw, good_gw, kind, data):
    command = {"command_id": open_command(bad_gw)} if kind == "results" else {}
    valid = good_body(kind, bad_gw.gateway_id, **command)
    mqtt_case(bad_gw, good_gw, kind, data.draw(payloads(valid, ITEM_KEY[kind])))


# --- the messages that stopped the service, one by one -------------------------------------

REPORTED = [
    (
        "telemetry",
        lambda gw: good_body("telemetry", gw.gateway_id),
        ("samples", 0, "pcs_state"),
        ["running"],
    ),
    (
        "status",
        lambda gw: good_body("status", gw.gateway_id),
        ("status", "settings", "mode"),
        ["green"],
    ),
    (
        "status",
        lambda gw: good_body("status", gw.gateway_id),
        ("status", "settings", "mode"),
        {"mode": "green"},
    ),
    ("status", lambda gw: good_body("status", gw.gateway_id), ("status", "firmware"), "\ud800"),
    (
        "status",
        lambda gw: good_body("status", gw.gateway_id),
        ("status", "settings", "charge_window"),
        ["0²:00", "07:00"],
    ),
    ("results", lambda gw: good_body("results", gw.gateway_id), ("results", 0, "command_id"), [1]),
    (
        "results",
        lambda gw: good_body("results", gw.gateway_id),
        ("results", 0, "command_id"),
        {"id": 1},
    ),
    (
        "results",
        lambda gw: good_body("results", gw.gateway_id),
        ("results", 0, "command_id"),
        2**70,
    ),
    ("results", lambda gw: good_body("results", gw.gateway_id), ("results", 0, "reason"), "\ud800"),
]


def reported(gw, case) -> bytes:
    _, make, path, value = case
    body = make(gw)
    holder = body
    for step in path[:-1]:
        holder = holder[step]
    holder[path[-1]] = value
    return encode(body)


@pytest.mark.django_db
@pytest.mark.parametrize("case", REPORTED, ids=lambda c: f"{c[0]}-{'.'.join(map(str, c[2]))}")
def test_reported_crashers_are_refused_over_https(client, bad_gw, good_gw, case):
    response = post(client, bad_gw, case[0], reported(bad_gw, case))
    assert response.status_code in (200, 400, 422), response.content
    assert response["Content-Type"] == "application/json"
    if response.status_code == 200:
        assert response.json()["rejected"][0]["index"] == 0
    https_case(client, bad_gw, good_gw, case[0], reported(bad_gw, case))


@pytest.mark.django_db
@pytest.mark.parametrize("case", REPORTED, ids=lambda c: f"{c[0]}-{'.'.join(map(str, c[2]))}")
def test_reported_crashers_are_dead_letters_on_mqtt(bad_gw, good_gw, case):
    mqtt_case(bad_gw, good_gw, case[0], reported(bad_gw, case))
    assert DeadLetter.objects.filter(gateway_id=bad_gw.gateway_id).count() == 1


@pytest.mark.django_db
def test_an_offset_with_a_fraction_of_a_second_is_stored_on_both_transports(client, bad_gw):
    """Python reads +05:30:15.500000 as an offset, PostgreSQL refused it: a 500 on HTTPS, a
    whole MQTT batch failed. The instant is kept, in UTC."""
    assert ODD_OFFSET_TS.endswith("+05:30:15.500000")
    body = good_body("telemetry", bad_gw.gateway_id)
    body["samples"][0]["ts"] = ODD_OFFSET_TS
    response = post(client, bad_gw, "telemetry", encode(body))
    assert response.status_code == 200 and response.json()["accepted"] == 1, response.json()
    instant = datetime.fromisoformat(ODD_OFFSET_TS)
    assert Sample.objects.get(gateway=bad_gw).ts == instant
    status = good_body("status", bad_gw.gateway_id)
    status["status"]["ts"] = ODD_OFFSET_TS
    assert post(client, bad_gw, "status", encode(status)).status_code == 200
    later = good_body("telemetry", bad_gw.gateway_id)
    later["samples"][0]["ts"] = (
        (instant + timedelta(minutes=1))
        .astimezone(fixed_offset(timedelta(hours=-3, seconds=-1)))
        .isoformat()
    )
    outcome = process_messages(
        [Incoming(f"essmon/v1/{bad_gw.gateway_id}/telemetry", encode(later))],
        cache=GatewayCache(),
    )
    assert outcome.counts["samples_accepted"] == 1 and not outcome.counts["dead_letters"]


@pytest.mark.django_db
def test_a_chunked_post_is_told_to_send_a_content_length(client, bad_gw):
    body = encode(good_body("telemetry", bad_gw.gateway_id))
    response = client.post(
        PATHS["telemetry"],
        body,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Gateway {bad_gw.gateway_id}:{bad_gw.secret}",
        CONTENT_LENGTH="",
        HTTP_TRANSFER_ENCODING="chunked",
    )
    assert response.status_code == 411
    assert response.json() == {"error": "Content-Length is required (no chunked bodies)"}


@pytest.mark.django_db
def test_a_fault_of_essmons_own_is_a_json_500_not_a_page(client, bad_gw, monkeypatch):
    def broken(**kwargs):
        raise KeyError("a bug nobody foresaw")

    monkeypatch.setattr("essmon.telemetry.api.record_status", broken)
    client.raise_request_exception = False
    response = post(client, bad_gw, "status", encode(good_body("status", bad_gw.gateway_id)))
    assert response.status_code == 500
    assert response.json() == {"error": "essmon could not handle this request; send it again later"}


# --- the real worker against a real broker -----------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_worker_outlives_every_reported_crasher_and_an_unforeseen_fault(broker, monkeypatch):
    bad_gw = factories.connected_gateway(provisioned_days_ago=30)
    good_gw = factories.connected_gateway(provisioned_days_ago=30)
    broker.reload()  # their credentials
    # a fault nobody foresaw, in the handling of one kind of message
    from essmon.mqtt import process

    real = process.record_status

    def fragile(*, gateway, raw, now=None):
        if isinstance(raw, dict) and raw.get("firmware") == "9.9.9-crash":
            raise RuntimeError("a bug nobody foresaw")
        return real(gateway=gateway, raw=raw, now=now)

    monkeypatch.setattr(process, "record_status", fragile)
    unforeseen = good_body("status", bad_gw.gateway_id)
    unforeseen["status"]["firmware"] = "9.9.9-crash"
    bad = [(case[0], reported(bad_gw, case)) for case in REPORTED]
    bad.append(("status", encode(unforeseen)))
    running = WorkerThread(broker)
    with running as worker:
        sender = connect(gateway_client(broker, bad_gw), broker)
        good_sender = connect(gateway_client(broker, good_gw), broker)
        try:
            for kind, payload in bad:
                sender.publish(f"essmon/v1/{bad_gw.gateway_id}/{kind}", payload, qos=1)
            goods = [good_body("telemetry", good_gw.gateway_id) for _ in range(3)]
            for body in goods:
                good_sender.publish(
                    f"essmon/v1/{good_gw.gateway_id}/telemetry", json.dumps(body), qos=1
                )
            wait_until(
                lambda: DeadLetter.objects.filter(gateway_id=bad_gw.gateway_id).count() == len(bad),
                message="every bad message kept as a dead letter",
            )
            wait_until(lambda: all(landed("telemetry", good_gw, b) for b in goods), message="goods")
            assert worker.connected.is_set() and running.thread.is_alive()
        finally:
            sender.loop_stop()
            good_sender.loop_stop()
    reasons = list(DeadLetter.objects.values_list("reason", flat=True))
    assert any("could not be handled (RuntimeError: a bug nobody foresaw)" in r for r in reasons)
    assert any("pcs_state: ['running'] is not one of" in r for r in reasons)


# --- every answer under /api/ is JSON ------------------------------------------------------

ENDPOINTS = {
    **{kind: ("POST", path) for kind, path in PATHS.items()},
    "commands": ("GET", "/api/v1/commands"),
}


@pytest.mark.django_db
@pytest.mark.parametrize("kind", sorted(ENDPOINTS))
def test_a_wrong_method_is_a_json_405_naming_the_right_one(bad_gw, kind):
    allowed, path = ENDPOINTS[kind]
    browser_like = Client(enforce_csrf_checks=True)  # as a real client: no CSRF exemption
    for method in ("GET", "POST", "PUT", "DELETE", "PATCH"):
        if method == allowed:
            continue
        response = browser_like.generic(
            method,
            path,
            b"{}",
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Gateway {bad_gw.gateway_id}:{bad_gw.secret}",
        )
        assert response.status_code == 405, (method, path, response.content[:200])
        assert response["Content-Type"] == "application/json" and response["Allow"] == allowed
        assert response.json()["error"] == f"'{method}' is not allowed here; use {allowed}"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path", ["/api/v1/telemetry/", "/api/v1/nothing", "/api/v2/telemetry", "/api/", "/api/v1/"]
)
def test_an_unknown_api_path_is_a_json_404(path):
    response = Client(enforce_csrf_checks=True).post(path, b"{}", content_type="application/json")
    assert response.status_code == 404 and response["Content-Type"] == "application/json"
    assert "docs/gateway-protocol.md" in response.json()["error"]
