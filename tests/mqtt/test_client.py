"""essmon's MQTT 5 client (essmon/mqtt/client.py): its frame parser by Hypothesis, and the
client against a real Mosquitto (sessions, keep-alive, refusals, the broker's DISCONNECT,
TLS) and against a fake broker that sends what no broker should."""

from __future__ import annotations

import socket
import struct
import threading
import time
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from essmon.mqtt import client as mqtt
from essmon.mqtt.broker import service_acl_file_text, service_password_file_text
from essmon.mqtt.client import (
    Client,
    ConnectionLost,
    FrameReader,
    Packet,
    ProtocolError,
    Refused,
    Settings,
    varint,
)
from tests import factories
from tests.mosquitto import SERVICE
from tests.services import free_port, require
from tests.waiting import wait_until

MAX = 8192  # the readers' maximum packet here: small, so lengths past it are quick to make


@dataclass(frozen=True)
class Message:
    topic: str
    payload: bytes


def reader() -> FrameReader:
    return FrameReader(Message, max_packet=MAX)


def parse_all(chunks: list[bytes]) -> tuple[list, list, list]:
    got: tuple[list, list, list] = ([], [], [])
    made = reader()
    for chunk in chunks:
        made.feed(chunk)
        made.parse(*got)
    assert made.start == made.end, "bytes left over"
    return got


# --- frames, as a broker may send them ---------------------------------------------------

properties = st.one_of(
    st.tuples(st.sampled_from([0x01]), st.integers(0, 1).map(lambda v: bytes([v]))),
    st.tuples(
        st.sampled_from([0x02]), st.integers(0, 2**32 - 1).map(lambda v: v.to_bytes(4, "big"))
    ),
    st.tuples(st.sampled_from([0x0B]), st.integers(1, 268_435_455).map(varint)),
    st.tuples(st.sampled_from([0x23]), st.integers(1, 65535).map(lambda v: v.to_bytes(2, "big"))),
    st.tuples(
        st.sampled_from([0x03, 0x08]),
        st.text(max_size=20).map(lambda t: mqtt._string(t)),
    ),
    st.tuples(st.sampled_from([0x09]), st.binary(max_size=20).map(mqtt._binary)),
    st.tuples(
        st.sampled_from([0x26]),
        st.tuples(st.text(max_size=10), st.text(max_size=10)).map(
            lambda kv: mqtt._string(kv[0]) + mqtt._string(kv[1])
        ),
    ),
)


@st.composite
def publishes(draw) -> tuple[bytes, tuple]:
    topic = draw(st.text(max_size=60))
    payload = draw(st.binary(max_size=400))
    qos = draw(st.sampled_from([0, 1]))
    packet_id = draw(st.integers(1, 65535)) if qos else 0
    props = b"".join(varint(i) + v for i, v in draw(st.lists(properties, max_size=4)))
    flags = (qos << 1) | draw(st.integers(0, 1)) | (draw(st.integers(0, 1)) << 3)  # retain, dup
    body = mqtt._string(topic) + (packet_id.to_bytes(2, "big") if qos else b"")
    body += varint(len(props)) + props + payload
    return bytes([0x30 | flags]) + varint(len(body)) + body, ("message", topic, payload, packet_id)


