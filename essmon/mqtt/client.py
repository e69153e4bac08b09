"""The ingest worker's MQTT 5 client: one connection, read and written from one thread.

Why not paho (docs/performance.md, "Issue 16: the worker's receive path"): paho reads a
packet with several ``recv`` calls, builds a properties object and matches the topic
against callbacks for each message, and hands it to the worker's thread through a queue,
then sends each PUBACK on its own. At 10,000 messages a second that was about a quarter of
a CPU. Here the worker reads whatever has arrived into one large buffer with one
``recv_into``, cuts PUBLISH frames out of it with a few index operations (their
properties skipped by length), and sends a batch's PUBACKs in one ``sendall``; measured by
``benchmarks/mqtt_receive.py``.

Only what the worker needs of MQTT 5 (protocol version 5, packet types of section 3):
CONNECT with user name and password, Clean Start, Session Expiry Interval, Receive
Maximum and Maximum Packet Size; CONNACK and its reason code; SUBSCRIBE and SUBACK;
UNSUBSCRIBE and UNSUBACK (``ingest-mqtt --retire``); PUBLISH in at QoS 0 and 1 and PUBACK;
PUBLISH out at QoS 1 (the commands) and its PUBACK; PINGREQ/PINGRESP; DISCONNECT both ways,
ours with a Session Expiry Interval of 0 when a worker's session is ended for good. A QoS 2 message or an AUTH exchange never comes,
since the worker neither subscribes at QoS 2 nor asks for extended authentication: from
a broker, they end the connection as a protocol error. Nothing here knows about Django.
"""

from __future__ import annotations

import logging
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)

CONNECT, CONNACK, PUBLISH, PUBACK = 0x10, 0x20, 0x30, 0x40
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK = 0x82, 0x90, 0xA2, 0xB0
PINGREQ, PINGRESP, DISCONNECT = 0xC0, 0xD0, 0xE0
PINGREQ_FRAME = b"\xc0\x00"
# the broker may send up to this much in one packet (CONNECT's Maximum Packet Size): the
# protocol's messages are at most 1 MiB, and the broker is set to refuse more (1,100,000)
MAX_PACKET = 2 * 1024 * 1024

# MQTT 5 reason codes the worker names in its log (section 2.4)
REASONS = {
    0x00: "success",
    0x04: "disconnect with will message",
    0x10: "no matching subscribers",
    0x11: "no subscription existed",
    0x80: "unspecified error",
    0x81: "malformed packet",
    0x82: "protocol error",
    0x83: "implementation specific error",
    0x84: "unsupported protocol version",
    0x85: "client identifier not valid",
    0x86: "bad user name or password",
    0x87: "not authorized",
    0x88: "server unavailable",
    0x89: "server busy",
    0x8A: "banned",
    0x8B: "server shutting down",
    0x8C: "bad authentication method",
    0x8D: "keep alive timeout",
    0x8E: "session taken over",
    0x8F: "topic filter invalid",
    0x90: "topic name invalid",
    0x91: "packet identifier in use",
    0x93: "receive maximum exceeded",
    0x95: "packet too large",
    0x97: "quota exceeded",
    0x98: "administrative action",
    0x99: "payload format invalid",
    0x9C: "use another server",
    0x9D: "server moved",
    0x9E: "shared subscriptions not supported",
    0x9F: "connection rate exceeded",
    0xA0: "maximum connect time",
    0xA2: "wildcard subscriptions not supported",
}


def reason(code: int) -> str:
    return f"0x{code:02X} ({REASONS.get(code, 'unknown')})"


class ProtocolError(Exception):
    """The broker sent something that is not MQTT 5 as this client speaks it: the
    connection is closed (with DISCONNECT 0x81 or 0x82) and made again."""

    def __init__(self, text: str, code: int = 0x81) -> None:
        super().__init__(text)
        self.code = code


class ConnectionLost(Exception):
    """The connection ended: the broker closed it or sent DISCONNECT, or it broke."""


