"""MQTT identity against a real Mosquitto set up as docs/deployment.md says: no gateway can
take an ingest worker's session or another gateway's, nor reach the service's listener,
and the worker's client ID cannot be guessed."""

import socket
import threading
import time
from io import StringIO

import paho.mqtt.client as mqtt
import pytest
from django.core.management import call_command
from django.test import override_settings

from essmon.mqtt.worker import worker_client_id
from essmon.telemetry.models import Sample
from tests import factories
from tests.mosquitto import SERVICE
from tests.mqtt_helpers import (
    SamplePublisher,
    WorkerThread,
    client,
    connack,
    connect,
    gateway_client,
)
from tests.waiting import wait_until

N = 200


def watched(made: mqtt.Client) -> mqtt.Client:
    """Record every time the broker drops the client (paho reconnects it by itself)."""
    made.drops = []
    before = made.on_disconnect

    def on_disconnect(c, u, flags, reason_code, properties) -> None:
        made.drops.append(reason_code)
        before(c, u, flags, reason_code, properties)

    made.on_disconnect = on_disconnect
    return made


# --- the worker's client ID ------------------------------------------------------------


def test_the_workers_client_id_is_stable_and_cannot_be_guessed_from_the_host_name():
    def default() -> str:
        out = StringIO()
        call_command("ingest-mqtt", "--print-client-id", stdout=out)
        return out.getvalue().strip()

    host = socket.gethostname()
    made = default()
    # the old default, essmon-ingest-<host>, was anyone's guess
    assert made != f"essmon-ingest-{host}" and made.startswith(f"essmon-ingest-{host}-")
    assert len(made.removeprefix(f"essmon-ingest-{host}-")) == 32  # 128 bits of a keyed hash
    assert default() == made  # the same at every start: its persistent session resumes
    assert worker_client_id(host) == made and worker_client_id("other") != made
    with override_settings(SECRET_KEY="another secret key, another deployment"):
        assert default() != made


# --- against a real Mosquitto -------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "worker_id",
    [
        pytest.param(worker_client_id(socket.gethostname()), id="the worker's own id"),
        pytest.param(f"essmon-ingest-{socket.gethostname()}", id="the old guessable default"),
    ],
)
def test_a_gateway_using_the_workers_client_id_does_not_take_its_session(broker, worker_id):
    intruder, victim = factories.connected_gateway(), factories.connected_gateway()
    broker.reload()
    with WorkerThread(broker, client_id=worker_id) as worker:
        # the intruder knows (or guessed) the worker's ID and logs in with its own secret
        taker = connect(gateway_client(broker, intruder, client_id=worker_id), broker)
        device = connect(gateway_client(broker, victim), broker)
        stream = SamplePublisher(device, victim)
        stream.publish(range(N))
        # every sample the broker acknowledged with reason 0 must reach the database
        stream.finish(range(N), timeout=30)
        wait_until(
            lambda: Sample.objects.filter(gateway=victim).count() == N, 15, "every sample stored"
        )
        assert worker.losses == [] and worker.connected.is_set()
        assert worker.generation == 1  # never reconnected: its session was never taken
        assert taker.connected_event.is_set()  # logged in, under its own ID: a session of its own
        for made in (taker, device):
            made.disconnect()
            made.loop_stop()
    assert f"as {intruder.gateway_id} " in broker.log()


