"""CPU per message of the MQTT worker's receive path, several clients side by side.

A Mosquitto of the script's own (benchmarks/infra.py ``Broker``, configured as the
benchmark's and production's: the service's listener, queues of up to 10,000,000 messages)
holds one persistent session per candidate (clean start false, a session expiry, QoS 1
subscriptions through a shared subscription of its own, as the worker subscribes). While
they are all offline, 100 gateways publish N one-sample telemetry messages (the rows of
benchmarks/rows.py), so each session has the same N queued. Then each candidate, in a
process of its own, connects, receives all N and acknowledges them in batches of 1,000
(the PUBACKs after the batch is complete, with no database in between), and reports the
CPU its process used per message (all its threads) and the messages per second.

    .venv/bin/python benchmarks/mqtt_receive.py [--messages 200000] [--only essmon,paho-thread]

Candidates:

- ``paho-thread``: paho-mqtt as the worker used it before issue 16: its network thread
  (``loop_start``), a ``queue.Queue`` to the main thread, ``ack()`` per message;
- ``paho-single``: paho-mqtt driven from one thread (``loop_read``/``loop_write`` from a
  ``select`` loop), on_message appending to a list, ``ack()`` per message;
- ``gmqtt``: gmqtt (asyncio) with ``optimistic_acknowledgement=False``: each message's
  PUBACK goes when its ``on_message`` coroutine returns, i.e. once its batch is complete;
- ``mqtt5``: essmon's client (essmon/mqtt/client.py) with its frame parser replaced by the
  mqtt5 package's (a sans-I/O MQTT 5 codec written in Rust): one recv_into, ``mqtt5.read``
  per packet;
- ``essmon``: essmon's client as the worker uses it: one recv_into of everything there
  is, PUBLISH frames cut out with index arithmetic, a batch's PUBACKs in one sendall.

Each candidate is run ``--rounds`` times (sessions and messages for each), in turn. A
candidate whose package is not installed is skipped (``pip install gmqtt mqtt5``).
Needs ``mosquitto`` on PATH; no database (Django is set up on SQLite and never queried).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import rows
from infra import Broker, broker_listeners, free_port

SERVICE_USER = "essmon-ingest"
CANDIDATES = ("paho-thread", "paho-single", "gmqtt", "mqtt5", "essmon")
# with --database-url only: the worker itself, into PostgreSQL
WORKER = "worker"
NEEDS = {"gmqtt": "gmqtt", "mqtt5": "mqtt5"}
KINDS = ("telemetry", "status", "events", "results")
RECEIVE_MAXIMUM = 2000  # the worker's: twice its batch
SESSION_EXPIRY = 3600


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "essmon.settings")
    os.environ.setdefault("ESSMON_DATABASE_URL", "sqlite:///:memory:")
    import django

    django.setup()


# --- the candidates (each run in a process of its own) ---------------------------------


def filters(group: str) -> list[str]:
    return [f"$share/{group}/essmon/v1/+/{kind}" for kind in KINDS]


def run_paho(args: argparse.Namespace, *, threaded: bool) -> dict:
    import queue
    import selectors
    from dataclasses import dataclass

    import paho.mqtt.client as mqtt
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    from essmon.mqtt.process import Incoming

    @dataclass
    class Received:  # as essmon/mqtt/worker.py had it
        message: Incoming
        mid: int
        qos: int
        generation: int

    inbox: queue.Queue = queue.Queue()
    collected: list = []
    state = {"generation": 0, "subscribed": False}
    client = mqtt.Client(
        callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
        client_id=args.client_id,
        protocol=mqtt.MQTTv5,
        manual_ack=True,
    )
    client.username_pw_set(SERVICE_USER, args.password)
    client.reconnect_delay_set(min_delay=1, max_delay=10)
    client.max_queued_messages_set(0)

    def on_connect(c, userdata, flags, reason_code, properties):
        state["generation"] += 1
        c.subscribe([(f, mqtt.SubscribeOptions(qos=1)) for f in filters(args.group)])

    def on_message(c, userdata, message):
        name = message._topic.decode("utf-8", "replace")
        item = Received(
            Incoming(name, message.payload), message.mid, message.qos, state["generation"]
        )
        (inbox.put if threaded else collected.append)(item)

    client.on_connect = on_connect
    client.on_message = on_message
    properties = Properties(PacketTypes.CONNECT)
    properties.SessionExpiryInterval = SESSION_EXPIRY
    properties.ReceiveMaximum = RECEIVE_MAXIMUM
    started, cpu = time.monotonic(), time.process_time()
    received = 0
    if threaded:
        client.connect_async(
            "127.0.0.1", args.port, keepalive=30, clean_start=False, properties=properties
        )
        client.loop_start()
        while received < args.messages:
            # the worker's _next_batch: a first message, then the rest within the linger
            batch = [inbox.get(timeout=30)]
            deadline = time.monotonic() + 0.05
            while len(batch) < args.batch:
                try:
                    batch.append(inbox.get(timeout=max(0.0, deadline - time.monotonic())))
                except queue.Empty:
                    break
            for item in batch:
                if item.generation == state["generation"]:
                    client.ack(item.mid, item.qos)
            received += len(batch)
    else:
        client.connect(
            "127.0.0.1", args.port, keepalive=30, clean_start=False, properties=properties
        )
        selector = selectors.DefaultSelector()
        selector.register(client.socket(), selectors.EVENT_READ)
        deadline = time.monotonic() + 60
        while received < args.messages and time.monotonic() < deadline:
            before = len(collected)
            client.loop_read()
            if len(collected) == before:
                if client.want_write():
                    client.loop_write()
                selector.select(0.05)
            while len(collected) >= args.batch or (
                collected and received + len(collected) >= args.messages
            ):
                batch, collected[:] = collected[: args.batch], collected[args.batch :]
                for item in batch:
                    client.ack(item.mid, item.qos)
                received += len(batch)
            client.loop_misc()
    cpu, wall = time.process_time() - cpu, time.monotonic() - started
    client.disconnect()
    if threaded:
        client.loop_stop()
    return {"received": received, "cpu": cpu, "wall": wall, "connections": state["generation"]}


def run_gmqtt(args: argparse.Namespace) -> dict:
    import asyncio

    import gmqtt

    from essmon.mqtt.process import Incoming

    async def main() -> dict:
        loop = asyncio.get_running_loop()
        batch: list = []
        done = asyncio.Event()
        state = {"received": 0, "waiter": loop.create_future(), "connections": 0}

        async def on_message(client, topic, payload, qos, properties):
            batch.append(Incoming(topic, payload))
            waiter = state["waiter"]
            if len(batch) >= args.batch or state["received"] + len(batch) >= args.messages:
                # the batch is complete: "processed", then every message of it is acked
                state["received"] += len(batch)
                batch.clear()
                state["waiter"] = loop.create_future()
                waiter.set_result(None)
                if state["received"] >= args.messages:
                    done.set()
            await waiter
            return 0  # PUBACK reason code: success

        def on_connect(client, flags, rc, properties):
            state["connections"] += 1
            for f in filters(args.group):
                client.subscribe(f, qos=1)

        client = gmqtt.Client(
            args.client_id,
            clean_session=False,
            optimistic_acknowledgement=False,
            session_expiry_interval=SESSION_EXPIRY,
            receive_maximum=RECEIVE_MAXIMUM,
        )
        client.on_message = on_message
        client.on_connect = on_connect
        client.set_auth_credentials(SERVICE_USER, args.password)
        started, cpu = time.monotonic(), time.process_time()
        await client.connect("127.0.0.1", args.port, keepalive=30)
        await asyncio.wait_for(done.wait(), 120)
        await asyncio.sleep(0)  # the last batch's PUBACKs go out
        cpu, wall = time.process_time() - cpu, time.monotonic() - started
        await client.disconnect()
        return {"received": state["received"], "cpu": cpu, "wall": wall, **state_out(state)}

    def state_out(state: dict) -> dict:
        return {"connections": state["connections"]}

    return asyncio.run(main())


def mqtt5_reader():
    """essmon's FrameReader with ``parse`` done by the mqtt5 package."""
    import mqtt5

    from essmon.mqtt import client as ours

    class Mqtt5Reader(ours.FrameReader):
        def parse(self, messages, packet_ids, packets):
            view, message, read = self.view, self.message, mqtt5.read
            publish = mqtt5.PublishPacket
            pos, end = self.start, self.end
            try:
                while pos < end:
                    try:
                        packet, size = read(view[pos:end])
                    except IndexError:
                        return  # incomplete
                    except ValueError as exc:
                        raise ours.ProtocolError(str(exc)) from None
                    pos += size
                    if type(packet) is publish:
                        messages.append(message(packet.topic, packet.payload))
                        packet_ids.append(packet.packet_id or 0)
                    elif isinstance(packet, mqtt5.SubAckPacket):
                        packets.append(
                            ours.Packet(
                                ours.SUBACK,
                                packet_id=packet.packet_id,
                                codes=[int(c) for c in packet.reason_codes],
                            )
                        )
                    elif isinstance(packet, mqtt5.ConnAckPacket):
                        packets.append(
                            ours.Packet(
                                ours.CONNACK,
                                code=int(packet.reason_code),
                                session_present=packet.session_present,
                            )
                        )
                    elif isinstance(packet, mqtt5.PingRespPacket):
                        packets.append(ours.Packet(ours.PINGRESP))
            finally:
                self.start = pos

    return Mqtt5Reader


