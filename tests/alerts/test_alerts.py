"""Alerts: what opens them, the hysteresis that closes them, who gets the mails (queued in
the outbox, so exactly what the worker will send), acknowledgement and the customer's
choice of mails. The end-to-end run with the real scheduler, worker, SMTP server and
simulator is tests/alerts/test_alerts_e2e.py."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from essmon.alerts import engine
from essmon.alerts.models import Alert, MailOptOut
from essmon.dealers.models import DealerLink, MaintenanceStaff
from essmon.notifications.models import OutboxMessage
from essmon.telemetry.ingest import ingest_events, ingest_samples
from essmon.telemetry.models import GatewayLiveState
from tests import factories
from tests.factories import sample

pytestmark = pytest.mark.django_db

THRESHOLD = 900  # the default: 15 minutes
RECOVERY = 300


@pytest.fixture(autouse=True)
def _alert_settings(settings):
    settings.ALERT_OFFLINE_SECONDS = THRESHOLD
    settings.ALERT_RECOVERY_SECONDS = RECOVERY
    settings.ALERT_RECOVERY_GAP_SECONDS = 120
    settings.ALERT_BATTERY_TEMP_C = 50


@pytest.fixture
def world():
    """A customer's gateway linked to two dealers: the first with two confirmed staff and
    one not yet confirmed, the second with one; a third dealer's link has ended."""
    gw = factories.connected_gateway()
    first = factories.dealer(email="boss@first.example.jp", company="洛南電設")
    MaintenanceStaff.objects.create(
        dealer=first, name="保守 二郎", email="jiro@first.example.jp", confirmed_at=timezone.now()
    )
    MaintenanceStaff.objects.create(
        dealer=first, name="未確認 三郎", email="saburo@first.example.jp"
    )
    second = factories.dealer(email="boss@second.example.jp", company="伏見エネルギー")
    ended = factories.dealer(email="boss@ended.example.jp", company="旧販売店")
    for dealer in (first, second):
        DealerLink.objects.create(gateway=gw, dealer=dealer, created_by=gw.owner)
    DealerLink.objects.create(
        gateway=gw, dealer=ended, created_by=gw.owner, ended_at=timezone.now()
    )
    return gw


RECIPIENTS = {
    "boss@first.example.jp",
    "jiro@first.example.jp",
    "boss@second.example.jp",
}


def mails(kind: str) -> dict[str, list[OutboxMessage]]:
    by_recipient: dict[str, list[OutboxMessage]] = {}
    for message in OutboxMessage.objects.filter(kind=kind):
        by_recipient.setdefault(message.recipient, []).append(message)
    return by_recipient


def heard(gw, at):
    GatewayLiveState.objects.update_or_create(gateway=gw, defaults={"last_seen_at": at})


def run(now):
    return engine.evaluate_alerts(now=now)


# --- offline ---------------------------------------------------------------------------


def test_a_silent_gateway_opens_one_alert_and_one_mail_per_recipient(world):
    now = timezone.now()
    heard(world, now - timedelta(seconds=THRESHOLD - 5))
    run(now)
    assert not Alert.objects.exists()
    run(now + timedelta(seconds=10))
    alert = Alert.objects.get()
    assert alert.kind == "offline" and alert.since == now - timedelta(seconds=THRESHOLD - 5)
    for later in (20, 80, 600):  # the checks go on; nothing new
        run(now + timedelta(seconds=later))
    opened = mails("alert_opened")
    assert set(opened) == RECIPIENTS | {world.owner.email.lower()}
    assert all(len(m) == 1 for m in opened.values())
    body = opened[world.owner.email.lower()][0].body
    for text in (
        world.gateway_id,
        "御室邸",
        "京都府",
        "ゲートウェイからの通信が途絶えています",
        f"/monitoring/{world.gateway_id}/alerts/",
        "発生日時",
    ):
        assert text in body, text