class Refused(Exception):
    """CONNACK with a failure reason code: credentials, client ID, server state."""

    def __init__(self, code: int, text: str | None) -> None:
        super().__init__(f"{reason(code)}{f': {text}' if text else ''}")
        self.code = code


# --- encoding ---------------------------------------------------------------------------


def varint(value: int) -> bytes:
    """A Variable Byte Integer (1.5.5): 7 bits a byte, at most 4 bytes."""
    if not 0 <= value <= 268_435_455:
        raise ValueError(f"{value} does not fit a variable byte integer")
    out = bytearray()
    while True:
        value, digit = divmod(value, 128)
        if value:
            out.append(digit | 0x80)
        else:
            out.append(digit)
            return bytes(out)


def _string(text: str) -> bytes:
    data = text.encode()
    if len(data) > 65535:
        raise ValueError("an MQTT string holds at most 65,535 bytes")
    return len(data).to_bytes(2, "big") + data


def _binary(data: bytes) -> bytes:
    if len(data) > 65535:
        raise ValueError("MQTT binary data holds at most 65,535 bytes")
    return len(data).to_bytes(2, "big") + data


def _frame(first: int, body: bytes) -> bytes:
    return bytes([first]) + varint(len(body)) + body


def connect_frame(
    client_id: str,
    *,
    username: str | None,
    password: str | None,
    keepalive: int,
    clean_start: bool,
    session_expiry: int,
    receive_maximum: int,
    max_packet: int = MAX_PACKET,
) -> bytes:
    properties = (
        b"\x11"
        + session_expiry.to_bytes(4, "big")
        + b"\x21"
        + receive_maximum.to_bytes(2, "big")
        + b"\x27"
        + max_packet.to_bytes(4, "big")
    )
    flags = (0x80 if username is not None else 0) | (0x40 if password is not None else 0)
    flags |= 0x02 if clean_start else 0
    header = b"\x00\x04MQTT\x05" + bytes([flags]) + keepalive.to_bytes(2, "big")
    payload = _string(client_id)
    if username is not None:
        payload += _string(username)
    if password is not None:
        payload += _binary(password.encode())
    return _frame(CONNECT, header + varint(len(properties)) + properties + payload)


def subscribe_frame(packet_id: int, filters: Sequence[str], qos: int = 1) -> bytes:
    body = packet_id.to_bytes(2, "big") + b"\x00"  # no properties
    body += b"".join(_string(f) + bytes([qos]) for f in filters)
    return _frame(SUBSCRIBE, body)


def unsubscribe_frame(packet_id: int, filters: Sequence[str]) -> bytes:
    body = packet_id.to_bytes(2, "big") + b"\x00"  # no properties
    return _frame(UNSUBSCRIBE, body + b"".join(_string(f) for f in filters))


def publish_frame(topic: str, payload: bytes, *, qos: int = 0, packet_id: int = 0) -> bytes:
    body = _string(topic) + (packet_id.to_bytes(2, "big") if qos else b"") + b"\x00" + payload
    return _frame(PUBLISH | (qos << 1), body)


def puback_frames(packet_ids: Sequence[int]) -> bytes:
    """PUBACKs with reason code 0, which MQTT 5 lets a sender leave out (3.4.2.1): 4 bytes
    each, all in one buffer, for one ``sendall``."""
    return struct.pack(f">{2 * len(packet_ids)}H", *[v for m in packet_ids for v in (0x4002, m)])


def disconnect_frame(code: int = 0, *, session_expiry: int | None = None) -> bytes:
    """``session_expiry``: the Session Expiry Interval property (3.14.2.2.2), 0 to end the
    session now; it may not be set above 0 when CONNECT said 0, which this client never
    does."""
    if session_expiry is None:
        return b"\xe0\x00" if code == 0 else bytes([DISCONNECT, 1, code])
    properties = b"\x11" + session_expiry.to_bytes(4, "big")
    return _frame(DISCONNECT, bytes([code, len(properties)]) + properties)