def run_essmon(args: argparse.Namespace, *, reader=None) -> dict:
    from essmon.mqtt import client as ours
    from essmon.mqtt.process import Incoming

    settings = ours.Settings(
        host="127.0.0.1",
        port=args.port,
        client_id=args.client_id,
        username=SERVICE_USER,
        password=args.password,
        tls=False,
        subscriptions=tuple(filters(args.group)),
        session_expiry=SESSION_EXPIRY,
        receive_maximum=RECEIVE_MAXIMUM,
    )
    from essmon.mqtt.worker import Batch

    client = ours.Client(settings, message=Incoming)
    if reader is not None:
        client.reader_class = reader
    started, cpu = time.monotonic(), time.process_time()
    client.connect()
    pending = Batch()  # the worker's own bookkeeping: messages, packet ids, connections
    received = 0
    deadline = time.monotonic() + 120
    while received < args.messages and time.monotonic() < deadline:
        pending.add(client.receive(0.05))
        while len(pending) >= args.batch or (pending and received + len(pending) >= args.messages):
            batch = pending.take(args.batch)
            client.ack(
                [
                    m
                    for m, g in zip(batch.packet_ids, batch.generations, strict=True)
                    if g == client.generation
                ]
            )
            received += len(batch)
    cpu, wall = time.process_time() - cpu, time.monotonic() - started
    connections = client.generation
    client.stop()
    return {"received": received, "cpu": cpu, "wall": wall, "connections": connections}