@st.composite
def controls(draw) -> tuple[bytes, tuple]:
    kind = draw(st.sampled_from(["pingresp", "puback", "suback", "unsuback", "disconnect"]))
    if kind == "pingresp":
        return b"\xd0\x00", ("packet", mqtt.PINGRESP, 0, 0, [])
    if kind == "puback":
        packet_id = draw(st.integers(1, 65535))
        code = draw(st.sampled_from([0, 0x10, 0x87]))
        body = packet_id.to_bytes(2, "big") + (bytes([code, 0]) if code else b"")
        return mqtt._frame(mqtt.PUBACK, body), ("packet", mqtt.PUBACK, packet_id, code, [])
    if kind == "suback":
        packet_id = draw(st.integers(1, 65535))
        codes = draw(st.lists(st.sampled_from([0, 1, 0x80, 0x87]), min_size=1, max_size=4))
        body = packet_id.to_bytes(2, "big") + b"\x00" + bytes(codes)
        return mqtt._frame(mqtt.SUBACK, body), ("packet", mqtt.SUBACK, packet_id, 0, codes)
    if kind == "unsuback":
        packet_id = draw(st.integers(1, 65535))
        codes = draw(st.lists(st.sampled_from([0, 0x11, 0x80, 0x87, 0x8F]), min_size=1, max_size=4))
        props = b"".join(varint(i) + v for i, v in draw(st.lists(properties, max_size=2)))
        body = packet_id.to_bytes(2, "big") + varint(len(props)) + props + bytes(codes)
        return mqtt._frame(mqtt.UNSUBACK, body), ("packet", mqtt.UNSUBACK, packet_id, 0, codes)
    code = draw(st.sampled_from([0, 0x8B, 0x8E]))
    text = draw(st.text(max_size=30))
    props = b"\x1f" + mqtt._string(text)
    body = bytes([code]) + varint(len(props)) + props
    return mqtt._frame(mqtt.DISCONNECT, body), ("packet", mqtt.DISCONNECT, 0, code, [])


def flatten(got: tuple[list, list, list]) -> tuple[list, list]:
    messages, ids, packets = got
    return (
        [("message", m.topic, m.payload, i) for m, i in zip(messages, ids, strict=True)],
        [("packet", p.kind, p.packet_id, p.code, p.codes) for p in packets],
    )


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    frames=st.lists(st.one_of(publishes(), controls()), min_size=1, max_size=12),
    cuts=st.lists(st.integers(0, 10_000), max_size=12),
)
def test_a_stream_split_anywhere_parses_as_a_whole(frames, cuts):
    stream = b"".join(data for data, _ in frames)
    points = sorted({c % (len(stream) + 1) for c in cuts})
    chunks = [stream[a:b] for a, b in zip([0, *points], [*points, len(stream)], strict=True)]
    expected_messages = [e for _, e in frames if e[0] == "message"]
    expected_packets = [e for _, e in frames if e[0] == "packet"]
    assert flatten(parse_all(chunks)) == (expected_messages, expected_packets)
    assert flatten(parse_all([stream])) == (expected_messages, expected_packets)


@settings(max_examples=500)
@given(st.binary(max_size=200), st.binary(max_size=200))
def test_any_bytes_are_packets_incomplete_or_a_protocol_error_never_anything_else(a, b):
    made = reader()
    try:
        for chunk in (a, b):
            made.feed(chunk)
            made.parse([], [], [])
    except ProtocolError:
        pass


@settings(max_examples=200)
@given(publishes(), st.integers(1, 399))
def test_a_truncated_publish_waits_for_the_rest(frame, keep):
    data, expected = frame
    made = reader()
    made.feed(data[: min(keep, len(data) - 1)])
    got: tuple[list, list, list] = ([], [], [])
    made.parse(*got)
    assert got == ([], [], [])
    made.feed(data[min(keep, len(data) - 1) :])
    made.parse(*got)
    assert flatten(got)[0] == [expected]


@settings(max_examples=300)
@given(publishes(), st.integers(0, 2000))
def test_a_publish_with_its_length_cut_anywhere_is_an_error_or_a_shorter_message(frame, cut):
    """Bad lengths: the Remaining Length says less than the packet holds, cutting it inside
    the topic, the packet identifier, the properties or the payload. The reader either
    refuses it or takes the shorter message, and then the packet after it, never anything
    else (the bytes past the cut are simply the next packets: a PINGRESP here)."""
    data, (_, topic, payload, packet_id) = frame
    header = 1 + len(varint(len(data) - 1 - len(varint(len(data) - 1))))
    body = data[header:][: cut % (len(data) - header + 1)]
    stream = bytes([data[0]]) + varint(len(body)) + body + b"\xd0\x00"
    try:
        messages, ids, packets = parse_all([stream])
    except ProtocolError:
        return
    assert len(messages) == 1 and [p.kind for p in packets] == [mqtt.PINGRESP]
    assert messages[0].topic == topic and payload.startswith(messages[0].payload)
    assert ids == [packet_id]


