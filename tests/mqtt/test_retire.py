"""``essmon ingest-mqtt --retire`` against a real Mosquitto: a worker removed for good has
its session unsubscribed, drained through the normal batch path and ended, while the other
workers go on."""

import signal
import threading
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from essmon.mqtt.client import Client, Settings
from essmon.mqtt.models import IngestCounter
from essmon.telemetry.models import Sample
from tests import factories
from tests.mosquitto import SERVICE
from tests.mqtt_helpers import SamplePublisher, WorkerThread, connect, gateway_client
from tests.waiting import wait_until


def retire(client_id: str) -> str:
    """The command, as an operator runs it; its signal handlers undone after it."""
    handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    out = StringIO()
    try:
        call_command("ingest-mqtt", "--retire", "--client-id", client_id, stdout=out)
    finally:
        for number, handler in handlers.items():
            signal.signal(number, handler)
    return out.getvalue()


def has_session(broker, client_id: str) -> bool:
    """Whether the broker holds a session under ``client_id``. The probe resumes one it finds
    and leaves it as it was (a normal DISCONNECT; what it holds is not acknowledged, so it
    stays); one it had to open, it ends."""
    probe = Client(
        Settings(
            "127.0.0.1",
            broker.service_port,
            client_id,
            SERVICE.username,
            SERVICE.password,
            False,
            (),
            session_expiry=3600,
            receive_maximum=1,
        ),
        message=lambda topic, payload: None,
    )
    present = probe.connect().session_present
    probe.stop(end_session=not present)
    return present


def stored(gw) -> list[int]:
    return sorted(Sample.objects.filter(gateway=gw).values_list("seq", flat=True))


@pytest.mark.django_db(transaction=True)
def test_a_stopped_worker_retired_while_messages_flow_loses_nothing_and_gets_nothing_after(
    broker, settings
):
    settings.MQTT_URL = broker.url
    gw = factories.connected_gateway()
    broker.reload()
    device = connect(gateway_client(broker, gw), broker)
    stream = SamplePublisher(device, gw)
    with WorkerThread(broker, client_id="essmon-ingest-b") as other:
        with WorkerThread(broker, client_id="essmon-ingest-a"):
            stream.publish(range(100))
            stream.finish(range(100))
            wait_until(lambda: len(stored(gw)) == 100, 15, "100 samples, both workers up")
        # worker a stopped (a normal DISCONNECT): its session keeps its place in the shared
        # subscription, and the broker queues every other message in it
        flowing = threading.Thread(
            target=stream.publish, args=(range(100, 400),), kwargs={"per_second": 100}
        )
        flowing.start()
        wait_until(lambda: len(stored(gw)) >= 150, 15, "the stream under way")
        assert has_session(broker, "essmon-ingest-a")
        printed = retire("essmon-ingest-a")  # while the stream goes on
        flowing.join()
        stream.finish(range(400))
        wait_until(lambda: len(stored(gw)) == 400, 15, "400 samples")
        assert "unsubscribed from the shared subscription (UNSUBACK 0x00 (success)" in printed
        drained = int(printed.split("ingested the ")[1].split(" messages")[0])
        assert drained >= 20, printed  # a's share of the stream while it was stopped
        assert "session ended (Session Expiry Interval 0)" in printed
        # afterwards nothing is routed to the retired ID: the other worker takes every message
        assert not has_session(broker, "essmon-ingest-a")
        before = other.totals["samples_accepted"]
        stream.publish(range(400, 450))
        stream.finish(range(400, 450))
        wait_until(lambda: len(stored(gw)) == 450, 15, "450 samples")
        wait_until(lambda: other.totals["samples_accepted"] - before == 50, 5, "b's 50")
    assert stored(gw) == list(range(450))
    counters = dict(IngestCounter.objects.values_list("name", "count"))
    # every message stored exactly once: none came twice, through any of the three
    assert counters["samples_accepted"] == 450 and not counters.get("samples_duplicate")
    assert not has_session(broker, "essmon-ingest-a")
    device.disconnect()
    device.loop_stop()


@pytest.mark.django_db(transaction=True)
def test_retiring_an_id_the_broker_holds_no_session_for_says_so(broker, settings):
    settings.MQTT_URL = broker.url
    broker.reload()
    printed = retire("essmon-ingest-never-ran")
    assert "the broker held no session under this ID" in printed
    assert not has_session(broker, "essmon-ingest-never-ran")
    with pytest.raises(CommandError, match="no --seconds"):
        call_command("ingest-mqtt", "--retire", "--seconds", "5")


@pytest.mark.django_db(transaction=True)
def test_retiring_a_worker_that_is_still_running_stops_with_an_error(broker, settings):
    """The running worker takes its session back (Mosquitto 2.0 just closes the retiring
    connection): the retirement gives up rather than throw it out again, and the worker
    goes on, subscribed again."""
    settings.MQTT_URL = broker.url
    gw = factories.connected_gateway()
    broker.reload()
    with WorkerThread(broker, client_id="essmon-ingest-busy") as running:
        with pytest.raises(CommandError, match=r"the broker closed the connection.*still running"):
            retire("essmon-ingest-busy")
        wait_until(lambda: running.generation == 2 and running.subscribed.is_set(), 10, "back")
        device = connect(gateway_client(broker, gw), broker)
        stream = SamplePublisher(device, gw)
        stream.publish(range(5))
        stream.finish(range(5))
        wait_until(lambda: len(stored(gw)) == 5, 10, "5 samples through the running worker")
    device.disconnect()
    device.loop_stop()