def run_worker(args: argparse.Namespace) -> dict:
    """essmon's IngestWorker draining the session into the database: its CPU per sample,
    split into process_messages (the batch step) and the rest (the receive path, batching,
    acknowledging, counters). The gateways are made first; they and their samples are
    removed before and after."""
    from datetime import timedelta

    from essmon.gateways.models import Gateway
    from essmon.mqtt import worker as worker_module
    from essmon.mqtt.broker import BrokerAddress
    from essmon.telemetry.models import Sample

    def clean() -> None:
        pks = Gateway.objects.filter(gateway_id__startswith="99BM").values_list("pk", flat=True)
        Sample.objects.filter(gateway_id__in=list(pks)).delete()
        Gateway.objects.filter(gateway_id__startswith="99BM").delete()

    clean()
    plan = rows.Plan.make(gateways=args.gateways, total=args.messages)
    Gateway.objects.bulk_create(
        Gateway(gateway_id=rows.gateway_id(g), provisioned_at=plan.first_ts - timedelta(days=30))
        for g in range(args.gateways)
    )
    real = worker_module.process_messages
    in_batches = [0.0]

    def timed(*a, **kw):
        started = time.process_time()
        try:
            return real(*a, **kw)
        finally:
            in_batches[0] += time.process_time() - started

    worker_module.process_messages = timed
    address = BrokerAddress("127.0.0.1", args.port, SERVICE_USER, args.password, False)
    worker = worker_module.IngestWorker(address, client_id=args.client_id, share_group=args.group)
    worker.batch_size = args.batch

    def stop_when_done() -> None:
        while worker.totals["messages"] < args.messages and not worker.stopping.is_set():
            time.sleep(0.02)
        worker.stop()

    import threading

    threading.Thread(target=stop_when_done, daemon=True).start()
    started, cpu = time.monotonic(), time.process_time()
    try:
        worker.run(until=time.monotonic() + 300)
        cpu, wall = time.process_time() - cpu, time.monotonic() - started
        stored = Sample.objects.filter(gateway__gateway_id__startswith="99BM").count()
    finally:
        clean()
    return {
        "received": worker.totals["messages"],
        "stored": stored,
        "cpu": cpu,
        "batch_cpu": in_batches[0],
        "wall": wall,
        "connections": worker.generation,
    }


def receive(args: argparse.Namespace) -> None:
    setup_django()
    if args.receive == "paho-thread":
        result = run_paho(args, threaded=True)
    elif args.receive == "paho-single":
        result = run_paho(args, threaded=False)
    elif args.receive == "gmqtt":
        result = run_gmqtt(args)
    elif args.receive == WORKER:
        result = run_worker(args)
    elif args.receive == "mqtt5":
        result = run_essmon(args, reader=mqtt5_reader())
    else:
        result = run_essmon(args)
    print(json.dumps(result))


