"""The load generators, each run in processes of their own: MQTT gateways and HTTPS clients.

Both take their rows from rows.py, make every packet or request body before the timed
part (so that what they cost while the service is measured is a few system calls, not
JSON and MQTT encoding per sample), and report through a shared array of doubles (see
Stats), which the orchestrator reads while they run. Neither imports Django.
"""

from __future__ import annotations

import bisect
import contextlib
import http.client
import itertools
import json
import selectors
import signal
import socket
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties, VariableByteIntegers, writeBytes, writeUTF
from rows import Plan, batch_json, sample_json

NO_MATCHING_SUBSCRIBERS = 0x10
RESEND_AFTER = 0.2  # seconds: time for a worker to (re)subscribe, as the tests' publisher waits


class Stats:
    """Slots of a multiprocessing RawArray('d'): counts and monotonic times (CLOCK_MONOTONIC
    is one clock for every process on the machine, so the times compare across them)."""

    PUBLISHED, ACKED, RESENT, REFUSED, FIRST, LAST_SENT, LAST_ACK, DONE, DISCONNECTS = range(9)
    # HTTPS clients reuse the slots: requests sent, samples accepted, duplicates, errors, …
    ACCEPTED, DUPLICATES, REJECTED = ACKED, RESENT, 9
    ERRORS = REFUSED
    LATENCY_SUM = 10
    REQUESTS = 11
    # CPU seconds of the process itself (time.process_time): making the packets or bodies
    # before the timed part, and from the start until its last answer
    SETUP_CPU, TIMED_CPU = 12, 13
    SIZE = 14


# --- MQTT -----------------------------------------------------------------------------
#
# The packets are MQTT 5 (OASIS standard, section 3), written with paho's encoders of
# the protocol's data types (two-byte-length strings, variable byte integers, properties).

KEEPALIVE = 60
PING_EVERY = KEEPALIVE / 2
SESSION_EXPIRY = 24 * 3600  # the protocol's "session expiry ≥ 1 day"
PINGREQ = b"\xc0\x00"
DISCONNECT = b"\xe0\x00"  # reason 0: a normal disconnection, so no last will
CHUNK = 64 * 1024  # bytes handed to one send(): large writes, and no connection hogs a round
PACED_TICK = 0.1  # seconds: a paced publisher hands over the rows that fell due this often
READ_PAUSE = 0.01  # seconds: with nothing to write, PUBACKs are read this often
MAX_PER_GATEWAY = 65535  # packet ids are seq + 1: unique on a connection, never reused


@dataclass
class Gateway:
    g: int
    gateway_id: str
    secret: str


def _packet(first_byte: int, body: bytes | bytearray) -> bytes:
    return bytes([first_byte]) + VariableByteIntegers.encode(len(body)) + bytes(body)


def connect_packet(gateway: Gateway) -> bytes:
    """The protocol's connection (docs/gateway-protocol.md, section 4): client ID and user
    name the gateway ID, password the device secret, clean start false with a session of a
    day, and the last will on the gateway's status topic."""
    properties = Properties(PacketTypes.CONNECT)
    properties.SessionExpiryInterval = SESSION_EXPIRY
    will = json.dumps({"gateway_id": gateway.gateway_id, "connection": "lost"})
    # user name, password, will QoS 1, will; clean start (0x02) not set
    flags = 0x80 | 0x40 | 0x08 | 0x04
    body = (
        writeUTF("MQTT")
        + bytes([5, flags])
        + KEEPALIVE.to_bytes(2, "big")
        + properties.pack()
        + writeUTF(gateway.gateway_id)
        + Properties(PacketTypes.WILLMESSAGE).pack()
        + writeUTF(f"essmon/v1/{gateway.gateway_id}/status")
        + writeBytes(will.encode())
        + writeUTF(gateway.gateway_id)
        + writeBytes(gateway.secret.encode())
    )
    return _packet(0x10, body)


