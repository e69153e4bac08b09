"""``essmon ingest-mqtt``: gateways' messages from a shared subscription into the database.

Several workers can run side by side: the broker shares the subscription between them.
A message is acknowledged only after the transaction holding its rows has committed; a
worker killed at any moment leaves its unacknowledged messages with the broker, which
hands them out again (to it when it returns, its session being persistent). A repeat is
harmless: samples are keyed (gateway, ts).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import queue
import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from django.conf import settings
from django.db import (
    DatabaseError,
    InterfaceError,
    OperationalError,
    close_old_connections,
    connection,
    transaction,
)
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from essmon.commands.services import as_message, claim_for_broker
from essmon.mqtt.broker import GATEWAY_TOPICS_IN, BrokerAddress, topic
from essmon.mqtt.process import (
    DeadLetterCap,
    GatewayCache,
    Incoming,
    Outcome,
    add_counts,
    dead_letter,
    process_messages,
    unexpected,
)
from essmon.telemetry.connectivity import ContactBuffer

logger = logging.getLogger(__name__)
SESSION_EXPIRY_SECONDS = 7 * 24 * 3600


def worker_client_id(name: str) -> str:
    """The client ID of the worker called ``name`` (the host's name, by default).

    A worker's session is persistent: the broker keeps its unacknowledged messages under
    its client ID while it restarts, and a client logging in under the same ID takes that
    session over (MQTT 5, 3.1.4-3), messages and all. So the ID must be the same at every
    start, and nobody else may be able to tell it: a keyed hash of the name with
    ESSMON_SECRET_KEY gives both, with nothing more to keep. The service listener already
    keeps gateways out (docs/deployment.md); this keeps a guessed ID from being of any use
    even where that listener is reachable. Changing ESSMON_SECRET_KEY changes the IDs:
    docs/deployment.md says how to drain the old sessions.
    """
    key = settings.SECRET_KEY.encode()
    token = hmac.new(key, f"essmon-mqtt-client-id:{name}".encode(), hashlib.sha256)
    return f"essmon-ingest-{name}-{token.hexdigest()[:32]}"


@dataclass
class Received:
    message: Incoming
    mid: int
    qos: int
    generation: int  # the connection it came on: acknowledge only on that one


class IngestWorker:
    def __init__(
        self,
        address: BrokerAddress,
        *,
        client_id: str,
        share_group: str,
        batch_size: int = 1000,
        linger: float = 0.05,
        command_interval: float = 1.0,
    ) -> None:
        self.address = address
        self.share_group = share_group
        self.batch_size = batch_size
        self.linger = linger
        self.command_interval = command_interval
        self.inbox: queue.Queue[Received] = queue.Queue()
        self.generation = 0
        self.connected = threading.Event()
        self.subscribed = threading.Event()  # the broker granted this connection's subscription
        self.stopping = threading.Event()
        self.cache = GatewayCache()
        self.contacts = ContactBuffer()
        self.dead_letter_cap = DeadLetterCap()
        self.totals: Counter = Counter()
        self.client = mqtt.Client(
            callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        self.client.username_pw_set(address.username, address.password)
        if address.tls:
            self.client.tls_set()
        self.client.reconnect_delay_set(min_delay=1, max_delay=10)
        self.client.max_queued_messages_set(0)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message

    # --- broker side (paho's network thread) ------------------------------------------

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            # most often after an upgrade to the two listeners: essmon's user is no longer
            # in the gateways' password file
            logger.error(
                "broker refused the connection to %s:%s as %r: %s; ESSMON_MQTT_URL must name "
                "the broker's service listener and essmon's own user (docs/deployment.md)",
                self.address.host,
                self.address.port,
                self.address.username,
                reason_code,
            )
            return
        self.generation += 1
        prefix = f"$share/{self.share_group}/" if self.share_group else ""
        subscriptions = [
            (f"{prefix}{topic('+', kind)}", mqtt.SubscribeOptions(qos=1))
            for kind in GATEWAY_TOPICS_IN
        ]
        self.subscribed.clear()
        client.subscribe(subscriptions)
        self.connected.set()
        logger.info(
            "connected to %s:%s (session %s)",
            self.address.host,
            self.address.port,
            "resumed" if flags.session_present else "new",
        )

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        self.subscribed.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self.connected.clear()
        if not self.stopping.is_set():
            logger.warning("lost the broker (%s); reconnecting", reason_code)

    def _on_message(self, client, userdata, message) -> None:
        # paho's topic property raises on a topic that is not UTF-8, and an exception here
        # would end paho's network thread: read the bytes ourselves
        name = message._topic.decode("utf-8", "replace")
        self.inbox.put(
            Received(Incoming(name, message.payload), message.mid, message.qos, self.generation)
        )

    # --- the worker's own thread ------------------------------------------------------

    def run(self, *, until: float | None = None) -> None:
        """Ingest until stopped (SIGTERM, SIGINT) or, for tests and benchmarks, ``until``."""
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = SESSION_EXPIRY_SECONDS
        properties.ReceiveMaximum = min(65535, self.batch_size * 2)
        self.client.connect_async(
            self.address.host,
            self.address.port,
            keepalive=30,
            clean_start=False,
            properties=properties,
        )
        self.client.loop_start()
        last_commands = 0.0
        last_report = time.monotonic()
        try:
            while not self.stopping.is_set() and (until is None or time.monotonic() < until):
                try:
                    batch = self._next_batch()
                    if batch:
                        self._ingest(batch)
                    elif self.contacts.held:
                        self._flush_contacts()
                    if time.monotonic() - last_commands >= self.command_interval:
                        last_commands = time.monotonic()
                        self._publish_commands()
                except Exception:
                    # the last line of defence: whatever failed is logged, and the worker
                    # goes on with the next batch (what was not acknowledged comes again)
                    logger.exception("ingest-mqtt: unexpected failure; going on")
                    connection.close()
                    self.stopping.wait(1.0)
                if time.monotonic() - last_report >= 60:
                    last_report = time.monotonic()
                    logger.info("ingest-mqtt totals: %s", dict(self.totals))
        finally:
            if self.contacts.held:
                self._flush_contacts()
            self.client.disconnect()
            self.client.loop_stop()
            logger.info("ingest-mqtt stopped; totals: %s", dict(self.totals))

    def stop(self, *args) -> None:
        self.stopping.set()

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)

    def _next_batch(self) -> list[Received]:
        try:
            batch = [self.inbox.get(timeout=0.2)]
        except queue.Empty:
            return []
        deadline = time.monotonic() + self.linger
        while len(batch) < self.batch_size:
            try:
                batch.append(self.inbox.get(timeout=max(0.0, deadline - time.monotonic())))
            except queue.Empty:
                break
        return batch

    def _ingest(self, batch: list[Received]) -> None:
        delay = 0.5
        while True:
            try:
                close_old_connections()
                outcome = self._process(batch)
                break
            except (OperationalError, InterfaceError) as exc:
                # the database is away (restart, failover): keep the batch, unacknowledged,
                # and try again; the broker holds the messages meanwhile
                logger.warning("database unavailable (%s); retrying in %.1fs", exc, delay)
                connection.close()
                if self.stopping.wait(delay):
                    return
                delay = min(delay * 2, 10.0)
        for received in batch:
            if received.generation == self.generation:
                self.client.ack(received.mid, received.qos)
            # else: the connection it came on is gone; the broker sends it again, and the
            # repeat is a duplicate
        self.totals.update(outcome.counts)
        try:
            add_counts(outcome.counts)
        except (OperationalError, InterfaceError):
            logger.warning("could not add to the counters: %s", dict(outcome.counts))

    def _process(self, batch: list[Received]) -> Outcome:
        try:
            return process_messages(
                [r.message for r in batch],
                cache=self.cache,
                contacts=self.contacts,
                cap=self.dead_letter_cap,
            )
        except (OperationalError, InterfaceError):
            raise
        except Exception as exc:
            # One message the database refuses (say a gateway removed meanwhile, found only
            # at COMMIT by a deferred foreign key), or one essmon cannot handle, must not
            # fail its batch forever: each message alone, the bad one a dead letter. Only a
            # lost database or broker holds the batch back.
            logger.warning("batch failed (%s: %s); one message at a time", type(exc).__name__, exc)
            self.cache = GatewayCache()
            return self._one_at_a_time(batch)

    def _one_at_a_time(self, batch: list[Received]) -> Outcome:
        outcome = Outcome()
        for received in batch:
            try:
                single = process_messages(
                    [received.message],
                    cache=self.cache,
                    contacts=self.contacts,
                    cap=self.dead_letter_cap,
                )
            except (OperationalError, InterfaceError):
                raise
            except Exception as exc:
                if isinstance(exc, DatabaseError):
                    reason = f"could not store: {exc}"
                else:
                    logger.exception("message on %s could not be handled", received.message.topic)
                    reason = unexpected(exc)
                try:
                    single = dead_letter(received.message, reason, cap=self.dead_letter_cap)
                except (OperationalError, InterfaceError):
                    raise
                except Exception:
                    # not even kept as a dead letter: the log is its only trace
                    logger.exception(
                        "dropped a message on %s (%s): %r",
                        received.message.topic,
                        reason,
                        received.message.payload[:200],
                    )
                    single = Outcome(counts=Counter(messages=1, dropped=1))
            outcome.counts.update(single.counts)
        return outcome

    def _flush_contacts(self) -> None:
        try:
            close_old_connections()
            with transaction.atomic():
                self.contacts.flush()
        except (OperationalError, InterfaceError) as exc:
            logger.warning("could not write live states: %s", exc)
            connection.close()

    def _publish_commands(self) -> None:
        if not self.connected.is_set():
            return
        try:
            close_old_connections()
            commands = claim_for_broker()
        except (OperationalError, InterfaceError) as exc:
            logger.warning("could not read commands: %s", exc)
            connection.close()
            return
        by_gateway: dict[str, list] = {}
        for command in commands:
            by_gateway.setdefault(command.gateway.gateway_id, []).append(as_message(command))
        for gateway_id, messages in by_gateway.items():
            payload = json.dumps({"commands": messages})
            self.client.publish(topic(gateway_id, "commands"), payload, qos=1)
            self.totals["commands_published"] += len(messages)
