"""Gateways and an ingest worker speaking MQTT to a test's own Mosquitto."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import paho.mqtt.client as mqtt
from django.db import connection
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from essmon.mqtt.broker import broker_address, topic
from essmon.mqtt.worker import IngestWorker
from tests.factories import sample


def client(broker, username: str, password: str, *, client_id: str | None = None) -> mqtt.Client:
    made = mqtt.Client(
        callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
        client_id=client_id or username,
        protocol=mqtt.MQTTv5,
    )
    made.username_pw_set(username, password)
    made.max_queued_messages_set(0)
    made.reconnect_delay_set(min_delay=1, max_delay=2)
    made.connected_event = threading.Event()
    made.on_connect = lambda c, u, f, rc, p: (not rc.is_failure) and c.connected_event.set()
    made.on_disconnect = lambda c, u, f, rc, p: c.connected_event.clear()
    # PUBACKs by message id: paho's own is_published() raises for a message published while
    # the connection was down, though paho still sends it after reconnecting
    made.acknowledged = set()
    made.on_publish = lambda c, u, mid, rc, p: c.acknowledged.add(mid)
    return made


def gateway_client(broker, gw, **kw) -> mqtt.Client:
    made = client(broker, gw.gateway_id, gw.secret, **kw)
    made.will_set(
        topic(gw.gateway_id, "status"),
        json.dumps({"gateway_id": gw.gateway_id, "connection": "lost"}),
        qos=1,
    )
    return made


def connect(
    made: mqtt.Client, broker, *, persistent: bool = True, port: int | None = None
) -> mqtt.Client:
    """Connect on the gateways' listener, or on ``port`` (the service's: broker.service_port)."""
    properties = Properties(PacketTypes.CONNECT)
    properties.SessionExpiryInterval = 3600 if persistent else 0
    made.connect(
        "127.0.0.1", port or broker.port, clean_start=not persistent, properties=properties
    )
    made.loop_start()
    assert made.connected_event.wait(5), "the broker did not accept the connection"
    return made


NO_MATCHING_SUBSCRIBERS = 0x10


def connack(username: str, password: str, port: int) -> mqtt.ReasonCode | None:
    """The broker's answer to a CONNECT on ``port`` (None: no CONNACK at all)."""
    answered = threading.Event()
    answer: list = []
    made = client(None, username, password, client_id=f"probe-{time.monotonic_ns()}")
    made.reconnect_delay_set(min_delay=60, max_delay=60)

    def on_connect(c, u, flags, reason_code, properties) -> None:
        answer.append(reason_code)
        answered.set()

    made.on_connect = on_connect
    made.connect("127.0.0.1", port)
    made.loop_start()
    answered.wait(5)
    made.disconnect()
    made.loop_stop()
    return answer[0] if answer else None


class SamplePublisher:
    """A gateway's sample stream as the protocol asks (section 4): one sample per QoS 1
    message, kept until its PUBACK, and sent again when the PUBACK says no one subscribed
    (as while essmon's workers resubscribe after a broker restart)."""

    def __init__(self, made: mqtt.Client, gw) -> None:
        self.client, self.gw = made, gw
        self.by_mid: dict[int, int] = {}
        self.confirmed: set[int] = set()
        self.again: list[int] = []
        self.early: dict[int, object] = {}
        self.lock = threading.Lock()
        made.on_publish = self._on_publish

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        with self.lock:
            if mid in self.by_mid:
                self._settle(self.by_mid.pop(mid), reason_code)
            else:  # acknowledged before publish() returned its mid
                self.early[mid] = reason_code

    def _settle(self, seq: int, reason_code) -> None:
        if reason_code == NO_MATCHING_SUBSCRIBERS:
            self.again.append(seq)
        else:
            self.confirmed.add(seq)

    def publish(self, seqs, *, per_second: float | None = None) -> None:
        started = time.monotonic()
        for n, seq in enumerate(seqs):
            body = json.dumps({"gateway_id": self.gw.gateway_id, "samples": [sample(seq)]})
            # not under self.lock: paho calls on_publish holding its own lock, which
            # publish() takes too
            info = self.client.publish(topic(self.gw.gateway_id, "telemetry"), body, qos=1)
            with self.lock:
                if info.mid in self.early:
                    self._settle(seq, self.early.pop(info.mid))
                else:
                    self.by_mid[info.mid] = seq
            if per_second:
                pause = started + (n + 1) / per_second - time.monotonic()
                if pause > 0:
                    time.sleep(pause)

    def finish(self, seqs, timeout: float = 60) -> None:
        """Wait until every sample of ``seqs`` is acknowledged by someone's subscription."""
        deadline = time.monotonic() + timeout
        while not set(seqs) <= self.confirmed:
            assert time.monotonic() < deadline, (
                f"{len(set(seqs) - self.confirmed)} samples never acknowledged"
            )
            with self.lock:
                again, self.again = self.again, []
            if again:
                time.sleep(0.2)
                self.publish(again)
            time.sleep(0.05)


class WorkerThread:
    """The ingest worker in this process, on a thread (its own database connection)."""

    def __init__(self, broker, *, client_id: str = "essmon-ingest-test", **kw) -> None:
        self.worker = IngestWorker(
            broker_address(broker.url), client_id=client_id, share_group="essmon-ingest", **kw
        )
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            self.worker.run()
        finally:
            connection.close()

    def __enter__(self) -> IngestWorker:
        self.thread.start()
        assert self.worker.connected.wait(5), "the worker did not connect"
        assert self.worker.subscribed.wait(5), "the broker did not grant the worker's subscription"
        return self.worker

    def __exit__(self, *exc) -> None:
        self.worker.stop()
        self.thread.join(10)


def database_url() -> str:
    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{settings['NAME']}"
    user, host, port = settings["USER"], settings["HOST"] or "127.0.0.1", settings["PORT"] or 5432
    return f"postgres://{user}@{host}:{port}/{settings['NAME']}"


def worker_process(broker, *, client_id: str = "essmon-ingest-proc") -> subprocess.Popen:
    """``essmon ingest-mqtt`` as its own process, on the test database."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "essmon.settings",
        "ESSMON_DATABASE_URL": database_url(),
        "ESSMON_MQTT_URL": broker.url,
        "ESSMON_LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "essmon.cli", "ingest-mqtt", "--client-id", client_id], env=env
    )