@pytest.mark.django_db(transaction=True)
def test_a_gateway_using_another_gateways_id_cannot_knock_it_offline(broker):
    intruder, victim = factories.connected_gateway(), factories.connected_gateway()
    broker.reload()
    commands: list = []
    device = watched(connect(gateway_client(broker, victim), broker))
    device.on_message = lambda c, u, m: commands.append(m.topic)
    device.subscribe(f"essmon/v1/{victim.gateway_id}/commands", qos=1)
    taker = connect(gateway_client(broker, intruder, client_id=victim.gateway_id), broker)
    heard_by_taker: list = []
    taker.on_message = lambda c, u, m: heard_by_taker.append(m.topic)
    own = f"essmon/v1/{intruder.gateway_id}/commands"
    subscribed = threading.Event()
    taker.on_subscribe = lambda c, u, mid, codes, p: subscribed.set()
    taker.subscribe(own, qos=1)
    assert subscribed.wait(5), "the intruder's SUBACK"
    # the victim's session is still its own: its commands reach it, none the intruder. The
    # old set-up dropped the victim at once when the intruder connected: the drop would
    # come before the command on the victim's connection.
    service = client(broker, SERVICE.username, SERVICE.password, client_id="commands")
    connect(service, broker, persistent=False, port=broker.service_port)
    service.publish(f"essmon/v1/{victim.gateway_id}/commands", '{"commands": []}', qos=1)
    service.publish(own, '{"commands": []}', qos=1)  # sent after the victim's, so heard after
    wait_until(lambda: commands, 5, "the victim's command")
    wait_until(lambda: heard_by_taker, 5, "the intruder's own command")
    assert device.drops == [] and device.connected_event.is_set()
    assert heard_by_taker == [own]
    for made in (taker, device, service):
        made.disconnect()
        made.loop_stop()


@pytest.mark.django_db(transaction=True)
def test_a_subscription_to_another_gateways_topics_is_refused(broker):
    """Protocol section 4: the SUBACK refuses (0x87) what is not the gateway's own commands
    topic; Mosquitto 2.0's ACL file alone would grant it and filter later (its maintainers:
    eclipse/mosquitto#2042), so the gateways' listener runs essmon's plugin."""
    a, b = factories.connected_gateway(), factories.connected_gateway()
    broker.reload()
    subacks: dict = {}
    heard: list = []
    gw_a = gateway_client(broker, a)
    gw_a.on_subscribe = lambda c, u, mid, codes, p: subacks.__setitem__(mid, codes)
    gw_a.on_message = lambda c, u, m: heard.append(m.topic)
    connect(gw_a, broker, persistent=False)
    asked = {
        "own": f"essmon/v1/{a.gateway_id}/commands",
        "other": f"essmon/v1/{b.gateway_id}/commands",
        "other telemetry": f"essmon/v1/{b.gateway_id}/telemetry",
        "own telemetry": f"essmon/v1/{a.gateway_id}/telemetry",
        "wildcard": "essmon/v1/+/commands",
        "own wildcard": f"essmon/v1/{a.gateway_id}/#",
        "everything": "#",
    }
    mids = {name: gw_a.subscribe(topic, qos=1)[1] for name, topic in asked.items()}
    wait_until(lambda: len(subacks) == len(asked), 5, "every SUBACK")
    codes = {name: [str(code) for code in subacks[mid]] for name, mid in mids.items()}
    assert codes.pop("own") == ["Granted QoS 1"]
    assert codes == {name: ["Not authorized"] for name in codes}
    service = client(broker, SERVICE.username, SERVICE.password, client_id="commands")
    connect(service, broker, persistent=False, port=broker.service_port)
    service.publish(f"essmon/v1/{b.gateway_id}/commands", '{"commands": []}', qos=1)
    service.publish(f"essmon/v1/{a.gateway_id}/commands", '{"commands": []}', qos=1)
    # B's was published first by the same client: delivered in order (MQTT 5.0, 4.6), it
    # would have come before A's own
    wait_until(lambda: heard, 5, "A's own command")
    assert heard == [f"essmon/v1/{a.gateway_id}/commands"]
    # and publishing anywhere but its own four topics is refused too (PUBACK 0x87)
    pubacks: dict = {}
    gw_a.on_publish = lambda c, u, mid, code, p: pubacks.__setitem__(mid, str(code))
    denied = gw_a.publish(f"essmon/v1/{b.gateway_id}/telemetry", "{}", qos=1).mid
    commands = gw_a.publish(f"essmon/v1/{a.gateway_id}/commands", "{}", qos=1).mid
    wait_until(lambda: denied in pubacks and commands in pubacks, 5, "the PUBACKs")
    assert pubacks[denied] == pubacks[commands] == "Not authorized"
    for made in (gw_a, service):
        made.disconnect()
        made.loop_stop()