# --- decoding ---------------------------------------------------------------------------


@dataclass
class Packet:
    """A packet other than PUBLISH (rare: parsed with care rather than speed)."""

    kind: int  # the type's high nibble, e.g. CONNACK
    packet_id: int = 0
    code: int = 0  # the reason code (CONNACK, PUBACK, DISCONNECT)
    codes: list[int] = field(default_factory=list)  # SUBACK, UNSUBACK: one per filter
    session_present: bool = False
    properties: dict[int, Any] = field(default_factory=dict)

    @property
    def reason_string(self) -> str | None:
        return self.properties.get(0x1F)


# property identifier → its type (2.2.2.2): 1, 2 or 4 bytes, a variable byte integer,
# a UTF-8 string, binary data or a string pair
_PROPERTY_TYPES = {
    **dict.fromkeys((0x01, 0x17, 0x19, 0x24, 0x25, 0x28, 0x29, 0x2A), "byte"),
    **dict.fromkeys((0x13, 0x21, 0x22, 0x23), "two"),
    **dict.fromkeys((0x02, 0x11, 0x18, 0x27), "four"),
    0x0B: "varint",
    **dict.fromkeys((0x03, 0x08, 0x12, 0x15, 0x1A, 0x1C, 0x1F), "string"),
    **dict.fromkeys((0x09, 0x16), "binary"),
    0x26: "pair",
}


def _read_varint(data: bytes | bytearray | memoryview, pos: int, end: int) -> tuple[int, int]:
    """(value, position after it); ProtocolError when it runs past ``end`` or over 4 bytes."""
    value = shift = 0
    for _ in range(4):
        if pos >= end:
            raise ProtocolError("a variable byte integer runs past the packet's end")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
    raise ProtocolError("a variable byte integer of more than 4 bytes")


def _read_properties(data: memoryview, pos: int, end: int) -> tuple[dict[int, Any], int]:
    length, pos = _read_varint(data, pos, end)
    stop = pos + length
    if stop > end:
        raise ProtocolError("properties run past the packet's end")
    found: dict[int, Any] = {}
    while pos < stop:
        ident, pos = _read_varint(data, pos, stop)
        kind = _PROPERTY_TYPES.get(ident)
        size = {"byte": 1, "two": 2, "four": 4}.get(kind or "", 0)
        if kind is None:
            raise ProtocolError(f"unknown property 0x{ident:02X}")
        if size:
            if pos + size > stop:
                raise ProtocolError(f"property 0x{ident:02X} runs past the properties' end")
            value: Any = int.from_bytes(data[pos : pos + size], "big")
            pos += size
        elif kind == "varint":
            value, pos = _read_varint(data, pos, stop)
        else:
            parts = []
            for _ in range(2 if kind == "pair" else 1):
                if pos + 2 > stop:
                    raise ProtocolError(f"property 0x{ident:02X} runs past the properties' end")
                n = int.from_bytes(data[pos : pos + 2], "big")
                if pos + 2 + n > stop:
                    raise ProtocolError(f"property 0x{ident:02X} runs past the properties' end")
                raw = bytes(data[pos + 2 : pos + 2 + n])
                parts.append(raw if kind == "binary" else raw.decode("utf-8", "replace"))
                pos += 2 + n
            value = tuple(parts) if kind == "pair" else parts[0]
        if kind == "pair":
            found.setdefault(ident, []).append(value)
        else:
            found[ident] = value
    return found, stop