# --- the orchestrator -------------------------------------------------------------------


def publish_all(port: int, gateways: list[tuple[str, str]], total: int) -> None:
    """``total`` one-sample telemetry messages, row i from gateway i % G, QoS 1, each
    PUBACK checked (0x10, no matching subscribers, would mean a session lost its
    subscription)."""
    import socket

    from essmon.mqtt import client as ours

    plan = rows.Plan.make(gateways=len(gateways), total=total)
    for g, (gateway_id, secret) in enumerate(gateways):
        count = plan.count_for(g)
        sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        sock.sendall(
            ours.connect_frame(
                gateway_id,
                username=gateway_id,
                password=secret,
                keepalive=60,
                clean_start=True,
                session_expiry=0,
                receive_maximum=100,
            )
        )
        reader = ours.FrameReader(lambda t, p: (t, p))
        packets: list = []
        read_packets(sock, reader, packets, 1)
        if packets[0].code:
            raise RuntimeError(f"{gateway_id} refused: {ours.reason(packets[0].code)}")
        topic = f"essmon/v1/{gateway_id}/telemetry"
        for first in range(0, count, 1000):
            seqs = range(first, min(first + 1000, count))
            frames = [
                ours.publish_frame(
                    topic,
                    rows.batch_json(gateway_id, [rows.sample_json(g, s, plan.ts(s))]).encode(),
                    qos=1,
                    packet_id=s % 60000 + 1,
                )
                for s in seqs
            ]
            sock.sendall(b"".join(frames))
            read_packets(sock, reader, packets, 1 + first + len(seqs))
        bad = [p.code for p in packets[1:] if p.code]
        if bad:
            raise RuntimeError(f"{gateway_id}: {len(bad)} PUBACKs said {ours.reason(bad[0])}")
        sock.sendall(ours.disconnect_frame())
        sock.close()


def read_packets(sock, reader, packets: list, count: int) -> None:
    """Read until ``packets`` holds ``count`` packets (CONNACK, then PUBACKs)."""
    while len(packets) < count:
        if not reader.recv_into(sock):
            raise RuntimeError("the broker closed a gateway's connection")
        reader.parse([], [], packets)


def service_client(port: int, password: str, client_id: str, group: str):
    """A connection on the candidate's session, as essmon's client makes it."""
    from essmon.mqtt import client as ours

    settings = ours.Settings(
        "127.0.0.1",
        port,
        client_id,
        SERVICE_USER,
        password,
        False,
        tuple(filters(group)),
        session_expiry=SESSION_EXPIRY,
        receive_maximum=RECEIVE_MAXIMUM,
    )
    client = ours.Client(settings, message=lambda t, p: p)
    client.connect()
    return client


def leftover(port: int, password: str, client_id: str, group: str) -> int:
    """Messages the session still holds (sent again on connecting): 0 when every one was
    acknowledged."""
    client = service_client(port, password, client_id, group)
    count = 0
    until = time.monotonic() + 1.0
    while time.monotonic() < until:
        count += len(client.receive(0.1).messages)
    client.close()  # no PUBACKs: nothing changes for a later look
    return count


def make_session(port: int, password: str, client_id: str, group: str) -> None:
    client = service_client(port, password, client_id, group)
    deadline = time.monotonic() + 10
    while not client.subscribed.is_set():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{client_id}: no SUBACK")
        client.receive(0.1)
    client.stop()