def test_recovery_waits_out_the_hysteresis_then_mails_once(world):
    now = timezone.now()
    heard(world, now - timedelta(hours=1))
    run(now)
    back = now + timedelta(minutes=1)
    heard(world, back)
    run(back)
    alert = Alert.objects.get()
    assert alert.closed_at is None and alert.recovered_at == back
    for step in range(60, RECOVERY, 60):  # it reports every minute
        heard(world, back + timedelta(seconds=step))
        run(back + timedelta(seconds=step))
    assert Alert.objects.get().closed_at is None
    heard(world, back + timedelta(seconds=RECOVERY + 5))
    run(back + timedelta(seconds=RECOVERY + 5))
    alert = Alert.objects.get()
    assert alert.closed_at is not None and alert.recovered_at == back
    recovered = mails("alert_recovered")
    assert set(recovered) == RECIPIENTS | {world.owner.email.lower()}
    assert all(len(m) == 1 for m in recovered.values())
    assert "復旧" in recovered["jiro@first.example.jp"][0].subject


def test_a_gateway_back_briefly_between_long_silences_is_not_closed_and_reopened(world):
    """Back for 2 minutes in every 20: each return looks like recovery for a while, but
    the silences after it break the recovery off before it closes."""
    start = timezone.now()
    heard(world, start - timedelta(hours=1))
    for cycle in range(4):
        t = start + timedelta(minutes=20 * cycle)
        for minute in range(20):
            if minute < 2:
                heard(world, t + timedelta(minutes=minute))
            run(t + timedelta(minutes=minute, seconds=30))
    assert Alert.objects.count() == 1 and Alert.objects.get().closed_at is None
    assert all(len(m) == 1 for m in mails("alert_opened").values())
    assert not mails("alert_recovered")


def test_a_flapping_gateway_mails_once_when_it_goes_and_once_when_it_is_really_back(world):
    start = timezone.now()
    heard(world, start - timedelta(hours=1))
    t = start
    for _ in range(6):  # back for a minute, silent past the threshold, again and again
        run(t)
        heard(world, t + timedelta(seconds=30))
        run(t + timedelta(seconds=60))
        t += timedelta(seconds=THRESHOLD + 120)
    run(t)
    assert Alert.objects.count() == 1 and len(mails("alert_recovered")) == 0
    heard(world, t)
    for step in range(0, RECOVERY + 120, 60):  # now it stays
        heard(world, t + timedelta(seconds=step))
        run(t + timedelta(seconds=step))
    assert Alert.objects.get().closed_at is not None
    assert all(len(m) == 1 for m in mails("alert_opened").values())
    assert all(len(m) == 1 for m in mails("alert_recovered").values())


def test_a_gateway_not_yet_claimed_never_heard_or_not_heard_since_claimed_has_no_alert():
    unclaimed = factories.gateway()
    heard(unclaimed, timezone.now() - timedelta(days=1))
    factories.connected_gateway()  # claimed, never heard
    tested_at_the_factory = factories.connected_gateway()
    tested_at_the_factory.claimed_at = timezone.now() - timedelta(hours=2)
    tested_at_the_factory.save()
    heard(tested_at_the_factory, timezone.now() - timedelta(days=90))
    run(timezone.now())
    assert not Alert.objects.exists()


def test_when_most_of_the_fleet_goes_silent_at_once_the_silence_is_ours(world):
    now = timezone.now()
    fleet = [factories.connected_gateway() for _ in range(24)]
    for gw in (world, *fleet):
        gw.claimed_at = now - timedelta(days=3)
        gw.save()
        heard(gw, now - timedelta(minutes=20))  # all silent together: the broker died
    run(now)
    assert not Alert.objects.exists()
    for gw in fleet:
        heard(gw, now)  # the others are back; this one is really gone
    run(now + timedelta(seconds=30))
    assert list(Alert.objects.values_list("gateway_id", flat=True)) == [world.pk]


def test_the_customer_may_stop_a_kind_of_mail_dealers_still_get_it(world):
    MailOptOut.objects.create(user=world.owner, kind="offline")
    heard(world, timezone.now() - timedelta(hours=1))
    run(timezone.now())
    assert set(mails("alert_opened")) == RECIPIENTS


def test_one_gateways_failure_does_not_stop_the_others(world, monkeypatch):
    other = factories.connected_gateway()
    for gw in (world, other):
        heard(gw, timezone.now() - timedelta(hours=1))
    real = engine.open_alert

    def broken(*, gateway, **kwargs):
        if gateway.pk == world.pk:
            raise RuntimeError("boom")
        return real(gateway=gateway, **kwargs)

    monkeypatch.setattr(engine, "open_alert", broken)
    # the run finishes, then says so: the scheduler records it as the job's last error
    with pytest.raises(engine.AlertCheckFailed, match="1 failed"):
        run(timezone.now())
    assert list(Alert.objects.values_list("gateway_id", flat=True)) == [other.pk]


