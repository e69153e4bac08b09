"""The load generators, each run in processes of their own: MQTT gateways and HTTPS posters.

Both take their rows from rows.py and report through a shared array of doubles (see
Stats), which the orchestrator reads while they run. Neither imports Django.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import selectors
import signal
import threading
import time
from dataclasses import dataclass

from rows import Plan, batch_json, sample_json

NO_MATCHING_SUBSCRIBERS = 0x10
RESEND_AFTER = 0.2  # seconds: time for a worker to (re)subscribe, as the tests' publisher waits


class Stats:
    """Slots of a multiprocessing RawArray('d'): counts and monotonic times (CLOCK_MONOTONIC
    is one clock for every process on the machine, so the times compare across them)."""

    PUBLISHED, ACKED, RESENT, REFUSED, FIRST, LAST_SENT, LAST_ACK, DONE, DISCONNECTS = range(9)
    # HTTPS posters reuse the slots: requests sent, samples accepted, duplicates, errors, …
    SIZE = 12
    ACCEPTED, DUPLICATES, REJECTED = ACKED, RESENT, 9
    ERRORS = REFUSED
    LATENCY_SUM = 10
    REQUESTS = 11


# --- MQTT -----------------------------------------------------------------------------


@dataclass
class Gateway:
    g: int
    gateway_id: str
    secret: str


class _Connection:
    """One gateway's MQTT connection and the mids of its samples awaiting PUBACK."""

    def __init__(self, gateway: Gateway, port: int, stats, again: list) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        self.gateway = gateway
        self.topic = f"essmon/v1/{gateway.gateway_id}/telemetry"
        self.pending: dict[int, int] = {}
        self.connected = False
        self.lost = False  # the connection dropped: reconnect (paho resends what is unacked)
        self.closing = False
        self.fd: int | None = None
        self.stats, self.again = stats, again
        self.client = mqtt.Client(
            callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
            client_id=gateway.gateway_id,
            protocol=mqtt.MQTTv5,
        )
        self.client.username_pw_set(gateway.gateway_id, gateway.secret)
        # samples wait in the broker, not in paho: the benchmark measures the broker's and
        # the worker's pace, so the gateway side must never hold messages back
        self.client.max_inflight_messages_set(0)
        self.client.max_queued_messages_set(0)
        # the protocol's connection (section 4): persistent session and a last will
        self.client.will_set(
            f"essmon/v1/{gateway.gateway_id}/status",
            json.dumps({"gateway_id": gateway.gateway_id, "connection": "lost"}),
            qos=1,
        )
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_publish = self._on_publish
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = 24 * 3600
        self.client.connect(
            "127.0.0.1", port, keepalive=60, clean_start=False, properties=properties
        )

    def attach(self, selector) -> None:
        sock = self.client.socket()
        if sock is not None:
            self.fd = sock.fileno()
            selector.register(self.fd, selectors.EVENT_READ, self)

    def detach(self, selector) -> None:
        # at once when the socket closes: a new socket may get the same descriptor number
        if self.fd is not None:
            with contextlib.suppress(KeyError, ValueError):
                selector.unregister(self.fd)
            self.fd = None

    def write_when_ready(self, selector) -> None:
        """A full socket buffer: paho finishes the write when the socket is writable."""
        if self.fd is not None and self.client.want_write():
            selector.modify(self.fd, selectors.EVENT_READ | selectors.EVENT_WRITE, self)

    def reconnect(self, selector) -> None:
        self.detach(selector)
        try:
            self.client.reconnect()
        except OSError:
            return  # the next second tries again
        self.lost = False
        self.attach(selector)

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        self.connected = not reason_code.is_failure

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        if self.connected and not self.closing:
            self.stats[Stats.DISCONNECTS] += 1
            self.lost = True
        self.connected = False

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        seq = self.pending.pop(mid, None)
        if seq is None:
            return
        if reason_code.value == NO_MATCHING_SUBSCRIBERS:
            # the broker dropped it: nobody was subscribed (no worker up). The protocol's
            # rule for gateways: send it again
            self.again.append((time.monotonic() + RESEND_AFTER, self, seq))
        elif reason_code.is_failure:
            self.stats[Stats.REFUSED] += 1
        else:
            self.stats[Stats.ACKED] += 1
            self.stats[Stats.LAST_ACK] = time.monotonic()

    def publish(self, seq: int, ts: str) -> None:
        g = self.gateway
        body = batch_json(g.gateway_id, [sample_json(g.g, seq, ts)])
        info = self.client.publish(self.topic, body, qos=1)
        self.pending[info.mid] = seq


