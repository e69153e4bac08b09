"""Periodic jobs that run once per interval however many schedulers are running.

A scheduler runs a job only after moving the job's ``next_run_at`` forward with a
conditional UPDATE; the database lets exactly one process win each interval.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from django.utils.module_loading import import_string

from essmon.core.models import PeriodicJob

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    name: str
    interval: timedelta
    func_path: str

    @property
    def func(self) -> Callable[[], object]:
        func: Callable[[], object] = import_string(self.func_path)
        return func


JOBS: tuple[Job, ...] = (
    Job(
        "release-expired-registrations",
        timedelta(minutes=5),
        "essmon.accounts.services.release_expired_registrations",
    ),
    Job(
        "requeue-outbox", timedelta(minutes=1), "essmon.notifications.services.requeue_due_messages"
    ),
    Job(
        "detect-offline",
        timedelta(minutes=1),
        "essmon.telemetry.connectivity.close_silent_intervals",
    ),
    Job("expire-commands", timedelta(minutes=1), "essmon.commands.services.expire_commands"),
    Job(
        "sync-broker-credentials",
        timedelta(minutes=1),
        "essmon.mqtt.broker.sync_broker_credentials",
    ),
    Job("purge-throttles", timedelta(hours=6), "essmon.core.scheduler.purge_throttles"),
    Job("purge-dead-letters", timedelta(hours=6), "essmon.mqtt.process.purge_dead_letters"),
    Job(
        "forget-released-gateways",
        timedelta(minutes=1),
        "essmon.privacy.services.forget_released_gateways",
    ),
    Job(
        "purge-provision-records",
        timedelta(days=1),
        "essmon.privacy.services.purge_provision_records",
    ),
    Job(
        "purge-dealer-records",
        timedelta(hours=6),
        "essmon.dealers.services.purge_dealer_records",
    ),
    # Django never deletes expired sessions by itself; an abandoned flow's stays otherwise
    Job("clear-sessions", timedelta(hours=6), "essmon.core.scheduler.clear_sessions"),
    Job(
        "maintain-partitions",
        timedelta(hours=1),
        "essmon.telemetry.partitions.maintain_partitions",
    ),
    Job("rollup-energy", timedelta(minutes=1), "essmon.telemetry.rollups.rollup_energy"),
    Job(
        "evaluate-alerts",
        timedelta(seconds=settings.ALERT_CHECK_SECONDS),
        "essmon.alerts.services.evaluate_alerts",
    ),
    # reads a window of samples per gateway: less often than the cheap checks above
    Job("check-soc-stuck", timedelta(minutes=10), "essmon.alerts.services.check_soc_stuck"),
    # the warranty's offline warnings count in days: a run every half hour is on time
    Job("check-warranties", timedelta(minutes=30), "essmon.warranty.services.check_warranties"),
)


def purge_throttles() -> int:
    from essmon.core.throttle import purge_expired

    # a login lock lives in its counter for ESSMON_LOGIN_LOCK_HOURS: never purge it sooner
    lock = timedelta(hours=settings.LOGIN_LOCK_HOURS)
    return purge_expired(older_than=max(timedelta(days=2), lock))


def clear_sessions() -> int:
    """Django's ``clearsessions``; returns how many sessions were left."""
    from django.contrib.sessions.models import Session
    from django.core.management import call_command

    call_command("clearsessions")
    return Session.objects.count()


def claim(job: Job) -> bool:
    """Take this interval's run of ``job``; False when another process already has it."""
    now = timezone.now()
    row, _ = PeriodicJob.objects.get_or_create(name=job.name, defaults={"next_run_at": now})
    won = PeriodicJob.objects.filter(pk=row.pk, next_run_at__lte=now, next_run_at=row.next_run_at)
    return won.update(next_run_at=now + job.interval, last_started_at=now) == 1


def run_due_jobs(jobs: tuple[Job, ...] = JOBS) -> list[str]:
    """Run every job whose time has come and that this process wins; returns their names."""
    ran = []
    for job in jobs:
        if not claim(job):
            continue
        error = ""
        try:
            result = job.func()
            logger.info("job %s done: %s", job.name, result)
        except Exception as exc:  # a failing job must not stop the others
            logger.exception("job %s failed", job.name)
            error = f"{type(exc).__name__}: {exc}"
        PeriodicJob.objects.filter(name=job.name).update(
            last_finished_at=timezone.now(), last_error=error
        )
        ran.append(job.name)
    return ran