# --- faults --------------------------------------------------------------------------


def event(gw, code, state, at, severity="major", *, arrives=None):
    """The gateway reports ``code`` at ``at`` (its clock); it reaches essmon at ``arrives``
    (the server's clock, by default the same instant)."""
    ingest_events(
        gateway=gw,
        events=[{"ts": at.isoformat(), "code": code, "severity": severity, "state": state}],
        now=arrives or at,
    )


def test_a_reported_fault_opens_with_the_catalogues_words_and_closes_after_its_clear(world):
    now = timezone.now()
    heard(world, now)
    event(world, "E501", "start", now - timedelta(minutes=3))
    run(now)
    alert = Alert.objects.get()
    assert alert.kind == "fault" and alert.code == "E501" and alert.severity == "critical"
    assert "パワーコンディショナの内部異常" in alert.title and "ブレーカー" in alert.action
    assert "ブレーカー" in mails("alert_opened")["jiro@first.example.jp"][0].body
    event(world, "E501", "clear", now + timedelta(minutes=1))
    run(now + timedelta(minutes=2))
    assert Alert.objects.get().closed_at is None  # cleared, not yet for long enough
    heard(world, now + timedelta(seconds=RECOVERY + 120))
    run(now + timedelta(seconds=RECOVERY + 120))
    alert = Alert.objects.get()
    assert alert.closed_at is not None and alert.recovered_at == now + timedelta(minutes=1)


def test_a_fault_that_clears_and_starts_again_stays_one_alert(world):
    now = timezone.now()
    heard(world, now)
    for minute in range(0, 10, 2):
        event(world, "E305", "start", now + timedelta(minutes=minute))
        run(now + timedelta(minutes=minute, seconds=30))
        event(world, "E305", "clear", now + timedelta(minutes=minute + 1))
        run(now + timedelta(minutes=minute + 1, seconds=30))
    assert Alert.objects.count() == 1 and Alert.objects.get().closed_at is None
    assert len(mails("alert_opened")["jiro@first.example.jp"]) == 1


def test_a_corrected_gateway_clock_does_not_leave_a_cleared_fault_open(world):
    """Start stamped 3 hours ahead (clock fast), clear after the clock was corrected: the
    clear arrived last, so the fault is over, whatever the stamps say."""
    now = timezone.now()
    heard(world, now)
    event(world, "E305", "start", now + timedelta(hours=3), arrives=now)
    run(now)
    assert Alert.objects.get().since <= now + timedelta(seconds=1)  # not in the future
    later = now + timedelta(minutes=2)
    event(world, "E305", "clear", later)
    for minute in range(3, 12):
        heard(world, now + timedelta(minutes=minute))
        run(now + timedelta(minutes=minute))
    assert Alert.objects.get().closed_at is not None
    heard(world, now + timedelta(hours=4))
    run(now + timedelta(hours=4))  # past the start's stamp: nothing opens again
    assert Alert.objects.count() == 1


def test_the_catalogue_decides_what_is_only_a_notice(world):
    from essmon.alerts.models import FaultCode

    FaultCode.objects.filter(code="E110").update(severity="info")
    now = timezone.now()
    heard(world, now)
    event(world, "E110", "start", now, severity="minor")
    event(world, "W402", "start", now, severity="major")  # catalogued as info, sent as major
    run(now)
    assert not Alert.objects.exists()


def test_notices_open_nothing_and_unknown_codes_are_still_alerts(world):
    now = timezone.now()
    heard(world, now)
    event(world, "W402", "start", now, severity="info")
    event(world, "E999", "start", now, severity="minor")
    run(now)
    alert = Alert.objects.get()
    assert alert.code == "E999" and alert.title == "故障コード E999" and alert.severity == "minor"


# --- rules on the samples --------------------------------------------------------------


def test_battery_temperature_over_the_limit_with_a_band_to_close(world):
    now = timezone.now()

    def temperature(celsius, at):
        ingest_samples(
            gateway=world,
            samples=[
                {**sample(int(at.timestamp())), "ts": at.isoformat(), "battery_temp_c": celsius}
            ],
            now=at,
        )

    temperature(55.0, now)
    run(now)
    assert Alert.objects.get().kind == "battery_temp"
    temperature(48.0, now + timedelta(minutes=1))  # below the limit, inside the band
    run(now + timedelta(minutes=1))
    temperature(44.0, now + timedelta(minutes=2))
    run(now + timedelta(minutes=2))
    assert Alert.objects.get().closed_at is None
    temperature(44.0, now + timedelta(minutes=8))
    run(now + timedelta(minutes=8))
    assert Alert.objects.get().closed_at is not None