def publish(topic: bytes, rest: bytes, *, first: int = 0x32) -> bytes:
    body = len(topic).to_bytes(2, "big") + topic + rest
    return bytes([first]) + varint(len(body)) + body


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"\x30\xff\xff\xff\xff\x01", "more than 4 bytes"),
        (b"\x30" + varint(MAX + 1), "over the 8,192 announced"),
        (b"\x30\x01\x00", "shorter than its topic's length"),
        (b"\x30\x04\x00\x09ab", "topic runs past"),
        (publish(b"t", b"\x00\x05"), "ends before its properties"),  # QoS 1: id, no properties
        (publish(b"t", b"\x00\x05\x09\x26\x00\x01a"), "properties run past"),
        (publish(b"t", b"\x00\x05\xff\xff\xff\xff\x01"), "more than 4 bytes"),
        (publish(b"t", b"\x00"), "inside its packet identifier"),
        (publish(b"t", b"\x00\x00\x00"), "packet identifier 0"),
        (publish(b"t", b"\x00\x01\x00", first=0x34), "QoS 2"),
        (publish(b"t", b"\x00\x01\x00", first=0x36), "QoS 3"),
        (b"\xd1\x00", "reserved flags"),
        (b"\xd0\x01\x00", "PINGRESP with a body"),
        (b"\x10\x00", "not one a broker sends"),
        (b"\x40\x01\x00", "without a packet identifier"),
        (b"\x90\x03\x00\x01\x00", "SUBACK without reason codes"),
        (b"\xb0\x03\x00\x01\x00", "UNSUBACK without reason codes"),
        (b"\xb0\x01\x00", "without a packet identifier"),
        (b"\xb0\x04\x00\x01\x05\x00", "properties run past"),
        (b"\xb2\x03\x00\x01\x00", "reserved flags"),
        (b"\x90\x05\x00\x01\x02\x7f\x00\x00", "unknown property 0x7F"),
        (b"\xe0\x04\x00\x02\x1f\x00", "runs past the properties' end"),
        (b"\x20\x01\x00", "CONNACK shorter"),
    ],
)
def test_malformed_packets_are_protocol_errors(data, why):
    with pytest.raises(ProtocolError, match=why):
        parse_all([data])


def test_a_topic_that_is_not_utf8_is_passed_on_for_a_dead_letter():
    """paho's topic property raised on it; here it reaches process_messages, which refuses
    it by its topic, and is acknowledged like any other message."""
    messages, ids, _ = parse_all([publish(b"essmon/\xff", b"\x00\x07\x00{}")])
    assert messages == [Message("essmon/\ufffd", b"{}")] and ids == [7]


def test_pubacks_are_four_bytes_each_in_one_buffer():
    assert mqtt.puback_frames([1, 0x1234]) == b"\x40\x02\x00\x01\x40\x02\x12\x34"
    assert mqtt.puback_frames([]) == b""
    assert struct.unpack(">HH", mqtt.puback_frames([65535])) == (0x4002, 65535)


def test_unsubscribe_and_a_disconnect_that_ends_the_session_as_the_standard_spells_them():
    # UNSUBSCRIBE (3.10): fixed header 0xA2, packet identifier, no properties, the filters
    assert mqtt.unsubscribe_frame(7, ["$share/g/a", "b"]) == (
        b"\xa2\x12\x00\x07\x00" + b"\x00\x0a$share/g/a" + b"\x00\x01b"
    )
    # DISCONNECT (3.14): reason code 0, then properties: Session Expiry Interval (0x11), 0
    assert mqtt.disconnect_frame(0, session_expiry=0) == b"\xe0\x07\x00\x05\x11\x00\x00\x00\x00"
    assert mqtt.disconnect_frame(0) == b"\xe0\x00"
    assert mqtt.disconnect_frame(0x81) == b"\xe0\x01\x81"