def orchestrate(args: argparse.Namespace) -> int:
    if not shutil.which("mosquitto"):
        raise SystemExit("mosquitto is not on PATH")
    setup_django()
    from essmon.gateways.services.credentials import hash_device_secret
    from essmon.mqtt.broker import (
        BrokerAddress,
        BrokerFiles,
        acl_file_text,
        service_acl_file_text,
        service_password_file_text,
    )

    chosen = [c for c in (args.only.split(",") if args.only else CANDIDATES) if c]
    if os.environ.get("ESSMON_DATABASE_URL", "").startswith("postgres") and not args.only:
        chosen.append(WORKER)
    unknown = set(chosen) - {*CANDIDATES, WORKER}
    if unknown:
        raise SystemExit(f"unknown candidates: {', '.join(sorted(unknown))}")
    missing = [c for c in chosen if c in NEEDS and not importlib.util.find_spec(NEEDS[c])]
    chosen = [c for c in chosen if c not in missing]
    folder = Path(tempfile.mkdtemp(prefix="essmon-mqtt-receive-"))
    load = Path("/proc/loadavg").read_text().split()[0]
    print(
        f"{time.strftime('%Y-%m-%d %H:%M %Z')}: {args.messages:,} messages per candidate, "
        f"batches of {args.batch:,}, {args.rounds} round(s); load average {load} before; "
        f"Mosquitto {Broker.version()}, Python {sys.version.split()[0]}"
    )
    if missing:
        print(f"skipped (not installed): {', '.join(missing)}")
    port, service_port = free_port(), free_port()
    password = secrets.token_urlsafe(24)
    service = BrokerAddress("127.0.0.1", service_port, SERVICE_USER, password, False)
    files = BrokerFiles.beside(str(folder / "passwd"), str(folder / "acl"))
    gateways = [(rows.gateway_id(g), secrets.token_urlsafe(24)) for g in range(args.gateways)]
    files.password_file.write_text(
        "".join(f"{gid}:{hash_device_secret(secret)}\n" for gid, secret in gateways)
    )
    files.acl_file.write_text(acl_file_text())
    files.service_password_file.write_text(service_password_file_text(service))
    files.service_acl_file.write_text(service_acl_file_text(service))
    broker = Broker(
        folder / "broker", port, service_port, broker_listeners(files, port, service_port)
    )
    results: dict[str, list[dict]] = {c: [] for c in chosen}
    try:
        broker.start()
        for round_ in range(args.rounds):
            sessions = {
                c: (f"mqtt-receive-{c}-{round_}-{secrets.token_hex(4)}", f"bench-{c}-{round_}")
                for c in chosen
            }
            for client_id, group in sessions.values():
                make_session(service_port, password, client_id, group)
            started = time.monotonic()
            publish_all(port, gateways, args.messages)
            print(
                f"round {round_ + 1}: {args.messages:,} messages queued for each of "
                f"{len(chosen)} sessions in {time.monotonic() - started:.1f} s"
            )
            for candidate in chosen:
                client_id, group = sessions[candidate]
                command = [
                    sys.executable,
                    __file__,
                    "--receive",
                    candidate,
                    "--port",
                    str(service_port),
                    "--client-id",
                    client_id,
                    "--group",
                    group,
                    "--messages",
                    str(args.messages),
                    "--batch",
                    str(args.batch),
                    "--gateways",
                    str(args.gateways),
                ]
                done = subprocess.run(
                    command,
                    input=password,
                    capture_output=True,
                    text=True,
                    timeout=600,
                    check=False,
                )
                if done.returncode:
                    print(f"  {candidate}: failed\n{done.stderr[-2000:]}")
                    continue
                result = json.loads(done.stdout.strip().splitlines()[-1])
                result["left"] = leftover(service_port, password, client_id, group)
                results[candidate].append(result)
                print(
                    f"  {candidate:12} {result['cpu'] / result['received'] * 1e6:6.2f} µs CPU/msg"
                    f"  {result['received'] / result['wall']:9,.0f} msg/s"
                    f"  received {result['received']:,}, left unacknowledged {result['left']}"
                )
                if "batch_cpu" in result:
                    per = 1e6 / result["received"]
                    print(
                        f"  {'':12} of which process_messages {result['batch_cpu'] * per:.2f} µs, "
                        f"the rest {(result['cpu'] - result['batch_cpu']) * per:.2f} µs; "
                        f"stored {result['stored']:,}"
                    )
    finally:
        if broker.process and broker.process.poll() is None:
            broker.process.terminate()
            broker.process.wait(30)
        shutil.rmtree(folder, ignore_errors=True)
    print("\ncandidate     CPU µs/msg (best)   msg/s (best)   received, unacked")
    for candidate, runs in results.items():
        if not runs:
            continue
        best = min(runs, key=lambda r: r["cpu"] / r["received"])
        print(
            f"{candidate:12} {best['cpu'] / best['received'] * 1e6:12.2f}"
            f"   {max(r['received'] / r['wall'] for r in runs):12,.0f}"
            f"   {sum(r['received'] for r in runs):,}, {sum(r['left'] for r in runs)}"
        )
    failed = [c for c in chosen if len(results[c]) < args.rounds]
    short = [
        c
        for c, runs in results.items()
        if any(
            r["received"] != args.messages
            or r["left"]
            or r.get("stored", args.messages) != args.messages
            for r in runs
        )
    ]
    return 1 if failed or short else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--gateways", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--only", default="", help="candidates, comma-separated")
    parser.add_argument("--receive", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--client-id", help=argparse.SUPPRESS)
    parser.add_argument("--group", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.receive:
        args.password = sys.stdin.read().strip()  # not on the command line: ps shows that
        receive(args)
        return 0
    return orchestrate(args)


if __name__ == "__main__":
    sys.exit(main())