@pytest.mark.django_db(transaction=True)
def test_each_listener_knows_only_its_own_users(broker):
    gw = factories.connected_gateway()
    broker.reload()
    # the service's user and password are no use on the gateways' listener, and a
    # gateway's are no use on the service's
    refused = connack(SERVICE.username, SERVICE.password, broker.port)
    assert refused is not None and refused.is_failure
    refused = connack(gw.gateway_id, gw.secret, broker.service_port)
    assert refused is not None and refused.is_failure
    # each on its own listener
    assert not connack(SERVICE.username, SERVICE.password, broker.service_port).is_failure
    assert not connack(gw.gateway_id, gw.secret, broker.port).is_failure


# --- the files essmon writes, and the configuration docs/deployment.md gives ----------------


@pytest.mark.django_db
def test_the_sync_job_writes_both_listeners_files_and_signals_the_broker(tmp_path, settings):
    from essmon.mqtt.broker import sync_broker_credentials

    gw = factories.connected_gateway()
    pid_file = tmp_path / "mosquitto.pid"
    pid_file.write_text("999999999")  # no such process: the job logs it and goes on
    settings.MQTT_URL = "mqtt://essmon-ingest:service-secret@127.0.0.1:1883"
    settings.MQTT_PASSWORD_FILE = str(tmp_path / "passwd")
    settings.MQTT_ACL_FILE = str(tmp_path / "acl")
    settings.MQTT_BROKER_PID_FILE = str(pid_file)
    assert sync_broker_credentials()
    assert not sync_broker_credentials()
    gateways, service = (tmp_path / "passwd").read_text(), (tmp_path / "service-passwd").read_text()
    assert gw.gateway_id in gateways and "essmon-ingest" not in gateways
    assert service.startswith("essmon-ingest:$7$") and gw.gateway_id not in service
    assert "pattern read essmon/v1/%u/commands" in (tmp_path / "acl").read_text()
    assert "user essmon-ingest" in (tmp_path / "service-acl").read_text()
    settings.MQTT_SERVICE_PASSWORD_FILE = str(tmp_path / "inner" / "users")
    assert sync_broker_credentials() and (tmp_path / "inner" / "users").read_text() == service


def test_the_deployment_docs_configure_the_listeners_as_the_tests_brokers():
    from pathlib import Path

    from essmon.mqtt.broker import BrokerFiles, mosquitto_listeners

    doc = (Path(__file__).resolve().parents[2] / "docs" / "deployment.md").read_text()
    conf = doc.split("# /etc/mosquitto/conf.d/essmon.conf\n", 1)[1].split("```", 1)[0]
    lines = [line for line in conf.splitlines() if line and not line.startswith("#")]
    wanted = mosquitto_listeners(
        BrokerFiles.beside("/etc/mosquitto/essmon/passwd", "/etc/mosquitto/essmon/acl"),
        gateway_listener="8883",
        service_listener="1883 127.0.0.1",
        acl_plugin=Path("/usr/lib/mosquitto/essmon_gateway_acl.so"),
    )
    # in the same order (each listener's settings follow its line), TLS lines between
    assert [line for line in lines if line in wanted] == wanted


@pytest.mark.django_db(transaction=True)
def test_a_worker_pointed_at_the_gateways_listener_says_what_to_fix(broker, caplog):
    """As after an upgrade from one listener with ESSMON_MQTT_URL unchanged."""
    from essmon.mqtt.broker import BrokerAddress
    from essmon.mqtt.worker import IngestWorker

    broker.reload()
    wrong = BrokerAddress("127.0.0.1", broker.port, SERVICE.username, SERVICE.password, False)
    worker = IngestWorker(wrong, client_id="essmon-ingest-misconfigured", share_group="g")
    with caplog.at_level("ERROR", logger="essmon.mqtt.worker"):
        worker.run(until=time.monotonic() + 1.5)
    assert not worker.generation  # never connected
    assert "ESSMON_MQTT_URL must name the broker's service listener" in caplog.text
    assert f"127.0.0.1:{broker.port} as 'essmon-ingest'" in caplog.text