@settings(max_examples=200)
@given(st.integers(1, 65535), st.lists(st.text(min_size=1, max_size=80), min_size=1, max_size=5))
def test_an_unsubscribe_frame_holds_its_filters_in_order(packet_id, filters):
    frame = mqtt.unsubscribe_frame(packet_id, filters)
    length, pos = mqtt._read_varint(frame, 1, len(frame))
    assert frame[0] == 0xA2 and pos + length == len(frame)
    assert int.from_bytes(frame[pos : pos + 2], "big") == packet_id and frame[pos + 2] == 0
    pos += 3
    found = []
    while pos < len(frame):
        size = int.from_bytes(frame[pos : pos + 2], "big")
        found.append(frame[pos + 2 : pos + 2 + size].decode())
        pos += 2 + size
    assert found == filters


def test_variable_byte_integers_at_their_edges():
    for value, encoded in [
        (0, b"\x00"),
        (127, b"\x7f"),
        (128, b"\x80\x01"),
        (16_383, b"\xff\x7f"),
        (16_384, b"\x80\x80\x01"),
        (268_435_455, b"\xff\xff\xff\x7f"),
    ]:
        assert varint(value) == encoded
        assert mqtt._read_varint(encoded, 0, len(encoded)) == (value, len(encoded))
    with pytest.raises(ValueError):
        varint(268_435_456)


# --- against a real Mosquitto ---------------------------------------------------------------


def service_settings(broker, client_id: str, **kw) -> Settings:
    options = {
        "host": "127.0.0.1",
        "port": broker.service_port,
        "client_id": client_id,
        "username": SERVICE.username,
        "password": SERVICE.password,
        "tls": False,
        "subscriptions": ("$share/t/essmon/v1/+/telemetry",),
        "session_expiry": 600,
        **kw,
    }
    return Settings(**options)


def receive_until(made: Client, count: int, timeout: float = 10) -> tuple[list, list[int]]:
    messages: list = []
    ids: list[int] = []
    deadline = time.monotonic() + timeout
    while len(messages) < count:
        assert time.monotonic() < deadline, f"{len(messages)} of {count} messages"
        got = made.receive(0.1)
        messages += got.messages
        ids += got.packet_ids
    return messages, ids


def connected(made: Client) -> Client:
    made.connect()
    wait_until(lambda: made.receive(0.05) and made.subscribed.is_set(), 5, "the SUBACK")
    return made


def gateway_publishes(broker, gw, payloads: list[bytes]) -> None:
    from tests.mqtt_helpers import connect, gateway_client

    device = connect(gateway_client(broker, gw), broker, persistent=False)
    for payload in payloads:
        device.publish(f"essmon/v1/{gw.gateway_id}/telemetry", payload, qos=1).wait_for_publish(5)
    device.disconnect()
    device.loop_stop()


@pytest.mark.django_db(transaction=True)
def test_unacknowledged_messages_come_again_after_a_reconnect_and_acknowledged_ones_do_not(
    broker,
):
    gw = factories.connected_gateway()
    broker.reload()
    made = connected(Client(service_settings(broker, "t-redelivery"), message=Message))
    gateway_publishes(broker, gw, [b"1", b"2", b"3"])
    _, ids = receive_until(made, 3)
    made.ack(ids[:1])  # only the first
    time.sleep(0.2)
    made.close()  # broken off, as by a crash: no DISCONNECT
    made.connect()
    assert made.session_present and made.generation == 2
    again, ids = receive_until(made, 2)
    assert [m.payload for m in again] == [b"2", b"3"]
    made.ack(ids)
    made.stop()  # a normal DISCONNECT: the broker reads the PUBACKs before it
    made = Client(service_settings(broker, "t-redelivery"), message=Message)
    made.connect()
    assert made.session_present
    assert not [m for _ in range(10) for m in made.receive(0.1).messages]
    made.stop()


