"""``essmon ingest-mqtt``: gateways' messages from a shared subscription into the database.

Several workers can run side by side: the broker shares the subscription between them.
A message is acknowledged only after the transaction holding its rows has committed; a
worker killed at any moment leaves its unacknowledged messages with the broker, which
hands them out again (to it when it returns, its session being persistent). A repeat is
harmless: samples are keyed (gateway, ts).

A worker removed for good is retired (``--retire``, ``IngestWorker.retire``): its session,
which the broker would go on filling with its share of the messages until it expired, is
unsubscribed, drained and ended.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from django.conf import settings
from django.db import (
    DatabaseError,
    InterfaceError,
    OperationalError,
    close_old_connections,
    connection,
    transaction,
)

from essmon.commands.services import as_message, claim_for_broker
from essmon.mqtt.broker import GATEWAY_TOPICS_IN, BrokerAddress, topic
from essmon.mqtt.client import Client, ConnectionLost, ProtocolError, Received, Refused, Settings
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
KEEPALIVE_SECONDS = 30
RECONNECT_MIN, RECONNECT_MAX = 1.0, 10.0
# --retire stops once nothing has come for this long after the broker's UNSUBACK
RETIRE_QUIET_SECONDS = 5.0


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
class Batch:
    """Messages for one transaction, each with its packet identifier and the connection
    (generation) it came on: acknowledged after the commit, and only on that connection."""

    messages: list[Incoming] = field(default_factory=list)
    packet_ids: list[int] = field(default_factory=list)
    generations: list[int] = field(default_factory=list)

    def add(self, received: Received) -> None:
        self.messages += received.messages
        self.packet_ids += received.packet_ids
        self.generations += [received.generation] * len(received.messages)

    def take(self, count: int) -> Batch:
        """The first ``count`` messages, removed from this one."""
        taken = Batch(self.messages[:count], self.packet_ids[:count], self.generations[:count])
        del self.messages[:count], self.packet_ids[:count], self.generations[:count]
        return taken

    def __len__(self) -> int:
        return len(self.messages)


@dataclass
class Retirement:
    """What ``IngestWorker.retire`` did with a worker's session."""

    client_id: str
    session_found: bool = False  # the broker still held a session under the ID
    unsuback: list[int] = field(default_factory=list)  # the UNSUBACK's reason codes
    messages: int = 0  # taken from the session and ingested
    ended: bool = False  # DISCONNECT with Session Expiry Interval 0 sent
    # why it stopped before the end: no connection, the connection lost, a signal
    failure: str | None = None


