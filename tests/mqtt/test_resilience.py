"""No sample lost or stored twice, by exact counts of sequence numbers, when the ingest
worker is killed mid-stream, when Mosquitto restarts and when PostgreSQL restarts."""

import os
import shutil
import signal
import subprocess
import threading
from pathlib import Path

import pytest
from django.db import connection, connections

from essmon.telemetry.models import Sample
from tests import factories
from tests.mqtt_helpers import (
    SamplePublisher,
    WorkerThread,
    connect,
    gateway_client,
    worker_process,
)
from tests.services import require
from tests.waiting import wait_until

pytestmark = pytest.mark.django_db(transaction=True)
N = 3000


@pytest.fixture
def gw(broker):
    made = factories.connected_gateway()
    broker.reload()
    return made


class Publisher:
    """A gateway publishing seq 0..N-1 on its own thread, at ``per_second``.

    It starts once a probe sample has gone all the way through: the worker's subscription
    exists from its first run on, and this proves it is there."""

    def __init__(self, broker, gw, *, per_second: float) -> None:
        self.device = connect(gateway_client(broker, gw), broker)
        self.stream = SamplePublisher(self.device, gw)
        probe = N + 1
        wait_until(
            lambda: (
                self.stream.publish([probe])
                or Sample.objects.filter(gateway=gw, seq=probe).exists()
            ),
            30,
            "the worker's subscription",
        )
        self.thread = threading.Thread(
            target=lambda: self.stream.publish(range(N), per_second=per_second)
        )
        self.thread.start()

    def finish(self) -> None:
        self.thread.join()
        self.stream.finish(range(N), timeout=60)
        self.device.disconnect()
        self.device.loop_stop()


def stored(gw) -> int:
    return Sample.objects.filter(gateway=gw, seq__lt=N).count()


def assert_exactly_once(gw) -> None:
    seqs = list(
        Sample.objects.filter(gateway=gw, seq__lt=N).order_by("seq").values_list("seq", flat=True)
    )
    missing = sorted(set(range(N)) - set(seqs))
    assert seqs == list(range(N)), f"{len(seqs)} stored, missing {missing[:10]}…"


def test_the_worker_killed_mid_stream_and_restarted(broker, gw):
    worker = worker_process(broker)
    try:
        publisher = Publisher(broker, gw, per_second=1000)
        wait_until(lambda: stored(gw) >= 300, 30, "the worker to be under way")
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        at_kill = stored(gw)
        assert at_kill < N, "the stream ended before the kill; the test proves nothing"
        worker = worker_process(broker)  # same client ID: its session and unacked messages
        publisher.finish()
        wait_until(lambda: stored(gw) == N, 60, f"all {N} samples")
    finally:
        worker.terminate()
        worker.wait(10)
    assert_exactly_once(gw)


def test_mosquitto_restarting_mid_stream(broker, gw):
    with WorkerThread(broker):
        publisher = Publisher(broker, gw, per_second=1000)
        wait_until(lambda: stored(gw) >= 300, 30, "the worker to be under way")
        broker.stop()
        assert stored(gw) < N, "the stream ended before the restart; the test proves nothing"
        broker.start()
        publisher.finish()
        wait_until(lambda: stored(gw) == N, 60, f"all {N} samples")
    assert_exactly_once(gw)


def _restart_postgresql() -> None:
    clusters = sorted(Path("/etc/postgresql").glob("*/main"))
    require(
        bool(clusters) and shutil.which("pg_ctlcluster") is not None and os.geteuid() == 0,
        "a local PostgreSQL cluster this test may restart (pg_ctlcluster, as root)",
    )
    version = clusters[-1].parent.name
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart", "-m", "fast"],
        check=True,
        timeout=60,
    )


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="restarts PostgreSQL: runs in the PostgreSQL pass"
)
def test_postgresql_restarting_mid_stream(broker, gw):
    worker = worker_process(broker)
    try:
        publisher = Publisher(broker, gw, per_second=1000)
        wait_until(lambda: stored(gw) >= 300, 30, "the worker to be under way")
        _restart_postgresql()
        connections.close_all()  # this test's own connection died with the server
        publisher.finish()
        wait_until(lambda: stored(gw) == N, 90, f"all {N} samples")
    finally:
        worker.terminate()
        worker.wait(10)
    assert_exactly_once(gw)