@pytest.mark.django_db(transaction=True)
def test_mosquitto_delivers_a_sessions_queued_messages_after_it_unsubscribes(broker):
    """What ``ingest-mqtt --retire`` relies on. MQTT 5 (3.10.4) lets a broker drop what it
    had queued for a session, not yet sent, when the session unsubscribes; Mosquitto keeps
    it and sends it after the UNSUBACK. Receive Maximum 5, and nothing acknowledged until
    the UNSUBACK has come: all but 5 of the session's messages are still queued when the
    broker reads the UNSUBSCRIBE. Then the session is ended, and the broker routes
    nothing more to its ID: every later message goes to the other session in the group."""
    gw = factories.connected_gateway()
    broker.reload()
    stopped = connected(Client(service_settings(broker, "t-stopped"), message=Message))
    stopped.stop()  # a normal DISCONNECT: its session stays in the shared subscription
    other = connected(Client(service_settings(broker, "t-other"), message=Message))
    gateway_publishes(broker, gw, [b"%d" % n for n in range(40)])
    taken = drain(other)
    queued = 40 - len(taken)
    assert queued >= 10, f"the stopped session was given {queued} of 40"
    retiring = Client(
        service_settings(broker, "t-stopped", subscriptions=(), receive_maximum=5),
        message=Message,
    )
    assert retiring.connect().session_present
    retiring.unsubscribe(["$share/t/essmon/v1/+/telemetry"])
    early: list = []
    early_ids: list[int] = []

    def unsuback() -> bool:
        received = retiring.receive(0.1)
        early.extend(received.messages)
        early_ids.extend(received.packet_ids)
        return retiring.unsuback is not None

    wait_until(unsuback, 5, "UNSUBACK")
    assert retiring.unsuback.codes == [0] and len(early) <= 5
    retiring.ack(early_ids)
    messages, ids = receive_until(retiring, queued - len(early))
    retiring.ack(ids)
    assert sorted(m.payload for m in early + messages + taken) == sorted(
        b"%d" % n for n in range(40)
    )
    retiring.stop(end_session=True)
    gateway_publishes(broker, gw, [b"after-%d" % n for n in range(6)])
    assert [m.payload for m in drain(other)] == [b"after-%d" % n for n in range(6)]
    probe = Client(service_settings(broker, "t-stopped", subscriptions=()), message=Message)
    assert not probe.connect().session_present
    probe.stop(end_session=True)
    other.stop()


def drain(made: Client, quiet: float = 1.0) -> list:
    """What comes until nothing has for ``quiet`` seconds, acknowledged."""
    got: list = []
    last = time.monotonic()
    while time.monotonic() - last < quiet:
        received = made.receive(0.1)
        if received.messages:
            last = time.monotonic()
            got += received.messages
            made.ack(received.packet_ids)
    return got


@pytest.mark.django_db(transaction=True)
def test_the_keep_alive_thread_holds_the_connection_while_the_caller_is_busy(broker):
    """Keep-alive 2 s: Mosquitto drops a client silent for 3 s (it checks every few
    seconds: 6 s in a try without the keep-alive thread). The caller does not read for 8 s
    (a long batch in the database), then goes on, on the same connection."""
    gw = factories.connected_gateway()
    broker.reload()
    made = connected(Client(service_settings(broker, "t-keepalive", keepalive=2), message=Message))
    time.sleep(8)
    gateway_publishes(broker, gw, [b"after"])
    messages, ids = receive_until(made, 1)
    made.ack(ids)
    assert [m.payload for m in messages] == [b"after"]
    assert made.generation == 1 and made.connected
    # idle, reading: the caller's own PINGREQs, answered
    deadline = time.monotonic() + 4
    while time.monotonic() < deadline:
        made.receive(0.2)
    assert made.connected and made.generation == 1
    made.stop()
    assert "exceeded timeout" not in broker.log()


@pytest.mark.django_db(transaction=True)
def test_a_refused_connection_says_why(broker):
    broker.reload()
    made = Client(service_settings(broker, "t-refused", password="wrong"), message=Message)
    with pytest.raises(Refused) as refused:
        made.connect()
    assert refused.value.code in (0x86, 0x87) and not made.connected and made.generation == 0