def publish_packets(gateway: Gateway, plan: Plan, ts: list[str]) -> list[bytes]:
    """The gateway's samples, each a QoS 1 PUBLISH with one sample, packet id seq + 1."""
    topic = bytes(writeUTF(f"essmon/v1/{gateway.gateway_id}/telemetry"))
    packets = []
    for seq in range(plan.count_for(gateway.g)):
        payload = batch_json(gateway.gateway_id, [sample_json(gateway.g, seq, ts[seq])]).encode()
        # topic, packet id, no properties, the payload
        packets.append(_packet(0x32, topic + (seq + 1).to_bytes(2, "big") + b"\x00" + payload))
    return packets


def _read_packet(data: bytes, at: int) -> tuple[int, bytes, int] | None:
    """(first byte, body, end) of the packet at ``at``, or None when it is not all there."""
    if at >= len(data):
        return None
    length, multiplier, i = 0, 1, at + 1
    while True:
        if i >= len(data):
            return None
        byte = data[i]
        length += (byte & 0x7F) * multiplier
        multiplier *= 128
        i += 1
        if not byte & 0x80:
            break
    if i + length > len(data):
        return None
    return data[at], data[i : i + length], i + length


def _connect(gateway: Gateway, port: int, packet: bytes, timeout: float = 10) -> socket.socket:
    """A connected socket after a successful CONNACK; OSError when the broker refuses."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(packet)
        data = b""
        while (found := _read_packet(data, 0)) is None:
            more = sock.recv(256)
            if not more:
                raise OSError(f"{gateway.gateway_id}: the broker closed the connection")
            data += more
        first, body, _ = found
        if first != 0x20 or len(body) < 2 or body[1] != 0:
            code = body[1] if first == 0x20 and len(body) > 1 else None
            raise OSError(f"{gateway.gateway_id}: CONNACK {first:#x}, reason code {code}")
        sock.setblocking(False)
        return sock
    except BaseException:
        sock.close()
        raise


class _Link:
    """One gateway's connection: all its PUBLISH packets in one buffer, written in large
    slices as they fall due, and the PUBACKs read back in bulk.

    PUBACKs come in the order the packets were sent, so as long as every one is a 4-byte
    success for the next packet id (what a run without trouble reads), a whole read is
    checked with one comparison against the PUBACKs expected; anything else (a reason
    code, a resent packet's answer, a PINGRESP, a packet cut by the read) is parsed."""

    def __init__(self, gateway: Gateway, packets: list[bytes], total_g: int) -> None:
        self.gateway = gateway
        self.connect = connect_packet(gateway)
        self.count = len(packets)
        self.stream = memoryview(b"".join(packets))
        # ends[k]: the offset just past packet k
        self.ends = list(itertools.accumulate(len(p) for p in packets))
        self.expected_acks = b"".join(
            b"\x40\x02" + (k + 1).to_bytes(2, "big") for k in range(self.count)
        )
        self.total_g = total_g
        self.sock: socket.socket | None = None
        self.target = 0  # packets due
        self.next = 0  # packets handed to the socket (or to ``out``)
        self.high = 0  # packets ever written: what counts as published
        self.out = memoryview(b"")  # what is being written now
        self.out_span = (0, 0)  # the main stream's packets in ``out``
        self.extra: list[bytes] = []  # resends and pings, written between slices
        self.acked_next = 0  # the next packet of the main stream whose PUBACK is awaited
        self.resent: set[int] = set()  # packets sent again whose PUBACK is awaited
        self.rest = b""  # a packet cut by the last read
        self.blocked = False  # the socket's buffer is full: wait until it is writable

    def due(self, rows_due: int) -> bool:
        """Rows 0 … rows_due − 1 of the fleet are due: this gateway's share of them."""
        g, total = self.gateway.g, self.total_g
        target = min(self.count, max(0, (rows_due - g + total - 1) // total))
        if target > self.target:
            self.target = target
        return self.pending

    @property
    def pending(self) -> bool:
        return bool(self.out) or bool(self.extra) or self.next < self.target

    def packet(self, seq: int) -> bytes:
        return bytes(self.stream[self.ends[seq - 1] if seq else 0 : self.ends[seq]])

    def write(self) -> int:
        """One send; the number of packets written for the first time."""
        if not self.out:
            if self.extra:
                self.out = memoryview(b"".join(self.extra))
                self.extra.clear()
                self.out_span = (0, 0)
            elif self.next < self.target:
                start = self.ends[self.next - 1] if self.next else 0
                end = bisect.bisect_right(self.ends, start + CHUNK, self.next, self.target)
                end = max(end, self.next + 1)
                self.out = self.stream[start : self.ends[end - 1]]
                self.out_span = (self.next, end)
                self.next = end
            else:
                return 0
        assert self.sock is not None
        sent = self.sock.send(self.out)  # BlockingIOError and OSError: the caller's
        self.out = self.out[sent:]
        if self.out:
            self.blocked = True
            return 0
        first, end = self.out_span
        fresh = max(0, end - max(first, self.high))
        self.high = max(self.high, end)
        return fresh

    def read(self, tally: Tally, now: float) -> bool:
        """Read what the broker sent; False when the connection is gone."""
        assert self.sock is not None
        try:
            data = self.sock.recv(65536)
        except BlockingIOError:
            return True
        except OSError:
            return False
        if not data:
            return False
        if not self.rest and not len(data) & 3:
            at = 4 * self.acked_next
            if data == self.expected_acks[at : at + len(data)]:
                n = len(data) >> 2
                self.acked_next += n
                tally.acked += n
                tally.last_ack = now
                return True
        return self._parse(self.rest + data, tally, now)

    def _parse(self, data: bytes, tally: Tally, now: float) -> bool:
        at = 0
        while (found := _read_packet(data, at)) is not None:
            first, body, at = found
            if first == 0xE0:
                return False  # the broker's DISCONNECT
            if first != 0x40 or len(body) < 2:
                continue  # PINGRESP, or nothing this publisher asked for
            seq = int.from_bytes(body[:2], "big") - 1
            reason = body[2] if len(body) > 2 else 0
            if seq == self.acked_next:
                self.acked_next += 1
            elif seq in self.resent:
                self.resent.discard(seq)
            else:
                continue  # a PUBACK of nothing awaited (a packet resent after a reconnect)
            if reason == NO_MATCHING_SUBSCRIBERS:
                # the broker dropped it: nobody was subscribed (no worker up). The
                # protocol's rule for gateways: send it again
                self.resent.add(seq)
                tally.again.append((now + RESEND_AFTER, self, seq))
            elif reason >= 0x80:
                tally.refused += 1
            else:
                tally.acked += 1
                tally.last_ack = now
        self.rest = data[at:]
        return True

    def rewind(self) -> None:
        """After a reconnect: what was sent and not acknowledged goes again (the broker
        holds the session; a packet it had already taken comes to the workers twice, which
        the ingest counts as a duplicate)."""
        self.next = self.acked_next
        self.out = memoryview(b"")
        self.rest = b""
        self.blocked = False
        self.extra = [self.packet(seq) for seq in sorted(self.resent)]


@dataclass
class Tally:
    """This process's counts since the last time they went into the shared array."""

    published: int = 0
    acked: int = 0
    refused: int = 0
    resent: int = 0
    last_ack: float = 0.0
    # resends due: (when, link, seq), in the order they fall due
    again: list[tuple[float, _Link, int]] = field(default_factory=list)


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

    Paced (``rate`` > 0): global row i is due at start + i / rate, so however the gateways
    are spread over the processes the fleet as a whole publishes in row order at ``rate``;
    every PACED_TICK each connection is handed the rows that fell due, in one write.
    Rows due while the process was behind go out at once, and the stats show it.
    Unpaced (``rate`` 0): every row is due at the start, and each connection writes up to
    CHUNK bytes a round for as long as the broker takes them."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C: the orchestrator stops us
    cpu_start = time.process_time()
    longest = plan.count_for(min(gw.g for gw in gateways))
    if longest > MAX_PER_GATEWAY:
        raise SystemExit(f"publisher {slot}: {longest} samples per gateway; at most 65,535")
    ts = [plan.ts(seq) for seq in range(longest)]
    links = [_Link(gw, publish_packets(gw, plan, ts), plan.gateways) for gw in gateways]
    selector = selectors.DefaultSelector()
    # in waves: a listening socket's backlog is short, and the broker checks each password
    for wave in range(0, len(links), 50):
        for link in links[wave : wave + 50]:
            link.sock = _connect(link.gateway, port, link.connect)
            selector.register(link.sock, selectors.EVENT_READ, link)
    mine_total = sum(link.count for link in links)
    stats[Stats.SETUP_CPU] = time.process_time() - cpu_start
    ready.set()
    go.wait()
    cpu_start = time.process_time()
    start = start_at.value
    while time.monotonic() < start and not stop.is_set():
        time.sleep(min(0.01, max(0.0, start - time.monotonic())))
    tally = Tally()
    # the connections with something to write and room to write it: an ordered set
    active: dict[_Link, None] = {}
    if rate <= 0:
        active = dict.fromkeys(link for link in links if link.due(plan.total))
    all_due = rate <= 0
    down: list[_Link] = []  # connections lost, to be made again
    next_tick = start
    last_ping = last_retry = time.monotonic()
    while not stop.is_set():
        now = time.monotonic()
        if not all_due and now >= next_tick:
            next_tick = now + PACED_TICK
            rows_due = min(plan.total, int((now - start) * rate) + 1)
            all_due = rows_due == plan.total
            for link in links:
                if link.sock is not None and link.due(rows_due):
                    active[link] = None
        while tally.again and tally.again[0][0] <= now:
            _, link, seq = tally.again.pop(0)
            link.extra.append(link.packet(seq))
            tally.resent += 1
            active[link] = None
        if now - last_ping >= PING_EVERY:
            last_ping = now
            for link in links:
                if link.sock is not None:
                    link.extra.append(PINGREQ)
                    active[link] = None
        still: dict[_Link, None] = {}
        for link in active:
            if link.blocked or link.sock is None:
                continue
            try:
                tally.published += link.write()
            except BlockingIOError:
                link.blocked = True
            except OSError:
                _lost(link, selector, down, stats)
                continue
            if link.blocked:
                selector.modify(link.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, link)
            elif link.pending:
                still[link] = None
        active = still
        if not active:
            # nothing to write: let the PUBACKs gather, then read each connection's at once
            pause = next_tick - time.monotonic() if not all_due else READ_PAUSE
            time.sleep(min(max(pause, 0.0), READ_PAUSE if all_due else PACED_TICK))
        now = time.monotonic()
        for key, events in selector.select(0):
            link = key.data
            if link.sock is None:
                continue  # lost earlier in this round
            if events & selectors.EVENT_READ and not link.read(tally, now):
                _lost(link, selector, down, stats)
                continue
            if events & selectors.EVENT_WRITE:
                link.blocked = False
                selector.modify(link.sock, selectors.EVENT_READ, link)
                if link.pending:
                    active[link] = None
        if down and now - last_retry >= 1.0:
            last_retry = now
            for link in list(down):
                with contextlib.suppress(OSError):
                    link.sock = _connect(link.gateway, port, link.connect)
                    selector.register(link.sock, selectors.EVENT_READ, link)
                    link.rewind()
                    down.remove(link)
                    active[link] = None
        _report(stats, tally, mine_total, cpu_start)
    for link in links:
        # a clean DISCONNECT: no last will, which would add status messages to the run
        if link.sock is not None:
            with contextlib.suppress(OSError):
                if not link.out:  # never inside a packet half written
                    link.sock.setblocking(True)
                    link.sock.settimeout(1.0)
                    link.sock.sendall(DISCONNECT)
            link.sock.close()


def _lost(link: _Link, selector, down: list, stats) -> None:
    # unregistered at once: a new socket may get the same descriptor number
    assert link.sock is not None
    with contextlib.suppress(KeyError, ValueError):
        selector.unregister(link.sock)
    link.sock.close()
    link.sock = None
    stats[Stats.DISCONNECTS] += 1
    down.append(link)


def _report(stats, tally: Tally, mine_total: int, cpu_start: float) -> None:
    """Move the tally into the shared array; DONE once every row has its final answer."""
    now = time.monotonic()
    if tally.published:
        if not stats[Stats.FIRST]:
            stats[Stats.FIRST] = now
        stats[Stats.PUBLISHED] += tally.published
        if stats[Stats.PUBLISHED] >= mine_total and not stats[Stats.LAST_SENT]:
            stats[Stats.LAST_SENT] = now
    stats[Stats.ACKED] += tally.acked
    stats[Stats.REFUSED] += tally.refused
    stats[Stats.RESENT] += tally.resent
    if tally.last_ack:
        stats[Stats.LAST_ACK] = tally.last_ack
    tally.published = tally.acked = tally.refused = tally.resent = 0
    tally.last_ack = 0.0
    resolved = int(stats[Stats.ACKED] + stats[Stats.REFUSED])
    if resolved >= mine_total and not tally.again and not stats[Stats.DONE]:
        stats[Stats.TIMED_CPU] = time.process_time() - cpu_start
        stats[Stats.DONE] = 1


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
    """``concurrency`` clients (threads, each a keep-alive ``http.client`` connection)
    posting batches of ``batch`` samples of one gateway each, in the order (chunk,
    gateway), until ``seconds`` have passed or the rows run out; the requests under way
    then finish. Every body and header is made before the start."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C: the orchestrator stops us
    cpu_start = time.process_time()
    by_g = {gw.g: gw for gw in gateways}
    ts = [plan.ts(seq) for seq in range(plan.count_for(0))]
    headers = {
        gw.g: {
            "Authorization": f"Gateway {gw.gateway_id}:{gw.secret}",
            "Content-Type": "application/json",
        }
        for gw in gateways
    }
    requests: list[tuple[int, bytes, int]] = []  # (gateway index, body, samples)
    for first in range(0, plan.count_for(0), batch):
        for g in range(plan.gateways):
            end = min(first + batch, plan.count_for(g))
            if g in by_g and first < end:
                samples = [sample_json(g, s, ts[s]) for s in range(first, end)]
                body = batch_json(by_g[g].gateway_id, samples).encode()
                requests.append((g, body, end - first))
    stats[Stats.SETUP_CPU] = time.process_time() - cpu_start
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    lock = threading.Lock()
    taken = itertools.count()  # next() on it is atomic: each request goes to one client

    def client_thread() -> None:
        connection = http.client.HTTPConnection(host, port, timeout=60)
        try:
            while not stop.is_set() and time.monotonic() < start_at.value + seconds:
                k = next(taken)
                if k >= len(requests):
                    return
                g, body, n = requests[k]
                sent = time.monotonic()
                try:
                    connection.request("POST", "/api/v1/telemetry", body, headers[g])
                    response = connection.getresponse()
                    answer_body = response.read()
                except (OSError, http.client.HTTPException):
                    connection.close()  # made again by the next request
                    with lock:
                        stats[Stats.ERRORS] += 1
                    continue
                done = time.monotonic()
                answer = json.loads(answer_body) if response.status == 200 else None
                with lock:
                    stats[Stats.REQUESTS] += 1
                    stats[Stats.PUBLISHED] += n
                    stats[Stats.LATENCY_SUM] += done - sent
                    stats[Stats.LAST_ACK] = max(stats[Stats.LAST_ACK], done)
                    if answer is None:
                        stats[Stats.ERRORS] += 1
                        continue
                    stats[Stats.ACCEPTED] += answer["accepted"]
                    stats[Stats.DUPLICATES] += answer["duplicates"]
                    stats[Stats.REJECTED] += len(answer["rejected"])
        finally:
            connection.close()

    ready.set()
    go.wait()
    cpu_start = time.process_time()
    stats[Stats.FIRST] = start_at.value
    threads = [threading.Thread(target=client_thread) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stats[Stats.TIMED_CPU] = time.process_time() - cpu_start
    stats[Stats.DONE] = 1
    stop.wait()  # alive until the orchestrator has read this process's CPU time