def _control(first: int, data: memoryview, pos: int, end: int) -> Packet:
    kind = first & 0xF0
    if first & 0x0F and kind != PUBLISH:
        raise ProtocolError(f"packet type 0x{first:02X}: reserved flags set")
    length = end - pos
    if kind == CONNACK:
        if length < 2:
            raise ProtocolError("CONNACK shorter than 2 bytes")
        properties, stop = _read_properties(data, pos + 2, end) if length > 2 else ({}, end)
        if data[pos] & 0xFE:
            raise ProtocolError("CONNACK: reserved acknowledge flags set")
        return Packet(
            CONNACK, code=data[pos + 1], session_present=bool(data[pos] & 1), properties=properties
        )
    if kind in (PUBACK, SUBACK, UNSUBACK):
        if length < 2:
            raise ProtocolError(f"packet 0x{first:02X} without a packet identifier")
        packet_id = int.from_bytes(data[pos : pos + 2], "big")
        if kind == PUBACK:
            code = data[pos + 2] if length > 2 else 0
            properties = _read_properties(data, pos + 3, end)[0] if length > 3 else {}
            return Packet(PUBACK, packet_id=packet_id, code=code, properties=properties)
        properties, stop = _read_properties(data, pos + 2, end)
        codes = list(data[stop:end])
        name = "SUBACK" if kind == SUBACK else "UNSUBACK"
        if not codes:
            raise ProtocolError(f"{name} without reason codes")
        return Packet(kind, packet_id=packet_id, codes=codes, properties=properties)
    if kind == PINGRESP:
        if length:
            raise ProtocolError("PINGRESP with a body")
        return Packet(PINGRESP)
    if kind == DISCONNECT:
        code = data[pos] if length else 0
        properties = _read_properties(data, pos + 1, end)[0] if length > 1 else {}
        return Packet(DISCONNECT, code=code, properties=properties)
    raise ProtocolError(f"packet type 0x{first:02X} is not one a broker sends this client", 0x82)


class FrameReader:
    """Cuts MQTT packets out of the bytes read from the connection.

    ``recv_into`` a large buffer, then ``parse``: every complete PUBLISH becomes
    ``message(topic, payload)`` in ``messages`` and its packet identifier (0 for QoS 0)
    in ``packet_ids``; every other packet a ``Packet`` in ``packets``. An incomplete
    packet stays in the buffer for the next read. A packet that breaks the protocol
    raises ProtocolError; the reader is then of no further use (the connection is
    closed)."""

    def __init__(self, message: Callable[[str, bytes], Any], max_packet: int = MAX_PACKET) -> None:
        self.message = message
        self.max_packet = max_packet
        # room for a whole packet of the largest size after a partial one
        self.buffer = bytearray(2 * max_packet + 16)
        self.view = memoryview(self.buffer)
        self.start = self.end = 0

    def recv_into(self, sock: socket.socket) -> int:
        """One ``recv_into`` into the free end of the buffer; 0 when the peer closed."""
        if self.start == self.end:
            self.start = self.end = 0
        elif len(self.buffer) - self.end < self.max_packet + 5:
            # the partial packet at the end moves to the front
            rest = self.end - self.start
            self.buffer[:rest] = self.view[self.start : self.end]
            self.start, self.end = 0, rest
        count = sock.recv_into(self.view[self.end :])
        self.end += count
        return count

    def feed(self, data: bytes) -> None:
        """Add bytes as if read (for tests)."""
        if self.start == self.end:
            self.start = self.end = 0
        rest = self.end - self.start
        if rest + len(data) > len(self.buffer):
            raise ProtocolError("more unparsed data than the buffer holds")
        if self.end + len(data) > len(self.buffer):
            self.buffer[:rest] = self.view[self.start : self.end]
            self.start, self.end = 0, rest
        self.buffer[self.end : self.end + len(data)] = data
        self.end += len(data)

    def parse(self, messages: list, packet_ids: list[int], packets: list[Packet]) -> None:
        buf, view, message = self.buffer, self.view, self.message
        pos, end = self.start, self.end
        try:
            while end - pos >= 2:
                first = buf[pos]
                length = buf[pos + 1]
                body = pos + 2
                if length & 0x80:
                    # a longer Remaining Length: up to 4 bytes (1.5.5)
                    length &= 0x7F
                    shift = 7
                    while True:
                        if body >= end:
                            return
                        byte = buf[body]
                        body += 1
                        length |= (byte & 0x7F) << shift
                        if not byte & 0x80:
                            break
                        shift += 7
                        if shift > 21:
                            raise ProtocolError("remaining length of more than 4 bytes")
                if length > self.max_packet:
                    raise ProtocolError(
                        f"a packet of {length:,} bytes, over the {self.max_packet:,} announced",
                        0x95,
                    )
                stop = body + length
                if stop > end:
                    return
                if first & 0xF0 == PUBLISH:
                    qos = (first >> 1) & 3
                    if length < 2:
                        raise ProtocolError("PUBLISH shorter than its topic's length")
                    p = body + 2 + (buf[body] << 8 | buf[body + 1])
                    if p > stop:
                        raise ProtocolError("PUBLISH topic runs past the packet's end")
                    topic = buf[body + 2 : p].decode("utf-8", "replace")
                    if qos:
                        if qos != 1:
                            raise ProtocolError(f"PUBLISH at QoS {qos}", 0x82 if qos == 2 else 0x81)
                        if p + 2 > stop:
                            raise ProtocolError("PUBLISH ends inside its packet identifier")
                        packet_id = buf[p] << 8 | buf[p + 1]
                        if not packet_id:
                            raise ProtocolError("PUBLISH at QoS 1 with packet identifier 0")
                        p += 2
                    else:
                        packet_id = 0
                    if p >= stop:
                        raise ProtocolError("PUBLISH ends before its properties")
                    skip = buf[p]
                    p += 1
                    if skip & 0x80:
                        skip, p = _read_varint(buf, p - 1, stop)
                    p += skip
                    if p > stop:
                        raise ProtocolError("PUBLISH properties run past the packet's end")
                    messages.append(message(topic, bytes(view[p:stop])))
                    packet_ids.append(packet_id)
                else:
                    packets.append(_control(first, view, body, stop))
                pos = stop
        finally:
            self.start = pos