@pytest.mark.django_db(transaction=True)
def test_a_broker_restart_ends_the_connection_and_the_session_is_there_again(broker):
    """Mosquitto 2.0 closes its connections without a DISCONNECT when it stops (the fake
    broker below sends one)."""
    broker.reload()
    made = connected(Client(service_settings(broker, "t-restart"), message=Message))
    broker.stop()
    with pytest.raises(ConnectionLost, match="the broker closed the connection"):
        for _ in range(50):
            made.receive(0.1)
    assert not made.connected
    broker.start()
    assert made.connect().session_present and made.generation == 2
    made.stop()


@pytest.mark.django_db(transaction=True)
def test_a_qos1_publish_is_kept_until_its_puback(broker):
    broker.reload()
    made = connected(Client(service_settings(broker, "t-publish"), message=Message))
    packet_id = made.publish("essmon/v1/99ZZ00000001/commands", b'{"commands": []}')
    assert packet_id in made.unacked
    wait_until(lambda: made.receive(0.05) and not made.unacked, 5, "the PUBACK")
    made.stop()


def test_tls_when_the_address_says_so(tmp_path):
    """A listener with TLS (the broker's certificate from a CA of the test's own)."""
    from tests.mqtt.test_certificates import other_ca

    require(bool(__import__("shutil").which("mosquitto")), "Mosquitto (the mosquitto binary)")
    certs = other_ca(tmp_path / "certs")
    port = free_port()
    (tmp_path / "passwd").write_text(service_password_file_text(SERVICE))
    (tmp_path / "acl").write_text(service_acl_file_text(SERVICE))
    lines = [
        f"listener {port} 127.0.0.1",
        "allow_anonymous false",
        f"password_file {tmp_path / 'passwd'}",
        f"acl_file {tmp_path / 'acl'}",
        f"certfile {certs['server.pem']}",
        f"keyfile {certs['server.key']}",
    ]
    import os
    import subprocess

    if os.geteuid() == 0:
        lines.append("user root")
    (tmp_path / "mosquitto.conf").write_text("\n".join(lines) + "\n")
    process = subprocess.Popen(["mosquitto", "-c", str(tmp_path / "mosquitto.conf")])
    try:
        wait_until(lambda: _listening(port), 10, "mosquitto")
        options = {
            "host": "127.0.0.1",
            "port": port,
            "client_id": "t-tls",
            "username": SERVICE.username,
            "password": SERVICE.password,
            "tls": True,
            "subscriptions": ("essmon/v1/+/telemetry",),
        }
        made = Client(Settings(**options, cafile=str(certs["ca"])), message=Message)
        connected(made)
        assert made.publish("essmon/v1/99ZZ00000001/commands", b"{}")
        wait_until(lambda: made.receive(0.05) and not made.unacked, 5, "the PUBACK over TLS")
        made.stop()
        # the system's CAs do not know the test's: the handshake fails, and says so
        with pytest.raises(OSError, match="CERTIFICATE_VERIFY_FAILED"):
            Client(Settings(**options), message=Message).connect()
    finally:
        process.terminate()
        process.wait(10)


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
    except OSError:
        return False
    return True


# --- against a fake broker -------------------------------------------------------------------


class FakeBroker:
    """Accepts one connection, answers CONNACK, reads the client's next packet (SUBSCRIBE,
    or UNSUBSCRIBE from a client that subscribes to nothing) into ``first``, then sends
    ``then`` and records what the client sends until it closes."""

    def __init__(self, then: bytes) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.then = then
        self.first = b""
        self.heard = b""
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.server.accept()
        with conn:
            conn.settimeout(5)
            conn.recv(65536)  # CONNECT
            conn.sendall(b"\x20\x03\x00\x00\x00")  # CONNACK, success, no properties
            self.first = conn.recv(65536)
            conn.sendall(self.then)
            try:
                while data := conn.recv(65536):
                    self.heard += data
            except OSError:
                pass
        self.server.close()


