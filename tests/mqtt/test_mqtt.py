"""MQTT: the broker's generated credentials and ACL, the ingest of a batch of messages,
dead letters, and the worker end to end against a real Mosquitto."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from essmon.commands.models import Command
from essmon.commands.services import request_setting_change
from essmon.gateways.services.credentials import rotate_device_secret
from essmon.mqtt.broker import (
    BrokerFiles,
    acl_file_text,
    password_file_text,
    service_acl_file_text,
    service_password_file_text,
    write_broker_files,
)
from essmon.mqtt.models import DeadLetter, IngestCounter
from essmon.mqtt.process import GatewayCache, Incoming, process_messages
from essmon.telemetry.connectivity import is_online
from essmon.telemetry.models import ConnectivityInterval, GatewayLiveState, Sample
from tests import factories
from tests.factories import sample
from tests.mosquitto import SERVICE
from tests.mqtt_helpers import (
    SamplePublisher,
    WorkerThread,
    client,
    connect,
    gateway_client,
)
from tests.waiting import wait_until


def message(gw, kind, body) -> Incoming:
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Incoming(f"essmon/v1/{gw.gateway_id}/{kind}", payload)


# --- credentials ------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_gateways_password_file_carries_each_gateways_hash_and_no_service_user(tmp_path):
    gw = factories.connected_gateway()
    unsecured = factories.gateway()
    text = password_file_text()
    assert f"{gw.gateway_id}:$7$101$" in text
    assert unsecured.gateway_id not in text  # no device secret, no broker login
    assert SERVICE.username not in text and gw.secret not in text
    assert password_file_text() == text  # stable: no needless broker reloads
    service = service_password_file_text(SERVICE)
    assert service.startswith(f"{SERVICE.username}:$7$") and service.count("\n") == 1
    assert SERVICE.password not in service and gw.gateway_id not in service
    assert service_password_file_text(SERVICE) == service
    files = BrokerFiles.beside(str(tmp_path / "passwd"))
    assert write_broker_files(files, service=SERVICE)
    assert not write_broker_files(files, service=SERVICE)
    rotate_device_secret(gateway=gw)
    assert write_broker_files(files, service=SERVICE)
    assert [path.name for path in files] == [
        "passwd",
        "passwd.acl",
        "service-passwd",
        "service-passwd.acl",
    ]
    assert (tmp_path / "service-passwd").read_text() == service


def test_the_acl_gives_each_gateway_its_own_topics_only():
    text = acl_file_text()
    assert "pattern write essmon/v1/%u/telemetry" in text
    assert "pattern read essmon/v1/%u/commands" in text
    assert "pattern write essmon/v1/%u/commands" not in text
    assert "user" not in text and "topic " not in text
    service = service_acl_file_text(SERVICE)
    assert "user essmon-ingest\ntopic read essmon/v1/+/telemetry" in service
    assert "topic write essmon/v1/+/commands" in service and "pattern" not in service


# --- one batch of messages ---------------------------------------------------------------


@pytest.mark.django_db
def test_a_batch_from_many_gateways_is_stored_in_one_go():
    a, b = factories.connected_gateway(), factories.connected_gateway()
    messages = [
        message(gw, "telemetry", {"gateway_id": gw.gateway_id, "samples": [sample(n)]})
        for n in range(5)
        for gw in (a, b)
    ]
    messages.append(messages[0])  # a repeat
    outcome = process_messages(messages, cache=GatewayCache())
    assert outcome.counts["samples_accepted"] == 10 and outcome.counts["samples_duplicate"] == 1
    assert sorted(Sample.objects.filter(gateway=a).values_list("seq", flat=True)) == [0, 1, 2, 3, 4]
    assert GatewayLiveState.objects.get(gateway=b).last_seq == 4
    assert ConnectivityInterval.objects.filter(online_until__isnull=True).count() == 2
    assert not DeadLetter.objects.exists()


@pytest.mark.django_db
def test_what_cannot_be_used_becomes_a_dead_letter_and_the_rest_is_kept():
    gw, other = factories.connected_gateway(), factories.connected_gateway()
    good = {"gateway_id": gw.gateway_id, "samples": [sample(1), sample(2, soc_pct=130)]}
    messages = [
        message(gw, "telemetry", b"{not json"),
        message(gw, "telemetry", b"\xff\xfe"),
        message(gw, "telemetry", {"gateway_id": other.gateway_id, "samples": [sample(3)]}),
        message(gw, "telemetry", {"gateway_id": gw.gateway_id, "samples": "many"}),
        Incoming("essmon/v1/99ZZ99999999/telemetry", b"{}"),
        Incoming("essmon/v1/x", b"{}"),
        message(gw, "status", {"gateway_id": gw.gateway_id, "status": {"ts": "yesterday"}}),
        message(gw, "telemetry", good),
    ]
    outcome = process_messages(messages, cache=GatewayCache())
    reasons = list(DeadLetter.objects.order_by("pk").values_list("reason", flat=True))
    assert len(reasons) == 8 and outcome.counts["dead_letters"] == 8
    assert "not valid JSON" in reasons[0] and "not UTF-8" in reasons[1]
    assert "is not the topic's" in reasons[2] and "samples: expected a JSON array" in reasons[3]
    assert "unknown gateway '99ZZ99999999'" in reasons[4] and reasons[5].startswith("topic:")
    assert reasons[6] == "[1] soc_pct: 130 is above 100"  # samples first, then the rest
    assert "missing field(s): firmware, settings" in reasons[7]
    assert list(Sample.objects.values_list("seq", flat=True)) == [1]
    letter = DeadLetter.objects.get(reason__contains="not valid JSON")
    assert letter.gateway_id == gw.gateway_id and letter.payload == "{not json"


@pytest.mark.django_db
def test_one_gateways_junk_keeps_a_few_letters_an_hour_and_counts_the_rest(settings, caplog):
    """A broken gateway, or a leaked device secret, publishing junk at broker speed."""
    import time_machine
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from essmon.mqtt.process import DeadLetterCap, add_counts

    settings.DEAD_LETTERS_PER_GATEWAY_PER_HOUR = 7
    noisy, quiet = factories.connected_gateway(), factories.connected_gateway()
    cap, cache = DeadLetterCap(), GatewayCache()  # the worker keeps both for its life
    start = timezone.now().replace(minute=5)
    junk = [message(noisy, "telemetry", b"{junk %d" % i) for i in range(500)]
    with time_machine.travel(start, tick=False), caplog.at_level("WARNING", "essmon.mqtt"):
        for i in range(0, 500, 50):
            with CaptureQueriesContext(connection) as queries:
                outcome = process_messages(junk[i : i + 50], cache=cache, cap=cap)
            add_counts(outcome.counts)
            cap_queries = [
                q for q in queries if q["sql"].startswith("SELECT") and "deadletter" in q["sql"]
            ]
            assert len(cap_queries) == (1 if i == 0 else 0)  # full: no query, however many
        outcome = process_messages(
            [message(quiet, "status", {"gateway_id": "x"})], cap=cap, cache=cache
        )
        add_counts(outcome.counts)
    assert DeadLetter.objects.filter(gateway_id=noisy.gateway_id).count() == 7
    assert DeadLetter.objects.filter(gateway_id=quiet.gateway_id).count() == 1
    counters = dict(IngestCounter.objects.values_list("name", "count"))
    assert counters["dead_letters"] == 8 and counters["dead_letters_dropped"] == 493
    assert counters["messages"] == 501
    over = [r for r in caplog.records if "dead letters this hour" in r.getMessage()]
    assert len(over) == 1 and noisy.gateway_id in over[0].getMessage()
    assert len([r for r in caplog.records if r.getMessage().startswith("dead letter on")]) == 8
    # the next hour a few are kept again
    with time_machine.travel(start + timedelta(hours=1), tick=False):
        process_messages(junk[:10], cache=cache, cap=cap)
    assert DeadLetter.objects.filter(gateway_id=noisy.gateway_id).count() == 14


@pytest.mark.django_db
def test_the_purge_job_deletes_dead_letters_past_their_retention(settings):
    from essmon.core.scheduler import JOBS
    from essmon.mqtt.process import purge_dead_letters

    settings.DEAD_LETTER_RETENTION_DAYS = 30
    gw = factories.connected_gateway()
    now = timezone.now()
    for days in (31, 29, 0):
        DeadLetter.objects.create(
            received_at=now - timedelta(days=days),
            topic="t",
            gateway_id=gw.gateway_id,
            reason=f"{days} days old",
        )
    assert purge_dead_letters() == 1
    assert sorted(DeadLetter.objects.values_list("reason", flat=True)) == [
        "0 days old",
        "29 days old",
    ]
    assert "essmon.mqtt.process.purge_dead_letters" in {job.func_path for job in JOBS}


@pytest.mark.django_db
def test_status_events_results_and_the_last_will():
    gw = factories.connected_gateway()
    command = request_setting_change(gateway=gw, setting="mode", value="green", requested_by=None)
    now = timezone.now().isoformat()
    settings_in_force = {
        "mode": "green",
        "charge_window": ["23:00", "07:00"],
        "discharge_window": ["07:00", "23:00"],
        "reserve_soc_pct": 30,
        "export_limit_w": 0,
    }
    process_messages(
        [
            message(
                gw,
                "status",
                {
                    "gateway_id": gw.gateway_id,
                    "status": {"ts": now, "firmware": "2.0.1", "settings": settings_in_force},
                },
            ),
            message(
                gw,
                "events",
                {
                    "gateway_id": gw.gateway_id,
                    "events": [{"ts": now, "code": "E203", "severity": "major", "state": "start"}],
                },
            ),
            message(
                gw,
                "results",
                {
                    "gateway_id": gw.gateway_id,
                    "results": [{"command_id": command.pk, "status": "applied", "ts": now}],
                },
            ),
        ],
        cache=GatewayCache(),
    )
    assert GatewayLiveState.objects.get(gateway=gw).firmware == "2.0.1"
    assert gw.events.get().code == "E203"
    command.refresh_from_db()
    assert command.status == Command.Status.APPLIED
    assert ConnectivityInterval.objects.get(gateway=gw).online_until is None
    process_messages(
        [message(gw, "status", {"gateway_id": gw.gateway_id, "connection": "lost"})],
        cache=GatewayCache(),
    )
    interval = ConnectivityInterval.objects.get(gateway=gw)
    live = GatewayLiveState.objects.get(gateway=gw)
    assert interval.online_until == live.last_seen_at
    # offline at once, for every screen, not only after the silence threshold
    assert live.connection_lost and not is_online(live)
    assert live.transport == "mqtt"  # the broker speaking for it still was MQTT
    process_messages(
        [message(gw, "events", {"gateway_id": gw.gateway_id, "events": []})],
        cache=GatewayCache(),
        now=timezone.now() + timedelta(seconds=5),
    )
    live.refresh_from_db()
    assert not live.connection_lost and is_online(live)


# --- against a real Mosquitto -------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_anonymous_and_wrong_passwords_are_refused(broker):
    gw = factories.connected_gateway()
    broker.reload()
    for username, password in [("", ""), (gw.gateway_id, "wrong-secret-wrong-secret")]:
        made = client(broker, username, password, client_id="intruder")
        if not username:
            made.username_pw_set(None)
        made.connect("127.0.0.1", broker.port)
        made.loop_start()
        assert not made.connected_event.wait(1.5)
        made.loop_stop()
    connect(gateway_client(broker, gw), broker).disconnect()


@pytest.mark.django_db(transaction=True)
def test_a_gateway_can_neither_publish_nor_subscribe_to_anothers_topics(broker):
    a, b = factories.connected_gateway(), factories.connected_gateway()
    broker.reload()
    heard: list = []
    service = client(broker, SERVICE.username, SERVICE.password, client_id="listener")
    service.on_message = lambda c, u, m: heard.append(m.topic)
    connect(service, broker, persistent=False, port=broker.service_port)
    service.subscribe("essmon/v1/+/telemetry", qos=1)
    gw_a = gateway_client(broker, a)
    gw_a.on_message = lambda c, u, m: heard.append(("A got", m.topic))
    subacks: list = []
    gw_a.on_subscribe = lambda c, u, mid, codes, p: subacks.append(mid)
    connect(gw_a, broker, persistent=False)
    body = json.dumps({"gateway_id": b.gateway_id, "samples": [sample(1)]})
    gw_a.publish(f"essmon/v1/{b.gateway_id}/telemetry", body, qos=1).wait_for_publish(5)
    gw_a.publish(f"essmon/v1/{b.gateway_id}/status", body, qos=1).wait_for_publish(5)
    # Mosquitto's ACL file grants these SUBACKs and checks "read" on each delivery instead
    gw_a.subscribe(f"essmon/v1/{b.gateway_id}/commands", qos=1)
    gw_a.subscribe("essmon/v1/+/commands", qos=1)
    gw_a.subscribe(f"essmon/v1/{b.gateway_id}/#", qos=1)
    gw_a.subscribe(f"essmon/v1/{a.gateway_id}/commands", qos=1)
    wait_until(lambda: len(subacks) == 4, 5, "A's four SUBACKs")
    service.publish(f"essmon/v1/{b.gateway_id}/commands", '{"commands": []}', qos=1)
    service.publish(f"essmon/v1/{a.gateway_id}/commands", '{"commands": []}', qos=1)
    gw_a.publish(f"essmon/v1/{a.gateway_id}/telemetry", body, qos=1).wait_for_publish(5)
    # B's messages were sent before A's own by the same publisher, and a broker delivers one
    # publisher's QoS 1 messages to a subscriber in order (MQTT 5.0, 4.6): once A's own have
    # arrived, any of B's that got through has arrived before them
    own = {f"essmon/v1/{a.gateway_id}/telemetry", ("A got", f"essmon/v1/{a.gateway_id}/commands")}
    wait_until(lambda: own <= set(heard), 5, "A's own messages both ways")
    # A reached its own topics both ways (its own commands once per matching subscription),
    # and nothing of B's either way
    assert set(map(str, heard)) == set(
        map(
            str,
            [
                f"essmon/v1/{a.gateway_id}/telemetry",
                ("A got", f"essmon/v1/{a.gateway_id}/commands"),
            ],
        )
    )


@pytest.mark.django_db(transaction=True)
def test_the_worker_ingests_publishes_commands_and_takes_results(broker):
    gw = factories.connected_gateway()
    broker.reload()
    commands: list = []
    device = gateway_client(broker, gw)
    device.on_message = lambda c, u, m: commands.extend(json.loads(m.payload)["commands"])
    connect(device, broker)
    device.subscribe(f"essmon/v1/{gw.gateway_id}/commands", qos=1)
    with WorkerThread(broker) as worker:
        stream = SamplePublisher(device, gw)
        stream.publish(range(200))
        stream.finish(range(200))
        wait_until(lambda: Sample.objects.filter(gateway=gw).count() == 200, 15, "200 samples")
        command = request_setting_change(
            gateway=gw, setting="reserve_soc_pct", value=50, requested_by=gw.owner
        )
        wait_until(lambda: commands, 10, "the command on MQTT")
        assert commands[0]["id"] == command.pk and commands[0]["value"] == 50
        result = {"command_id": command.pk, "status": "applied", "ts": timezone.now().isoformat()}
        device.publish(
            f"essmon/v1/{gw.gateway_id}/results",
            json.dumps({"gateway_id": gw.gateway_id, "results": [result]}),
            qos=1,
        ).wait_for_publish(5)
        wait_until(
            lambda: Command.objects.get(pk=command.pk).status == Command.Status.APPLIED,
            10,
            "the result",
        )
        device.publish(f"essmon/v1/{gw.gateway_id}/telemetry", b"garbage", qos=1)
        wait_until(DeadLetter.objects.exists, 10, "a dead letter")
        assert worker.totals["samples_accepted"] == 200
    counters = dict(IngestCounter.objects.values_list("name", "count"))
    assert counters["samples_accepted"] == 200 and counters["dead_letters"] == 1
    device.loop_stop()


@pytest.mark.django_db(transaction=True)
def test_a_stream_worker_writes_a_gateways_live_state_at_most_every_few_seconds():
    from datetime import timedelta

    from essmon.telemetry.connectivity import ContactBuffer

    gw = factories.connected_gateway()
    contacts = ContactBuffer(every=timedelta(seconds=15))
    start = timezone.now()

    def send(seq, seconds):
        messages = [
            message(gw, "telemetry", {"gateway_id": gw.gateway_id, "samples": [sample(seq)]})
        ]
        process_messages(
            messages,
            cache=GatewayCache(),
            contacts=contacts,
            now=start + timedelta(seconds=seconds),
        )
        return GatewayLiveState.objects.get(gateway=gw)

    assert send(0, 0).last_seq == 0  # the first message is written at once: it opens the interval
    assert ConnectivityInterval.objects.filter(gateway=gw, online_until__isnull=True).exists()
    assert send(1, 5).last_seq == 0  # held back
    assert send(2, 10).last_seq == 0
    state = send(3, 16)
    assert state.last_seq == 3 and state.last_seen_at == start + timedelta(seconds=16)
    send(4, 20)
    from django.db import transaction

    with transaction.atomic():
        contacts.flush()  # the stream paused
    state = GatewayLiveState.objects.get(gateway=gw)
    assert state.last_seq == 4 and state.last_seen_at == start + timedelta(seconds=20)
    assert Sample.objects.filter(gateway=gw).count() == 5


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b'{"gateway_id": "X", "samples": [' + b"1" * 5000 + b"]}", "not usable JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "not usable JSON"),
        (b'{"gateway_id": "X", "firmware": "\\u0000"}', "NUL character"),
    ],
)
def test_json_python_cannot_take_is_a_dead_letter_not_a_crash(payload, reason):
    gw = factories.connected_gateway()
    process_messages([message(gw, "status", payload)], cache=GatewayCache())
    assert reason in DeadLetter.objects.get().reason


@pytest.mark.django_db
def test_a_number_too_large_for_a_float_is_refused_by_name():
    gw = factories.connected_gateway()
    body = json.dumps({"gateway_id": gw.gateway_id, "samples": [sample(1)]}).replace(
        '"pv_w": 1200.0', '"pv_w": 1' + "0" * 400
    )
    process_messages([message(gw, "telemetry", body.encode())], cache=GatewayCache())
    assert DeadLetter.objects.get().reason == "[0] pv_w: too large a number"


@pytest.mark.django_db(transaction=True)
def test_a_batch_the_database_refuses_is_taken_one_message_at_a_time(broker):
    from essmon.mqtt.broker import broker_address
    from essmon.mqtt.worker import Batch, IngestWorker

    kept, removed = factories.connected_gateway(), factories.connected_gateway()
    worker = IngestWorker(broker_address(broker.url), client_id="t", share_group="g")
    batch = [
        message(gw, "telemetry", {"gateway_id": gw.gateway_id, "samples": [sample(1)]})
        for gw in (kept, removed)
    ]
    worker.cache.load({kept.gateway_id, removed.gateway_id})  # the worker knew both
    removed.delete()  # and one went from the registry before the batch came
    # never connected: nothing to acknowledge, and no connection for it
    worker._ingest(Batch(batch, list(range(1, len(batch) + 1)), [-1] * len(batch)))
    assert Sample.objects.filter(gateway=kept).count() == 1
    # the whole batch failed at COMMIT (deferred foreign key); one at a time, with the
    # cache renewed, the removed gateway's message is a dead letter and the rest is stored
    letter = DeadLetter.objects.get(gateway_id=removed.gateway_id)
    assert letter.reason == f"unknown gateway {removed.gateway_id!r}"


@pytest.mark.django_db(transaction=True)
def test_the_worker_keeps_its_connection_through_a_batch_longer_than_the_keep_alive(
    broker, monkeypatch
):
    """Keep-alive 2 s, so Mosquitto drops a client silent for 3 s; the first batch takes
    8 s in the database (Mosquitto checks every few seconds). The worker's keep-alive
    thread pings meanwhile: the connection stays, and the batch is acknowledged on it."""
    import time

    from essmon.mqtt import worker as worker_module

    monkeypatch.setattr(worker_module, "KEEPALIVE_SECONDS", 2)
    real = worker_module.process_messages
    slowed: list = []

    def slow(messages, **kw):
        if not slowed:
            slowed.append(len(messages))
            time.sleep(8)
        return real(messages, **kw)

    monkeypatch.setattr(worker_module, "process_messages", slow)
    gw = factories.connected_gateway()
    broker.reload()
    device = connect(gateway_client(broker, gw), broker)
    with WorkerThread(broker) as worker:
        stream = SamplePublisher(device, gw)
        stream.publish(range(20))
        stream.finish(range(20))
        wait_until(lambda: Sample.objects.filter(gateway=gw).count() == 20, 20, "20 samples")
        assert slowed and worker.generation == 1 and worker.losses == []
        assert worker.totals["samples_accepted"] == 20  # none came twice: all acknowledged
    device.disconnect()
    device.loop_stop()
    assert "exceeded timeout" not in broker.log()


@pytest.mark.django_db(transaction=True)
def test_the_worker_connects_again_after_a_broker_restart_and_subscribes_again(broker, caplog):
    gw = factories.connected_gateway()
    broker.reload()
    with caplog.at_level("WARNING", "essmon.mqtt.worker"), WorkerThread(broker) as worker:
        broker.stop()
        wait_until(lambda: not worker.connected.is_set(), 10, "the worker to see the loss")
        broker.start()
        wait_until(lambda: worker.generation == 2 and worker.subscribed.is_set(), 20, "again")
        device = connect(gateway_client(broker, gw), broker)
        stream = SamplePublisher(device, gw)
        stream.publish(range(5))
        stream.finish(range(5))
        wait_until(lambda: Sample.objects.filter(gateway=gw).count() == 5, 10, "5 samples")
        device.disconnect()
        device.loop_stop()
    assert "lost the broker (the broker closed the connection); reconnecting" in caplog.text