# --- the connection ---------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    host: str
    port: int
    client_id: str
    username: str | None
    password: str | None
    tls: bool
    subscriptions: tuple[str, ...]
    keepalive: int = 30
    session_expiry: int = 0
    receive_maximum: int = 65535
    connect_timeout: float = 10.0
    cafile: str | None = None  # TLS: the CA to trust instead of the system's (tests)


@dataclass
class Received:
    """What one ``receive`` call got, all on one connection (``generation``)."""

    generation: int
    messages: list
    packet_ids: list[int]


class Client:
    """One MQTT 5 connection at a time, made again by ``connect`` after a loss.

    Reading and acknowledging happen on the caller's thread. While that thread waits on
    something else (a batch in the database, the database away) the keep-alive thread
    sends PINGREQ when nothing else went out for half the keep-alive, so the broker does
    not drop the connection; it wakes a few times per keep-alive and takes the I/O lock
    only then. All socket I/O holds ``lock`` (an SSL connection must not be read and
    written by two threads at once)."""

    reader_class = FrameReader

    def __init__(self, settings: Settings, *, message: Callable[[str, bytes], Any]) -> None:
        self.settings = settings
        self.message = message
        self.generation = 0  # connections made; 0 before the first
        self.session_present = False
        self.subscribed = threading.Event()  # the broker granted this connection's filters
        # the broker's UNSUBACK on this connection: its reason codes, and when it came
        self.unsuback: Packet | None = None
        self.unsubscribed_at = 0.0
        self.lock = threading.Lock()
        self.sock: socket.socket | None = None
        self.reader = self.reader_class(message)
        self.keepalive = settings.keepalive
        self.last_sent = time.monotonic()
        self.ping_sent_at: float | None = None  # our unanswered PINGREQ, if any
        self.next_id = 0
        self.unacked: dict[int, bytes] = {}  # our QoS 1 publishes awaiting PUBACK
        self.max_out = MAX_PACKET
        self.broken: str | None = None  # why the keep-alive thread found it unusable
        self._subscribe_id = 0
        self._unsubscribe_id = 0
        self._pending: tuple[list, list[int], list[Packet]] | None = None
        self._stop = threading.Event()
        self._pinger: threading.Thread | None = None

    @property
    def connected(self) -> bool:
        return self.sock is not None

    # --- connecting ---------------------------------------------------------------

    def connect(self) -> Packet:
        """Connect, wait for CONNACK, subscribe to ``settings.subscriptions``, if any (SUBACK
        comes with the messages).

        Raises Refused (CONNACK's reason code), OSError (no connection, TLS), or
        ProtocolError / ConnectionLost (the broker answered with something else)."""
        self.close()
        s = self.settings
        sock = socket.create_connection((s.host, s.port), timeout=s.connect_timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if s.tls:
                context = ssl.create_default_context(cafile=s.cafile)
                sock = context.wrap_socket(sock, server_hostname=s.host)
            sock.sendall(
                connect_frame(
                    s.client_id,
                    username=s.username,
                    password=s.password,
                    keepalive=s.keepalive,
                    clean_start=False,
                    session_expiry=s.session_expiry,
                    receive_maximum=s.receive_maximum,
                )
            )
            reader = self.reader_class(self.message)
            messages: list = []
            ids: list[int] = []
            packets: list[Packet] = []
            deadline = time.monotonic() + s.connect_timeout
            while not packets:
                sock.settimeout(max(0.01, deadline - time.monotonic()))
                if not reader.recv_into(sock):
                    raise ConnectionLost("the broker closed the connection before CONNACK")
                if reader.buffer[0] & 0xF0 != CONNACK:
                    raise ProtocolError("the broker's first packet was not CONNACK", 0x82)
                reader.parse(messages, ids, packets)
            connack = packets[0]
            if connack.code != 0x00:  # the only success a CONNACK has (MQTT 5, 3.2.2.2)
                raise Refused(connack.code, connack.reason_string)
        except BaseException:
            sock.close()
            raise
        self.sock, self.reader = sock, reader
        self.generation += 1
        self.session_present = connack.session_present
        # the server's keep-alive, if it names one, is the one to keep (3.2.2.3.14)
        self.keepalive = connack.properties.get(0x13, s.keepalive)
        self.max_out = connack.properties.get(0x27, MAX_PACKET)
        self.last_sent = time.monotonic()
        self.ping_sent_at = None
        self.broken = None
        self.subscribed.clear()
        self.unsuback = None
        self._subscribe_id = self._unsubscribe_id = 0
        try:
            if s.subscriptions:
                self._subscribe_id = self._packet_id()
                self._send(subscribe_frame(self._subscribe_id, s.subscriptions))
            # our publishes the broker had not acknowledged go again, marked DUP, when the
            # session is still there (4.4); a new session knows nothing of them
            if self.session_present:
                for frame in self.unacked.values():
                    self._send(bytes([frame[0] | 0x08]) + frame[1:])
            else:
                self.unacked.clear()
        except OSError:
            self.close()
            raise
        self._start_pinger()
        # the packets after CONNACK in the same read (messages of the resumed session)
        self._pending = (messages, ids, packets[1:])
        return connack

    def _start_pinger(self) -> None:
        if self._pinger is None or not self._pinger.is_alive():
            self._stop.clear()
            self._pinger = threading.Thread(
                target=self._keep_alive, name="mqtt-keepalive", daemon=True
            )
            self._pinger.start()

    def _keep_alive(self) -> None:
        while not self._stop.wait(max(0.5, self.keepalive / 4)):
            if self.sock is None or not self.keepalive:
                continue
            if time.monotonic() - self.last_sent >= self.keepalive / 2:
                try:
                    self._send(PINGREQ_FRAME)
                except (OSError, ConnectionLost) as exc:
                    self.broken = f"keep-alive: {exc}"
                    continue
                # awaiting its PINGRESP, as after the main thread's own PINGREQ
                self.ping_sent_at = self.ping_sent_at or time.monotonic()

    def close(self, code: int | None = None, *, session_expiry: int | None = None) -> None:
        """Close the connection; with ``code``, after a DISCONNECT with that reason code
        (0: a normal disconnection, and the broker drops the last will, if any) and, with
        ``session_expiry``, that Session Expiry Interval (0: the broker ends the session)."""
        sock, self.sock = self.sock, None
        if sock is None:
            return
        with self.lock:
            try:
                if code is not None:
                    sock.settimeout(1.0)
                    sock.sendall(disconnect_frame(code, session_expiry=session_expiry))
                    # Wait for the broker to close its side: closing ours at once, with
                    # anything of its still unread, makes the kernel reset the connection,
                    # and the broker then loses the PUBACKs it had not read yet (measured:
                    # thousands at the end of a fast run, sent again to the next worker)
                    sock.shutdown(socket.SHUT_WR)
                    deadline = time.monotonic() + 2.0
                    while time.monotonic() < deadline and sock.recv(65536):
                        pass
            except OSError:
                pass
            finally:
                sock.close()

    def stop(self, *, end_session: bool = False) -> None:
        """DISCONNECT (normal) and close; the keep-alive thread ends. ``end_session``: with
        a Session Expiry Interval of 0, so the broker drops the session, its subscriptions
        and anything still queued in it, at once rather than after the expiry."""
        self._stop.set()
        self.close(0, session_expiry=0 if end_session else None)

    # --- sending ------------------------------------------------------------------

    def _send(self, data: bytes) -> None:
        with self.lock:
            sock = self.sock
            if sock is None:
                raise ConnectionLost("not connected")
            sock.settimeout(self.settings.connect_timeout)
            sock.sendall(data)
            self.last_sent = time.monotonic()

    def _packet_id(self) -> int:
        for _ in range(65535):
            self.next_id = self.next_id % 65535 + 1
            if self.next_id not in self.unacked:
                return self.next_id
        raise RuntimeError("every packet identifier is in use")

    def ack(self, packet_ids: Sequence[int]) -> None:
        """PUBACK the QoS 1 messages of this connection in one write (QoS 0: 0, skipped)."""
        ids = [m for m in packet_ids if m]
        if ids:
            self._send(puback_frames(ids))

    def unsubscribe(self, filters: Sequence[str]) -> int:
        """UNSUBSCRIBE from ``filters``; ``unsuback`` holds the broker's answer once it came
        (read by ``receive``). Its packet identifier."""
        self._unsubscribe_id = self._packet_id()
        self.unsuback = None
        self._send(unsubscribe_frame(self._unsubscribe_id, filters))
        return self._unsubscribe_id

    def publish(self, topic: str, payload: bytes) -> int:
        """PUBLISH at QoS 1; the packet identifier stays in ``unacked`` until its PUBACK.
        Sent again after a reconnect that resumes the session, as paho did."""
        frame_id = self._packet_id()
        frame = publish_frame(topic, payload, qos=1, packet_id=frame_id)
        if len(frame) > self.max_out:
            raise ValueError(f"a message of {len(frame):,} bytes, over the broker's maximum")
        self.unacked[frame_id] = frame  # before sending: a lost connection sends it again
        self._send(frame)
        return frame_id

    # --- receiving ----------------------------------------------------------------

    def receive(self, timeout: float) -> Received:
        """The messages that arrived within ``timeout`` (all that are there already, or
        the first read's worth). Handles the other packets on the way; sends PINGREQ when
        due. Raises ConnectionLost (and closes) when the connection is gone or broken;
        ProtocolError is logged with the broker's bytes never shown, and also ends in
        ConnectionLost."""
        messages: list = []
        ids: list[int] = []
        packets: list[Packet] = []
        generation = self.generation
        pending = self._pending
        if pending is not None:
            self._pending = None
            messages, ids, packets = pending
            self._handle(packets)
            if messages:
                return Received(generation, messages, ids)
            packets = []
        sock = self.sock
        if sock is None:
            raise ConnectionLost("not connected")
        if self.broken:
            self._lost(self.broken)
        now = time.monotonic()
        if self.keepalive:
            if now - self.last_sent >= self.keepalive / 2:
                self._ping()
            timeout = min(timeout, max(0.0, self.last_sent + self.keepalive / 2 - now))
        try:
            with self.lock:
                if not (isinstance(sock, ssl.SSLSocket) and sock.pending()):
                    sock.settimeout(timeout)
                count = self.reader.recv_into(sock)
                if count and isinstance(sock, ssl.SSLSocket):
                    # what the TLS layer decrypted already: no reason to wait for it
                    while sock.pending():
                        count = self.reader.recv_into(sock)
        except (TimeoutError, BlockingIOError, ssl.SSLWantReadError):
            # silence: a broker that has not answered a PINGREQ within 1.5 times the
            # keep-alive is gone (as the broker judges a silent client, 3.1.2.10)
            waited = time.monotonic() - (self.ping_sent_at or time.monotonic())
            if self.keepalive and waited > self.keepalive * 1.5:
                self._lost(f"no answer to PINGREQ within {self.keepalive * 1.5:.0f} s")
            return Received(generation, messages, ids)
        except OSError as exc:
            self._lost(f"read failed: {exc}")
        if not count:
            self._lost("the broker closed the connection")
        self.ping_sent_at = None  # whatever it sent, the broker is there
        try:
            self.reader.parse(messages, ids, packets)
        except ProtocolError as exc:
            logger.error("malformed packet from the broker: %s; closing the connection", exc)
            self.close(exc.code)
            raise ConnectionLost(f"malformed packet: {exc}") from None
        self._handle(packets)
        return Received(generation, messages, ids)

    def _ping(self) -> None:
        try:
            self._send(PINGREQ_FRAME)
        except OSError as exc:
            self._lost(f"write failed: {exc}")
        self.ping_sent_at = self.ping_sent_at or time.monotonic()

    def _handle(self, packets: list[Packet]) -> None:
        for packet in packets:
            if packet.kind == PUBACK:
                self.unacked.pop(packet.packet_id, None)
                if packet.code >= 0x80:
                    logger.warning("the broker refused a command message: %s", reason(packet.code))
            elif packet.kind == SUBACK:
                if packet.packet_id != self._subscribe_id:
                    continue
                failed = [c for c in packet.codes if c >= 0x80]
                if failed or len(packet.codes) != len(self.settings.subscriptions):
                    text = ", ".join(reason(c) for c in packet.codes)
                    logger.error(
                        "the broker refused the subscription (%s)%s; the service user's ACL "
                        "must let it read the gateways' topics (docs/deployment.md)",
                        text,
                        f": {packet.reason_string}" if packet.reason_string else "",
                    )
                else:
                    self.subscribed.set()
            elif packet.kind == UNSUBACK:
                if packet.packet_id != self._unsubscribe_id or not self._unsubscribe_id:
                    continue
                self.unsuback = packet
                self.unsubscribed_at = time.monotonic()
                if any(c >= 0x80 for c in packet.codes):
                    logger.error(
                        "the broker refused the unsubscription (%s)%s",
                        ", ".join(reason(c) for c in packet.codes),
                        f": {packet.reason_string}" if packet.reason_string else "",
                    )
            elif packet.kind == DISCONNECT:
                said = f" ({packet.reason_string})" if packet.reason_string else ""
                self._lost(f"the broker disconnected: {reason(packet.code)}{said}")
            elif packet.kind == CONNACK:
                self.close(0x82)
                raise ConnectionLost("a second CONNACK: protocol error")

    def _lost(self, why: str) -> None:
        self.close()
        raise ConnectionLost(why)
