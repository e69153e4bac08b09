"""Periodic jobs: once per interval across processes; expired provisional registrations."""

import threading
from datetime import timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from essmon.accounts.models import User
from essmon.accounts.selectors import current_terms
from essmon.accounts.services.expiry import release_expired_registrations
from essmon.accounts.services.inputs import Person, SiteInput
from essmon.accounts.services.registration import register_customer
from essmon.core.models import PeriodicJob
from essmon.core.scheduler import Job, claim, run_due_jobs
from essmon.gateways.models import Gateway, Site
from essmon.gateways.services import GatewayError
from tests import factories

pytestmark = pytest.mark.django_db

calls: list[str] = []


def job_ok():
    calls.append("ok")


def job_fails():
    calls.append("fails")
    raise ValueError("one gateway was odd")


JOBS = (
    Job("fails", timedelta(minutes=5), "tests.core.test_jobs.job_fails"),
    Job("ok", timedelta(minutes=5), "tests.core.test_jobs.job_ok"),
)


def test_each_job_runs_once_per_interval():
    calls.clear()
    assert run_due_jobs(JOBS) == ["fails", "ok"]
    assert run_due_jobs(JOBS) == []  # a second scheduler in the same interval runs nothing
    assert calls == ["fails", "ok"]  # and a failing job did not stop the next
    assert "ValueError: one gateway was odd" in PeriodicJob.objects.get(name="fails").last_error
    with time_machine.travel(timezone.now() + timedelta(minutes=5, seconds=1)):
        assert run_due_jobs(JOBS) == ["fails", "ok"]


def test_claim_is_won_by_exactly_one_of_two_racing_schedulers():
    job = JOBS[1]
    claim(job)  # create the row
    PeriodicJob.objects.filter(name=job.name).update(next_run_at=timezone.now())
    row = PeriodicJob.objects.get(name=job.name)
    # both read the same row; the conditional UPDATE lets only one through
    won = [
        PeriodicJob.objects.filter(pk=row.pk, next_run_at=row.next_run_at).update(
            next_run_at=timezone.now() + job.interval
        )
        for _ in range(2)
    ]
    assert won == [1, 0]


def test_scheduler_command_once():
    call_command("scheduler", once=True, verbosity=0)
    assert set(PeriodicJob.objects.values_list("name", flat=True)) >= {
        "release-expired-registrations",
        "requeue-outbox",
    }


def register(client, gw, email="hanako@example.jp"):
    client.post(reverse("accounts:entry_terms"))
    data = {**factories.REGISTRATION_FORM, "gateway_id": gw.gateway_id, "email": email}
    data["email_confirm"] = email
    client.post(reverse("accounts:entry_form"), data)
    client.post(reverse("accounts:entry_confirm"), {"register": "1"})


def test_expired_provisional_registration_releases_its_gateway(client, settings):
    gw = factories.gateway()
    register(client, gw)
    active = factories.customer(email="active@example.jp")
    fresh_gw = factories.gateway()
    with time_machine.travel(timezone.now() + timedelta(days=settings.ACTIVATION_DAYS - 1)):
        register(client, fresh_gw, email="later@example.jp")
        assert release_expired_registrations() == 0
    with time_machine.travel(timezone.now() + timedelta(days=settings.ACTIVATION_DAYS, minutes=1)):
        assert release_expired_registrations() == 1
    gw.refresh_from_db()
    assert gw.state == Gateway.State.UNCLAIMED and gw.owner is None and gw.site is None
    assert not User.objects.filter(email="hanako@example.jp").exists()
    assert User.objects.filter(pk=active.pk).exists()
    assert Gateway.objects.get(pk=fresh_gw.pk).state == Gateway.State.HELD
    assert Site.objects.count() == 1  # only the later registration's 案件 remains
    # the freed gateway can be registered again
    register(client, gw, email="again@example.jp")
    gw.refresh_from_db()
    assert gw.state == Gateway.State.HELD


def test_expiry_sweep_leaves_accounts_not_made_by_registration():
    # e.g. created by an operator in the admin, never activated through a mailed link
    made_by_operator = factories.customer(email="dealer@example.jp", activated_at=None)
    with time_machine.travel(timezone.now() + timedelta(days=365)):
        assert release_expired_registrations() == 0
    assert User.objects.filter(pk=made_by_operator.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_two_registrations_racing_for_one_gateway_exactly_one_wins():
    gw = factories.gateway()
    terms = current_terms()
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def attempt(n: int):
        person = Person(
            name=f"利用者{n}",
            furigana="リヨウシャ",
            email=f"racer{n}@example.jp",
            postal_code="6008216",
            prefecture="京都府",
            city="京都市下京区",
            address_rest="1-1",
            phone="+819012345678",
        )
        site = SiteInput(
            name=f"案件{n}", postal_code="6008216", prefecture="京都府", address_rest="1"
        )
        barrier.wait()
        try:
            register_customer(
                person=person,
                gateway_id=gw.gateway_id,
                gateway_password=factories.GATEWAY_PASSWORD,
                site=site,
                terms=terms,
                client_address=f"192.0.2.{n}",
            )
            outcomes.append("won")
        except GatewayError:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt, args=(n,)) for n in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(outcomes) == ["refused", "won"]
    gw.refresh_from_db()
    assert gw.state == Gateway.State.HELD
    assert User.objects.filter(email__startswith="racer").count() == 1
    assert Site.objects.count() == 1