def test_a_malformed_packet_from_the_broker_closes_the_connection_with_a_logged_reason(caplog):
    # a PUBLISH, then one whose topic (32 bytes) is longer than the packet (9 bytes)
    fake = FakeBroker(
        publish(b"essmon/v1/x/telemetry", b"\x00\x05\x00{}") + b"\x30\x09\x00\x20" + b"x" * 7
    )
    made = Client(
        Settings("127.0.0.1", fake.port, "t-fake", "u", "p", False, ("essmon/v1/+/telemetry",)),
        message=Message,
    )
    assert made.connect().code == 0
    with caplog.at_level("ERROR", "essmon.mqtt.client"), pytest.raises(ConnectionLost):
        for _ in range(20):
            made.receive(0.1)
    assert not made.connected
    assert "malformed packet from the broker: PUBLISH topic runs past" in caplog.text
    fake.thread.join(5)
    assert fake.heard.endswith(b"\xe0\x01\x81")  # DISCONNECT, malformed packet
    assert Packet(mqtt.DISCONNECT).reason_string is None


def test_the_brokers_disconnect_is_logged_with_its_reason():
    props = b"\x1f" + mqtt._string("going down for maintenance")
    fake = FakeBroker(b"\xe0" + varint(2 + len(props)) + b"\x8b" + varint(len(props)) + props)
    made = Client(
        Settings("127.0.0.1", fake.port, "t-fake", "u", "p", False, ("essmon/v1/+/telemetry",)),
        message=Message,
    )
    made.connect()
    with pytest.raises(
        ConnectionLost,
        match=r"the broker disconnected: 0x8B \(server shutting down\) \(going down for main",
    ):
        for _ in range(20):
            made.receive(0.1)
    assert not made.connected


def test_unsubscribing_and_ending_the_session_on_a_connection_that_subscribed_to_nothing(caplog):
    """What ``ingest-mqtt --retire`` sends: no SUBSCRIBE, an UNSUBSCRIBE at once, and at
    the end a DISCONNECT with Session Expiry Interval 0. An UNSUBACK for another packet
    identifier is not the answer; messages are read on as before."""
    filters = ["$share/g/essmon/v1/+/telemetry", "$share/g/essmon/v1/+/status"]
    fake = FakeBroker(
        mqtt._frame(mqtt.UNSUBACK, b"\x00\x09\x00\x80\x80")
        + publish(b"essmon/v1/x/telemetry", b"\x00\x05\x00{}")
        + mqtt._frame(mqtt.UNSUBACK, b"\x00\x01\x00\x00\x11")
    )
    made = Client(Settings("127.0.0.1", fake.port, "t-fake", "u", "p", False, ()), message=Message)
    made.connect()
    assert made.unsubscribe(filters) == 1
    messages: list = []
    with caplog.at_level("ERROR", "essmon.mqtt.client"):
        wait_until(
            lambda: messages.extend(made.receive(0.1).messages) or made.unsuback, 5, "UNSUBACK"
        )
    assert fake.first == mqtt.unsubscribe_frame(1, filters)  # and no SUBSCRIBE before it
    assert made.unsuback is not None and made.unsuback.codes == [0, 0x11]
    assert [m.payload for m in messages] == [b"{}"] and not made.subscribed.is_set()
    assert "refused the unsubscription" not in caplog.text
    made.stop(end_session=True)
    fake.thread.join(5)
    assert fake.heard == b"\xe0\x07\x00\x05\x11\x00\x00\x00\x00"


def test_a_broker_that_does_not_answer_pingreq_is_given_up():
    fake = FakeBroker(b"")  # CONNACK, then silence
    settings = Settings(
        "127.0.0.1", fake.port, "t-fake", "u", "p", False, ("essmon/v1/+/telemetry",), keepalive=1
    )
    made = Client(settings, message=Message)
    made.connect()
    started = time.monotonic()
    with pytest.raises(ConnectionLost, match="no answer to PINGREQ within 2 s"):
        while time.monotonic() - started < 10:
            made.receive(0.2)
    assert time.monotonic() - started < 4
    assert fake.heard.count(b"\xc0\x00") >= 1
