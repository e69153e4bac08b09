"""Online/offline and the connectivity history, with time travel and the real scheduler job."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from essmon.core.scheduler import JOBS, run_due_jobs
from essmon.telemetry.connectivity import close_silent_intervals, is_online
from essmon.telemetry.ingest import ingest_samples
from essmon.telemetry.models import ConnectivityInterval, GatewayLiveState
from tests import factories
from tests.factories import sample

pytestmark = pytest.mark.django_db


@pytest.fixture
def gw():
    return factories.connected_gateway(provisioned_days_ago=30)


def intervals(gw):
    return list(
        ConnectivityInterval.objects.filter(gateway=gw)
        .order_by("online_from")
        .values_list("online_from", "online_until")
    )


def test_silence_past_the_threshold_closes_the_interval_at_the_last_message(gw, settings):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        ingest_samples(gateway=gw, samples=[sample(1, minutes_ago=0)])
    with time_machine.travel(start + timedelta(minutes=5), tick=False):
        ingest_samples(gateway=gw, samples=[sample(2, minutes_ago=0)])
        assert close_silent_intervals() == 0
        assert is_online(GatewayLiveState.objects.get(gateway=gw))
    last = start + timedelta(minutes=5)
    with time_machine.travel(last + timedelta(minutes=settings.OFFLINE_AFTER_MINUTES - 1)):
        assert close_silent_intervals() == 0  # not yet
    with time_machine.travel(last + timedelta(minutes=settings.OFFLINE_AFTER_MINUTES, seconds=1)):
        assert not is_online(GatewayLiveState.objects.get(gateway=gw))
        assert close_silent_intervals() == 1
        assert close_silent_intervals() == 0  # once
    ((online_from, online_until),) = intervals(gw)
    assert online_from == start and online_until == last


def test_a_message_after_the_silence_opens_a_new_interval(gw):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        ingest_samples(gateway=gw, samples=[sample(1, minutes_ago=0)])
    with time_machine.travel(start + timedelta(hours=2), tick=False):
        close_silent_intervals()
        ingest_samples(gateway=gw, samples=[sample(2, minutes_ago=0)])
    spans = intervals(gw)
    assert len(spans) == 2
    assert spans[0] == (start, start)
    assert spans[1] == (start + timedelta(hours=2), None)


def test_a_silence_nobody_closed_still_splits_the_history(gw):
    """detect-offline was not running during a 40-day silence: the message after it ends
    the old interval at the last message before the silence and opens a new one, so the
    warranty still sees the silence."""
    start = timezone.now() - timedelta(days=45)
    with time_machine.travel(start, tick=False):
        ingest_samples(gateway=gw, samples=[sample(1, minutes_ago=0)])
    back = start + timedelta(days=40)
    with time_machine.travel(back, tick=False):
        ingest_samples(gateway=gw, samples=[sample(2, minutes_ago=0)])
    assert intervals(gw) == [(start, start), (back, None)]


def test_a_rejected_batch_still_counts_as_contact(gw):
    ingest_samples(gateway=gw, samples=[{"not": "a sample"}])
    assert is_online(GatewayLiveState.objects.get(gateway=gw))
    assert len(intervals(gw)) == 1


def test_the_scheduler_runs_offline_detection():
    assert "detect-offline" in {job.name for job in JOBS}
    assert "detect-offline" in run_due_jobs()


@pytest.mark.django_db(transaction=True)
def test_the_contact_buffer_writes_those_held_too_long_and_only_those():
    """A stream worker's ContactBuffer keeps its held gateways in the order last heard, so
    each batch reads only those due: one not heard since it was held is written after
    ``every``; one heard again meanwhile waits for its own turn."""
    from django.db import transaction

    from essmon.telemetry.connectivity import ContactBuffer

    a, b, c = (factories.connected_gateway() for _ in range(3))
    contacts = ContactBuffer(every=timedelta(seconds=15))
    start = timezone.now()

    def add(*gateways, at):
        with transaction.atomic():
            contacts.add([g.pk for g in gateways], now=start + timedelta(seconds=at), newest={})

    def seen(gateway):
        return (GatewayLiveState.objects.get(gateway=gateway).last_seen_at - start).seconds

    add(a, b, c, at=0)  # new to the buffer: written at once
    add(b, at=5)  # held back
    add(a, at=6)
    add(b, at=10)  # b heard again: held since 10, now after a
    assert list(contacts.held) == [a.pk, b.pk]
    add(c, at=21)  # c is due itself; a, held since 6, is due; b, since 10, is not
    assert (seen(a), seen(b), seen(c)) == (6, 0, 21)
    assert list(contacts.held) == [b.pk]
    add(c, at=26)
    assert seen(b) == 10 and list(contacts.held) == [c.pk]