def publish(
    slot: int,
    gateways: list[Gateway],
    plan: Plan,
    port: int,
    rate: float,
    stats,
    ready,
    go,
    start_at,
    stop,
) -> None:
    """One publisher process: a connection per gateway of ``gateways``, one select loop.

    Global row i is due at start + i / rate, so however the gateways are spread over the
    processes the fleet as a whole publishes in row order at ``rate``. Rows published late
    (the process could not keep pace) go out at once, and the stats show it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C: the orchestrator stops us
    again: list = []
    connections = [_Connection(gw, port, stats, again) for gw in gateways]
    selector = selectors.DefaultSelector()
    for connection in connections:
        connection.attach(selector)
    deadline = time.monotonic() + 30
    while not all(c.connected for c in connections):
        _pump(selector, 0.05)
        if time.monotonic() > deadline or stop.is_set():
            raise SystemExit(f"publisher {slot}: not every gateway could connect")
    ready.set()
    go.wait()
    start = start_at.value
    # this process's rows in global order: (i, connection, seq)
    mine = {gw.g: c for gw, c in zip(gateways, connections, strict=True)}
    ts_cache: dict[int, str] = {}
    ordered = sorted(mine)
    order = (
        (seq * plan.gateways + g, mine[g], seq)
        for seq in range(max(plan.count_for(g) for g in ordered))
        for g in ordered
        if seq < plan.count_for(g)
    )
    mine_total = sum(plan.count_for(g) for g in mine)
    upcoming = next(order, None)
    last_misc = time.monotonic()
    while not stop.is_set():
        now = time.monotonic()
        touched = set()
        while upcoming is not None and start + upcoming[0] / rate <= now:
            _, connection, seq = upcoming
            ts = ts_cache.get(seq)
            if ts is None:
                ts_cache.clear()  # rows go seq by seq: one entry is all that is ever reused
                ts = ts_cache[seq] = plan.ts(seq)
            if not stats[Stats.FIRST]:
                stats[Stats.FIRST] = now
            connection.publish(seq, ts)
            stats[Stats.PUBLISHED] += 1
            touched.add(connection)
            upcoming = next(order, None)
            if upcoming is None:
                stats[Stats.LAST_SENT] = time.monotonic()
        while again and again[0][0] <= now:
            _, connection, seq = again.pop(0)
            connection.publish(seq, plan.ts(seq))
            stats[Stats.RESENT] += 1
            touched.add(connection)
        for connection in touched:
            connection.write_when_ready(selector)
        if now - last_misc >= 1.0:
            last_misc = now
            for connection in connections:
                connection.client.loop_misc()  # keepalive pings
                if connection.lost:
                    connection.reconnect(selector)
        if upcoming is None and stats[Stats.ACKED] + stats[Stats.REFUSED] >= mine_total:
            stats[Stats.DONE] = 1
        wait = 0.05 if upcoming is None else start + upcoming[0] / rate - time.monotonic()
        _pump(selector, min(max(wait, 0.0), 0.05))
    for connection in connections:
        # a clean DISCONNECT: no last will, which would add status messages to the run
        connection.closing = True
        connection.client.disconnect()


def _pump(selector, timeout: float) -> None:
    for key, events in selector.select(timeout):
        connection = key.data
        if connection.fd != key.fd:
            continue  # detached by an earlier event of this round
        if events & selectors.EVENT_READ:
            connection.client.loop_read()
        if connection.client.socket() is None:
            connection.detach(selector)
            continue
        if events & selectors.EVENT_WRITE:
            connection.client.loop_write()
            if not connection.client.want_write():
                selector.modify(key.fd, selectors.EVENT_READ, connection)


# --- HTTPS ----------------------------------------------------------------------------


def post(
    gateways: list[Gateway],
    plan: Plan,
    url: str,
    *,
    batch: int,
    concurrency: int,
    seconds: float,
    stats,
    ready,
    go,
    start_at,
    stop,
) -> None:
    """``concurrency`` clients posting batches of ``batch`` samples of one gateway each, in
    the order (chunk, gateway), until ``seconds`` have passed or the rows run out; the
    requests under way then finish."""
    import httpx

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C: the orchestrator stops us
    by_g = {gw.g: gw for gw in gateways}
    lock = threading.Lock()
    chunks = itertools.count()

    def next_request() -> tuple[Gateway, int, int] | None:
        while True:
            with lock:
                k = next(chunks)
            chunk, g = divmod(k, plan.gateways)
            first = chunk * batch
            if first >= plan.count_for(0):
                return None  # gateway 0 has the most rows: past its last chunk, all are done
            if g in by_g and first < plan.count_for(g):
                return by_g[g], first, min(first + batch, plan.count_for(g))

    def client_thread() -> None:
        with httpx.Client(base_url=url, timeout=60) as client:
            while not stop.is_set() and time.monotonic() < start_at.value + seconds:
                work = next_request()
                if work is None:
                    return
                gw, first, end = work
                body = batch_json(
                    gw.gateway_id, [sample_json(gw.g, s, plan.ts(s)) for s in range(first, end)]
                )
                sent = time.monotonic()
                try:
                    response = client.post(
                        "/api/v1/telemetry",
                        content=body.encode(),
                        headers={
                            "Authorization": f"Gateway {gw.gateway_id}:{gw.secret}",
                            "Content-Type": "application/json",
                        },
                    )
                except httpx.HTTPError:
                    with lock:
                        stats[Stats.ERRORS] += 1
                    continue
                done = time.monotonic()
                with lock:
                    stats[Stats.REQUESTS] += 1
                    stats[Stats.PUBLISHED] += end - first
                    stats[Stats.LATENCY_SUM] += done - sent
                    stats[Stats.LAST_ACK] = max(stats[Stats.LAST_ACK], done)
                    if response.status_code != 200:
                        stats[Stats.ERRORS] += 1
                        continue
                    answer = response.json()
                    stats[Stats.ACCEPTED] += answer["accepted"]
                    stats[Stats.DUPLICATES] += answer["duplicates"]
                    stats[Stats.REJECTED] += len(answer["rejected"])

    ready.set()
    go.wait()
    stats[Stats.FIRST] = start_at.value
    threads = [threading.Thread(target=client_thread) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stats[Stats.DONE] = 1
    stop.wait()  # alive until the orchestrator has read this process's CPU time