class IngestWorker:
    """One thread does it all: it reads the broker's messages (essmon.mqtt.client), takes
    them in batches of up to ``batch_size`` (waiting at most ``linger`` seconds for a batch
    to fill once a message is there), stores each batch in one transaction and then
    acknowledges its messages with one write. While it waits on the database the broker
    goes on sending, up to Receive Maximum (twice the batch) unacknowledged messages, into
    the socket's buffer, and the next read takes them all at once. The client's keep-alive
    thread keeps the connection alive meanwhile, however long the database takes."""

    def __init__(
        self,
        address: BrokerAddress,
        *,
        client_id: str,
        share_group: str,
        batch_size: int = 1000,
        linger: float = 0.05,
        command_interval: float = 1.0,
        retiring: bool = False,
    ) -> None:
        """``retiring``: for ``retire`` only, a connection that subscribes to nothing."""
        self.address = address
        self.share_group = share_group
        self.batch_size = batch_size
        self.linger = linger
        self.command_interval = command_interval
        self.connected = threading.Event()
        self.stopping = threading.Event()
        self.cache = GatewayCache()
        self.contacts = ContactBuffer()
        self.dead_letter_cap = DeadLetterCap()
        self.totals: Counter = Counter()
        self.losses: list[str] = []  # why each connection ended, for the log and the tests
        self.pending = Batch()  # received, not yet in a batch
        self.retry_delay = RECONNECT_MIN
        self.next_attempt = 0.0
        self.connected_at = 0.0
        self.retiring = retiring
        prefix = f"$share/{share_group}/" if share_group else ""
        self.filters = tuple(f"{prefix}{topic('+', kind)}" for kind in GATEWAY_TOPICS_IN)
        self.client = Client(
            Settings(
                host=address.host,
                port=address.port,
                client_id=client_id,
                username=address.username,
                password=address.password,
                tls=address.tls,
                subscriptions=() if retiring else self.filters,
                keepalive=KEEPALIVE_SECONDS,
                # retiring: the same expiry as the worker's, so that a retirement cut short
                # (a crash, SIGTERM) leaves the session and its messages as they were
                session_expiry=SESSION_EXPIRY_SECONDS,
                # retiring: the most the protocol allows, so the broker starts sending the
                # whole queue at once, before it reads the UNSUBSCRIBE (see ``retire``)
                receive_maximum=65535 if retiring else min(65535, batch_size * 2),
            ),
            message=Incoming,
        )
        self.subscribed = self.client.subscribed  # the broker granted this connection's filters

    @property
    def generation(self) -> int:
        """Connections made so far (0: never connected)."""
        return self.client.generation

    # --- the broker ---------------------------------------------------------------------

    def _connect(self) -> None:
        """One attempt when it is due, else a short wait: at once after a connection that
        lasted, then from 1 s after a failure, doubling up to 10 s, as paho's reconnect
        delay was."""
        wait = self.next_attempt - time.monotonic()
        if wait > 0:
            self.stopping.wait(min(wait, 0.2))
            return
        try:
            connack = self.client.connect()
        except Refused as exc:
            # most often after an upgrade to the two listeners: essmon's user is no longer
            # in the gateways' password file
            logger.error(
                "broker refused the connection to %s:%s as %r: %s; ESSMON_MQTT_URL must name "
                "the broker's service listener and essmon's own user (docs/deployment.md)",
                self.address.host,
                self.address.port,
                self.address.username,
                exc,
            )
            self._retry_later()
            return
        except (OSError, ConnectionLost, ProtocolError) as exc:
            logger.warning(
                "could not connect to the broker at %s:%s (%s); trying again in %.0f s",
                self.address.host,
                self.address.port,
                exc,
                self.retry_delay,
            )
            self._retry_later()
            return
        self.connected_at = time.monotonic()
        self.connected.set()
        logger.info(
            "connected to %s:%s (session %s)",
            self.address.host,
            self.address.port,
            "resumed" if connack.session_present else "new",
        )

    def _retry_later(self) -> None:
        self.next_attempt = time.monotonic() + self.retry_delay
        self.retry_delay = min(self.retry_delay * 2, RECONNECT_MAX)

    def _lost(self, exc: Exception) -> None:
        self.connected.clear()
        self.losses.append(str(exc))
        if self.retiring:
            # one connection only (see retire)
            self.stopping.set()
        if time.monotonic() - self.connected_at < RECONNECT_MAX:
            # a connection the broker ends at once, again and again (a session taken over
            # by a second worker under the same ID, say) must not be made at full speed
            self._retry_later()
        else:
            self.retry_delay = RECONNECT_MIN
        if not self.stopping.is_set():
            logger.warning("lost the broker (%s); reconnecting", exc)

    # --- the loop -----------------------------------------------------------------------

    def run(self, *, until: float | None = None) -> None:
        """Ingest until stopped (SIGTERM, SIGINT) or, for tests and benchmarks, ``until``."""
        last_commands = 0.0
        last_report = time.monotonic()
        try:
            while not self.stopping.is_set() and (until is None or time.monotonic() < until):
                try:
                    if not self.client.connected:
                        self._connect()
                        continue
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
            self.client.stop()
            self.connected.clear()
            logger.info("ingest-mqtt stopped; totals: %s", dict(self.totals))

    def retire(self, *, quiet: float = RETIRE_QUIET_SECONDS) -> Retirement:
        """Take the session over, unsubscribe at once, ingest what it holds, end it.

        For a worker removed for good (its own process stopped first). With Mosquitto 2.0
        a stopped worker's session keeps its place in the shared subscription: the broker
        goes on queueing 1/N of the messages in it until it expires.

        Why UNSUBSCRIBE first and drain after: MQTT 5 (3.10.4) lets a broker drop what it
        had queued for a session but not yet sent when the session unsubscribes, yet it
        must finish delivering what it had started to send. Measured with Mosquitto 2.0.11
        (tests/mqtt/test_client.py pins it): it drops nothing, and sends the queued
        messages after the UNSUBACK like any others. Draining first, still subscribed,
        would never end while messages flow, since the broker keeps routing a share to an
        online session. The one hazard, a broker that did drop its queue, is covered as
        far as the protocol allows: this connection's Receive Maximum is 65,535, and a
        broker sends a resumed session's queue right after CONNACK (Mosquitto does with
        ``max_inflight_messages 0``, seen in its debug log), so up to 65,535 queued messages are already in flight, and
        owed, when it reads the UNSUBSCRIBE.

        Messages are stored and acknowledged as by ``run`` (acknowledged only after their
        commit); nothing of the session is ended until every one has been. The work stops
        once the UNSUBACK came and nothing more for ``quiet`` seconds; then a DISCONNECT
        with Session Expiry Interval 0 ends the session, so the broker keeps nothing and
        routes nothing under the ID.

        One connection, not made again: when it ends early, the likeliest cause is the
        worker itself, still running, taking its session back, and Mosquitto 2.0 closes the
        connection it takes over without a reason code to tell. Reconnecting would throw
        the worker out again, back and forth. So the retirement stops there (as on
        SIGTERM), leaving the session kept with what it holds; run it again to finish."""
        retirement = Retirement(self.client.settings.client_id)
        try:
            connack = self.client.connect()
        except (Refused, OSError, ConnectionLost, ProtocolError) as exc:
            retirement.failure = (
                f"could not connect to {self.address.host}:{self.address.port}: {exc}"
            )
            return retirement
        retirement.session_found = connack.session_present
        if not connack.session_present:
            # nothing to retire; the session this connection opened is ended at once
            self.client.stop(end_session=True)
            retirement.ended = True
            return retirement
        logger.info("retire: took over the session of %s; unsubscribing", retirement.client_id)
        last_message = 0.0
        try:
            self.client.unsubscribe(self.filters)
            while not self.stopping.is_set():
                batch = self._next_batch()
                if batch:
                    retirement.messages += len(batch)
                    self._ingest(batch)
                    # quiet counts from the batch's end: what came while it was being
                    # stored is still in the socket, unread, and must not be left there
                    last_message = time.monotonic()
                elif self.contacts.held:
                    self._flush_contacts()
                unsuback = self.client.unsuback
                since = time.monotonic() - max(last_message, self.client.unsubscribed_at)
                if (
                    unsuback is not None
                    and not self.pending
                    and since >= quiet
                    # a stop while the database was away leaves the batch unstored
                    and not self.stopping.is_set()
                ):
                    retirement.unsuback = unsuback.codes
                    logger.info(
                        "retire: nothing came for %.0f s after the UNSUBACK; %d messages "
                        "ingested from the session",
                        quiet,
                        retirement.messages,
                    )
                    retirement.ended = self.client.connected
                    break
        except (OSError, ConnectionLost) as exc:
            self.losses.append(str(exc))
        finally:
            if self.contacts.held:
                self._flush_contacts()
            if not retirement.ended:
                retirement.failure = self.losses[-1] if self.losses else "stopped by a signal"
            self.client.stop(end_session=retirement.ended)
        return retirement

    def stop(self, *args) -> None:
        self.stopping.set()

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)

    def _next_batch(self) -> Batch:
        """Up to batch_size messages: what is there already, else what comes within 0.2 s,
        and then more for up to ``linger`` while the batch is not full. A lost connection
        ends the batch with what it has (its messages are stored, and not acknowledged)."""
        deadline = None
        while len(self.pending) < self.batch_size and not self.stopping.is_set():
            now = time.monotonic()
            if self.pending:
                deadline = deadline or now + self.linger
                if now >= deadline:
                    break
                timeout = deadline - now
            else:
                timeout = 0.2
            try:
                received = self.client.receive(timeout)
            except ConnectionLost as exc:
                self._lost(exc)
                break
            if received.messages:
                self.pending.add(received)
            elif not self.pending:
                break  # nothing within 0.2 s: the loop's other work
        return self.pending.take(self.batch_size)

    def _acknowledge(self, batch: Batch) -> None:
        current = self.client.generation
        # a message that came on an earlier connection is the broker's to send again;
        # acknowledging its packet identifier here would acknowledge another message
        ids = [m for m, g in zip(batch.packet_ids, batch.generations, strict=True) if g == current]
        if not ids or not self.client.connected:
            return
        try:
            self.client.ack(ids)
        except (OSError, ConnectionLost) as exc:
            self.client.close()
            self._lost(exc)

    def _ingest(self, batch: Batch) -> None:
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
        self._acknowledge(batch)
        self.totals.update(outcome.counts)
        try:
            add_counts(outcome.counts)
        except (OperationalError, InterfaceError):
            logger.warning("could not add to the counters: %s", dict(outcome.counts))

    def _process(self, batch: Batch) -> Outcome:
        try:
            return process_messages(
                batch.messages,
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

    def _one_at_a_time(self, batch: Batch) -> Outcome:
        outcome = Outcome()
        for message in batch.messages:
            try:
                single = process_messages(
                    [message],
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
                    logger.exception("message on %s could not be handled", message.topic)
                    reason = unexpected(exc)
                try:
                    single = dead_letter(message, reason, cap=self.dead_letter_cap)
                except (OperationalError, InterfaceError):
                    raise
                except Exception:
                    # not even kept as a dead letter: the log is its only trace
                    logger.exception(
                        "dropped a message on %s (%s): %r",
                        message.topic,
                        reason,
                        message.payload[:200],
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
        if not self.client.connected:
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
            payload = json.dumps({"commands": messages}).encode()
            try:
                # QoS 1; kept until the broker's PUBACK, sent again after a reconnect that
                # resumes the session; the database resends it later anyway if unanswered
                self.client.publish(topic(gateway_id, "commands"), payload)
            except (OSError, ConnectionLost) as exc:
                self.client.close()
                self._lost(exc)
                return
            except (ValueError, RuntimeError) as exc:
                # this gateway's commands cannot go as one message (too large, no packet
                # id free): the others still go; the database sends it again if unanswered
                logger.error("could not publish commands to %s: %s", gateway_id, exc)
                continue
            self.totals["commands_published"] += len(messages)
