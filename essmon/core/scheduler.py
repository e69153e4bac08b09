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
    """A periodic job. ``does`` says what it does for the docs' tables (``essmon docs``),
    written for an operator: the one place that sentence lives."""

    name: str
    interval: timedelta
    func_path: str
    does: str = ""
    setting: str = ""  # the ESSMON_* variable the interval comes from, if any

    @property
    def func(self) -> Callable[[], object]:
        func: Callable[[], object] = import_string(self.func_path)
        return func


JOBS: tuple[Job, ...] = (
    Job(
        "release-expired-registrations",
        timedelta(minutes=5),
        "essmon.accounts.services.expiry.release_expired_registrations",
        "deletes provisional accounts whose activation link expired, returns their gateways "
        "to `unclaimed`",
    ),
    Job(
        "requeue-outbox",
        timedelta(minutes=1),
        "essmon.notifications.services.requeue_due_messages",
        "returns mails stuck in `sending` for 10 min to `pending`; re-enqueues due `pending` mails",
    ),
    Job(
        "requeue-webhooks",
        timedelta(minutes=1),
        "essmon.webhooks.services.requeue_due_deliveries",
        "returns webhook deliveries stuck in `sending` for 10 min to `pending`; re-enqueues "
        "due `pending` ones ([webhooks.md](webhooks.md))",
    ),
    Job(
        "purge-webhook-log",
        timedelta(hours=6),
        "essmon.webhooks.services.purge_deliveries",
        "deletes webhook deliveries (and their attempts) delivered or given up more than "
        "`ESSMON_WEBHOOK_LOG_RETENTION_DAYS` ago, and events left without deliveries; held "
        "ones stay ([webhooks.md](webhooks.md))",
    ),
    Job(
        "detect-offline",
        timedelta(minutes=1),
        "essmon.telemetry.connectivity.close_silent_intervals",
        "closes the connectivity interval of gateways silent past `ESSMON_OFFLINE_AFTER_MINUTES`",
    ),
    Job(
        "expire-commands",
        timedelta(minutes=1),
        "essmon.commands.services.expire_commands",
        "commands not answered within 24 hours become 期限切れ (expired)",
    ),
    Job(
        "sync-broker-credentials",
        timedelta(minutes=1),
        "essmon.mqtt.broker.sync_broker_credentials",
        "rewrites the broker's password/ACL files (the gateways' listener's and the "
        "service's; only with `ESSMON_MQTT_PASSWORD_FILE`) when the registry changed, and, "
        "once the gateway CA exists, revokes the certificates of gateways no longer "
        "registered and rewrites the CRL when it changed or is half-way to its nextUpdate; "
        "signals the broker after any change",
    ),
    Job(
        "purge-throttles",
        timedelta(hours=6),
        "essmon.core.scheduler.purge_throttles",
        "deletes failure counters older than 2 days (or `ESSMON_LOGIN_LOCK_HOURS`, if longer)",
    ),
    Job(
        "purge-dead-letters",
        timedelta(hours=6),
        "essmon.mqtt.process.purge_dead_letters",
        "deletes dead letters older than `ESSMON_DEAD_LETTER_RETENTION_DAYS`",
    ),
    Job(
        "forget-released-gateways",
        timedelta(minutes=1),
        "essmon.privacy.services.forget_released_gateways",
        "deletes what gateways released by a 退会 sent while they have no owner; a gateway "
        "registered again stops being one ([privacy.md](privacy.md))",
    ),
    Job(
        "purge-provision-records",
        timedelta(days=1),
        "essmon.privacy.services.purge_provision_records",
        "deletes the provision records (APPI art. 29) of customers who left (退会), "
        "`ESSMON_PROVISION_RECORD_YEARS` after their link ended, with the ended links "
        "([privacy.md](privacy.md))",
    ),
    Job(
        "purge-dealer-records",
        timedelta(hours=6),
        "essmon.dealers.services.records.purge_dealer_records",
        "deletes rows of 販売店様による閲覧・変更の記録 whose last time is older than "
        "`ESSMON_DEALER_RECORD_RETENTION_DAYS` ([dealers.md](dealers.md))",
    ),
    # Django never deletes expired sessions by itself; an abandoned flow's stays otherwise
    Job(
        "clear-sessions",
        timedelta(hours=6),
        "essmon.core.scheduler.clear_sessions",
        "Django's `clearsessions`: deletes expired sessions (12 h after their last use), "
        "such as those of registrations left half-way",
    ),
    Job(
        "maintain-partitions",
        timedelta(hours=1),
        "essmon.telemetry.partitions.maintain_partitions",
        "makes the coming months' sample partitions, drops months past "
        "`ESSMON_RAW_RETENTION_MONTHS`",
    ),
    Job(
        "rollup-energy",
        timedelta(minutes=1),
        "essmon.telemetry.rollups.rollup_energy",
        "recomputes the hourly/daily/monthly energy of the hours new samples touched",
    ),
    Job(
        "evaluate-alerts",
        timedelta(seconds=settings.ALERT_CHECK_SECONDS),
        "essmon.alerts.engine.evaluate_alerts",
        "opens, settles and closes the offline, fault and battery-temperature alerts and "
        "queues their mails ([alerts.md](alerts.md))",
        setting="ESSMON_ALERT_CHECK_SECONDS",
    ),
    # reads a window of samples per gateway: less often than the cheap checks above
    Job(
        "check-soc-stuck",
        timedelta(minutes=10),
        "essmon.alerts.engine.check_soc_stuck",
        "the 蓄電残量の変化なし alert: a state of charge that did not move over "
        "`ESSMON_ALERT_SOC_STUCK_HOURS` while the battery reported charging or discharging",
    ),
    # the warranty's offline warnings count in days: a run every half hour is on time
    Job(
        "check-warranties",
        timedelta(minutes=30),
        "essmon.warranty.services.check_warranties",
        "mails the owner and the linked dealers' confirmed maintenance staff at the days "
        "offline of `ESSMON_WARRANTY_WARN_DAYS`, and records lapses ([warranty.md](warranty.md))",
    ),
)


def purge_throttles() -> int:
    """Failure counters whose window started over two days ago (or a login lock ago) go."""
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
