"""Alerts end to end, with everything real: the simulator feeds a gateway over HTTPS into
the live server, two `essmon scheduler` processes evaluate the alerts (each interval's run
is won by one of them), `essmon db_worker` delivers the outbox to a real SMTP server. The
thresholds are seconds instead of minutes; the code paths are the production ones.
"""

import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta

import pytest
from aiosmtpd.controller import Controller
from django.utils import timezone

from essmon.alerts.models import Alert
from essmon.core.models import PeriodicJob
from essmon.dealers import services as dealer_services
from essmon.gateways.models import Gateway
from essmon.notifications.models import OutboxMessage
from essmon.simulator.cli import parse_outage
from essmon.simulator.fleet import FleetConfig
from essmon.simulator.physics import JST
from essmon.telemetry.models import GatewayLiveState
from tests import factories
from tests.mqtt_helpers import database_url
from tests.simulation import SimulatorThread, provision_fleet
from tests.waiting import wait_until

pytestmark = [pytest.mark.smtp, pytest.mark.django_db(transaction=True)]

OFFLINE_SECONDS = 6
RECOVERY_SECONDS = 4


@pytest.fixture
def world(tmp_path):
    creds, gateways = provision_fleet(tmp_path, ["KP-GWBT-A"])
    gateway = next(iter(gateways.values()))
    owner = factories.customer(email="hanako@example.jp", name="嵯峨 花子")
    gateway.owner, gateway.state = owner, Gateway.State.CLAIMED
    gateway.site = factories.site(owner=owner, name="嵯峨野の家")
    gateway.save()
    dealer = factories.dealer(email="hoshu@rakunan.example.jp", company="洛南電設")
    dealer_services.link_dealer(customer=owner, gateway=gateway, dealer=dealer)
    return {"creds": creds, "gateway": gateway, "recipients": {owner.email, dealer.user.email}}