def test_state_of_charge_stuck_while_the_battery_reports_power(world):
    now = timezone.now().replace(microsecond=0)
    samples = [
        {
            **sample(i),
            "ts": (now - timedelta(minutes=5 * i)).isoformat(),
            "soc_pct": 62.0,
            "battery_w": -1500.0,
        }
        for i in range(60)
    ]
    ingest_samples(gateway=world, samples=samples, now=now)
    idle = factories.connected_gateway()  # constant charge, but the battery is idle: fine
    ingest_samples(gateway=idle, samples=[{**s, "battery_w": 0.0} for s in samples], now=now)
    engine.check_soc_stuck(now=now)
    alert = Alert.objects.get()
    assert alert.gateway_id == world.pk and alert.kind == "soc_stuck" and "62%" in alert.detail
    # the battery goes idle and reports less often: no proof the charge moves, still open
    later = now + timedelta(hours=7)
    quiet = [
        {
            **sample(100 + i),
            "ts": (later - timedelta(minutes=30 * i)).isoformat(),
            "soc_pct": 62.0,
            "battery_w": 0.0,
        }
        for i in range(10)
    ]
    ingest_samples(gateway=world, samples=quiet, now=later)
    for step in range(0, 30, 10):
        engine.check_soc_stuck(now=later + timedelta(minutes=step))
    assert Alert.objects.get().closed_at is None and not mails("alert_recovered")


# --- people ------------------------------------------------------------------------------


@pytest.fixture
def open_alert(world):
    heard(world, timezone.now() - timedelta(hours=1))
    run(timezone.now())
    return Alert.objects.get()


def ack_url(alert):
    return reverse(
        "monitoring:alert_acknowledge",
        kwargs={"gateway_id": alert.gateway.gateway_id, "alert_id": alert.pk},
    )


def test_a_linked_dealer_acknowledges_with_a_comment_the_owner_sees_it(client, open_alert):
    dealer = DealerLink.objects.filter(ended_at__isnull=True).first().dealer
    client.force_login(dealer.user)
    response = client.post(ack_url(open_alert), {"comment": "明日10時に訪問します"})
    assert response.status_code == 302
    open_alert.refresh_from_db()
    assert open_alert.acknowledged_as.startswith("販売店 ") and open_alert.ack_comment
    again = client.post(ack_url(open_alert), {"comment": "二度目"}, follow=True)
    assert "すでに確認済みです" in again.content.decode()
    client.force_login(open_alert.gateway.owner)
    page = client.get(
        reverse("monitoring:alerts", kwargs={"gateway_id": open_alert.gateway.gateway_id})
    ).content.decode()
    assert "明日10時に訪問します" in page and "確認済み" in page and "未復旧" in page
    assert "確認済みにする" not in page  # the owner does not acknowledge


def test_acknowledging_is_refused_to_others(client, open_alert):
    for user in (open_alert.gateway.owner, factories.dealer().user, factories.customer()):
        client.force_login(user)
        assert client.post(ack_url(open_alert), {"comment": "x"}).status_code == 404
    client.force_login(DealerLink.objects.filter(ended_at__isnull=True).first().dealer.user)
    too_long = client.post(ack_url(open_alert), {"comment": "あ" * 501}, follow=True)
    assert "500文字以内" in too_long.content.decode()
    open_alert.refresh_from_db()
    assert open_alert.acknowledged_at is None


def test_the_customer_chooses_which_alert_mails_to_get(client):
    user = factories.customer()
    client.force_login(user)
    url = reverse("alerts:mail_preferences")
    page = client.get(url).content.decode()
    assert "通信途絶" in page and "checked" in page
    client.post(url, {"kinds": ["fault", "battery_temp"]})
    assert set(MailOptOut.objects.values_list("kind", flat=True)) == {"offline", "soc_stuck"}
    client.post(url, {"kinds": ["offline", "fault", "battery_temp", "soc_stuck"]})
    assert not MailOptOut.objects.exists()
    client.force_login(factories.dealer().user)
    assert client.get(url).status_code == 404