@pytest.fixture
def services_running(smtp_server, tmp_path):
    """Two schedulers and a task worker, on the test database, mailing to the SMTP sink."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ESSMON_")},
        "DJANGO_SETTINGS_MODULE": "essmon.settings",
        "ESSMON_DATABASE_URL": database_url(),
        "ESSMON_DATA_DIR": str(tmp_path / "data"),
        "ESSMON_EMAIL_URL": f"smtp://127.0.0.1:{smtp_server.port}?timeout=3",
        "ESSMON_ALERT_OFFLINE_SECONDS": str(OFFLINE_SECONDS),
        "ESSMON_ALERT_RECOVERY_SECONDS": str(RECOVERY_SECONDS),
        "ESSMON_ALERT_RECOVERY_GAP_SECONDS": "2",  # the simulator reports every second
        "ESSMON_ALERT_CHECK_SECONDS": "1",
        "ESSMON_OUTBOX_RETRY_BASE_SECONDS": "1",
        "ESSMON_LOG_LEVEL": "WARNING",
    }
    commands = [["scheduler", "--tick", "0.3"], ["scheduler", "--tick", "0.3"], ["db_worker"]]
    logs = [(tmp_path / f"proc{i}.log").open("w") for i in range(len(commands))]
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "essmon.cli", *command],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        for command, log in zip(commands, logs, strict=True)
    ]
    yield smtp_server
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
    for log in logs:
        log.close()


def alert_check_ran_since(moment: datetime) -> datetime | None:
    job = PeriodicJob.objects.filter(name="evaluate-alerts", last_finished_at__gt=moment).first()
    return job.last_finished_at if job else None


def settle() -> None:
    """Wait until whatever the services would still mail has been mailed: the outbox holds
    nothing unsent and a scheduler finished the alert check twice since (each run is
    won by one of the two; a second mail would be queued by one of those runs)."""
    unsent = (OutboxMessage.State.PENDING, OutboxMessage.State.SENDING)
    wait_until(
        lambda: not OutboxMessage.objects.filter(state__in=unsent).exists(),
        30,
        "the outbox delivered",
    )
    since = timezone.now()
    for run in ("once", "twice"):
        since = wait_until(
            lambda since=since: alert_check_ran_since(since), 15, f"the alert check run {run}"
        )


def by_subject(sink, word: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for message in list(sink.messages):
        if word in message["Subject"]:
            counts[message["To"]] = counts.get(message["To"], 0) + 1
    return counts


def config(**options) -> FleetConfig:
    return FleetConfig(
        start=datetime.now(JST),
        interval=1,
        speed=1,
        status_every=60,
        jitter=False,
        drain_timeout=5,
        **options,
    )


def heard_from(gateway) -> bool:
    return GatewayLiveState.objects.filter(gateway=gateway).exists()


def test_silence_mails_each_person_once_and_recovery_once_across_an_smtp_outage(
    live_server, world, services_running
):
    sink = services_running
    gateway, recipients = world["gateway"], world["recipients"]
    with SimulatorThread(config(), world["creds"], live_server.url):
        wait_until(lambda: heard_from(gateway), 20, "the simulator's first sample")
    silent_since = time.monotonic()  # the simulator has stopped: the gateway is silent
    opened = wait_until(
        lambda: (c := by_subject(sink, "異常発生")) and set(c) == recipients and c,
        OFFLINE_SECONDS + 120,
        "one 異常発生 mail to each person",
    )
    took = time.monotonic() - silent_since
    assert all(n == 1 for n in opened.values()), opened
    # opened once the silence passed the threshold, not before (a pause is not an outage)
    last_seen = GatewayLiveState.objects.get(gateway=gateway).last_seen_at
    alert = Alert.objects.get(gateway=gateway)
    assert alert.opened_at - last_seen >= timedelta(seconds=OFFLINE_SECONDS), alert.opened_at
    mail = next(m for m in sink.messages if "異常発生" in m["Subject"])
    body = sink.body(mail)
    for text in (
        gateway.gateway_id,
        "嵯峨野の家",
        "京都府",
        "ゲートウェイからの通信が途絶えています",
        f"/monitoring/{gateway.gateway_id}/alerts/",
    ):
        assert text in body, text

    # the SMTP server goes down before the gateway comes back
    sink.stop()
    with SimulatorThread(config(), world["creds"], live_server.url):
        wait_until(
            lambda: Alert.objects.filter(gateway=gateway, closed_at__isnull=False).exists(),
            RECOVERY_SECONDS + 30,
            "the alert closing",
        )
        wait_until(  # the worker tries, fails and backs off
            lambda: OutboxMessage.objects.filter(
                subject__contains="復旧", attempts__gte=1, state=OutboxMessage.State.PENDING
            ).exists(),
            30,
            "a failed attempt at the 復旧 mail while the SMTP server is down",
        )
        assert by_subject(sink, "復旧") == {}
        sink.controller = Controller(sink, hostname="127.0.0.1", port=sink.port)
        sink.start()
        recovered = wait_until(
            lambda: (c := by_subject(sink, "復旧")) and set(c) == recipients and c,
            60,
            "one 復旧 mail to each person after the outage",
        )
    settle()  # two schedulers, one worker: nothing more may come
    assert by_subject(sink, "異常発生") == opened and by_subject(sink, "復旧") == recovered
    assert all(n == 1 for n in recovered.values())
    assert Alert.objects.filter(gateway=gateway).count() == 1
    print(f"異常発生 mails arrived {took:.1f} s after the gateway went silent")


def test_a_flapping_gateway_does_not_flood(live_server, world, services_running):
    sink = services_running
    gateway, recipients = world["gateway"], world["recipients"]
    start = datetime.now(JST)
    # away 9 s, back 2 s, three times: each time past the offline threshold, never back
    # for as long as the recovery takes
    outages = [parse_outage(f"+{a}s,+{a + 9}s", start=start) for a in (3, 14, 25)]
    with SimulatorThread(config(outages=outages), world["creds"], live_server.url):
        wait_until(lambda: heard_from(gateway), 20, "the simulator's first sample")
        back_for_good = outages[-1].end
        wait_until(  # the gateway is heard again after its last outage
            lambda: GatewayLiveState.objects.filter(
                gateway=gateway, last_seen_at__gte=datetime.fromtimestamp(back_for_good, JST)
            ).exists(),
            60,
            "the gateway back after its last outage",
        )
        wait_until(
            lambda: (c := by_subject(sink, "復旧")) and set(c) == recipients,
            RECOVERY_SECONDS + 30,
            "the recovery mails once it stays",
        )
        settle()
    assert by_subject(sink, "異常発生") == dict.fromkeys(recipients, 1)
    assert by_subject(sink, "復旧") == dict.fromkeys(recipients, 1)
    assert Alert.objects.filter(gateway=gateway).count() == 1
