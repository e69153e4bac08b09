"""Opening and closing alerts, and the mails that go with them.

Every check is level-based and idempotent: it looks at the state now (last seen, the
newest event per fault code, the newest sample) and opens what is wrong and not yet open,
and settles what is open. So a check that runs twice, late, or after a crash does no harm,
and the database's "one open alert per gateway, kind and code" makes a racing second
opener fail instead of mailing twice. What is wrong is the rules' to say
(``alerts.rules``); this module acts on it.

Hysteresis: an alert closes only after its condition has been gone for
``ALERT_RECOVERY_SECONDS`` without coming back (``recovered_at`` marks since when it has
been gone, and is cleared when it returns). For an offline alert "gone" means the gateway
keeps talking, with no silence longer than ``ALERT_RECOVERY_GAP_SECONDS``. A gateway that
flaps therefore keeps one open alert, and its people get one mail when it opens and one
when it has really recovered.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from essmon.accounts.models import User
from essmon.alerts import signals
from essmon.alerts.models import Alert, MailOptOut
from essmon.alerts.rules import (
    AlertKey,
    BatteryTemperature,
    Faults,
    Finding,
    Offline,
    Rule,
    SocStuck,
)
from essmon.dealers.models import DealerLink, MaintenanceStaff
from essmon.dealers.selectors import maintenance_staff
from essmon.gateways.models import Gateway
from essmon.notifications.services import queue_mail

logger = logging.getLogger(__name__)

# run together by evaluate_alerts; SocStuck reads a window of samples and runs on its own
FREQUENT_RULES: tuple[type[Rule], ...] = (Offline, Faults, BatteryTemperature)


def recovery_after() -> timedelta:
    return timedelta(seconds=settings.ALERT_RECOVERY_SECONDS)


# --- recipients and mails --------------------------------------------------------------


def _people(alert: Alert) -> tuple[list[MaintenanceStaff], User | None]:
    """Who gets ``alert``'s mails: the staff (one per address, by dealer) and the owner, or
    None when the owner is not mailed (opted out, account closed, or already among the
    staff)."""
    staff: list[MaintenanceStaff] = []
    seen: set[str] = set()
    for person in (
        maintenance_staff(gateway=alert.gateway)
        .select_related("dealer")
        .order_by("dealer_id", "pk")
    ):
        if person.email.lower() not in seen:
            seen.add(person.email.lower())
            staff.append(person)
    owner = alert.gateway.owner
    if (
        owner is None
        or not owner.is_active
        or MailOptOut.objects.filter(user=owner, kind=alert.kind).exists()
        or owner.email.lower() in seen
    ):
        owner = None
    return staff, owner


def _mail(alert: Alert, kind: str) -> int:
    """Queue ``kind`` (alert_opened / alert_recovered) to every recipient; inside the
    caller's transaction, so the mails exist exactly when the state change does.

    Each mail addresses its reader (the owner, or a dealer's staff member, with 様) and
    says who else was told only as it was done: the owner reads that the dealers were told
    only when a mail was queued to at least one linked dealer's staff."""
    gateway = alert.gateway
    staff, owner = _people(alert)
    dealers_told = list(dict.fromkeys(person.dealer for person in staff))
    base = {"alert": alert, "gateway": gateway, "site": gateway.site}
    for person in staff:
        queue_mail(
            recipient=person.email,
            kind=kind,
            context={
                **base,
                "staff": person,
                "dealer": person.dealer,
                "customer": gateway.owner,
                "owner_told": owner is not None,
            },
        )
    if owner is not None:
        linked = DealerLink.objects.filter(gateway=gateway, ended_at__isnull=True).exists()
        queue_mail(
            recipient=owner.email,
            kind=kind,
            context={
                **base,
                "customer": owner,
                "dealers_told": dealers_told,
                "dealers_linked": linked,
            },
        )
    return len(staff) + (owner is not None)


# --- opening and settling ---------------------------------------------------------------


@dataclass
class Outcome:
    opened: int = 0
    closed: int = 0
    failed: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        failed = f", {len(self.failed)} failed" if self.failed else ""
        return f"opened {self.opened}, closed {self.closed}{failed}"


def open_alert(
    *,
    gateway: Gateway,
    kind: str,
    since: datetime,
    severity: str,
    title: str,
    code: str = "",
    detail: str = "",
    action: str = "",
    now: datetime | None = None,
) -> Alert | None:
    """Open the alert and queue its mails, unless one is open already (then None)."""
    now = now or timezone.now()
    try:
        with transaction.atomic():
            if Alert.objects.filter(
                gateway=gateway, kind=kind, code=code, closed_at__isnull=True
            ).exists():
                return None
            alert = Alert.objects.create(
                gateway=gateway,
                kind=kind,
                code=code,
                severity=severity,
                title=title,
                detail=detail,
                action=action,
                since=since,
                opened_at=now,
            )
            mails = _mail(alert, "alert_opened")
            signals.alert_opened.send(sender=Alert, alert=alert)
    except IntegrityError:
        return None  # another scheduler opened it a moment ago; its mails went out
    logger.info(
        "alert %s opened: %s %s %s (%s mails)", alert.pk, gateway.gateway_id, kind, code, mails
    )
    return alert


def _open_for(gateway_id: int, finding: Finding, *, now: datetime) -> bool:
    """The checks' way to open: False when the gateway is not (or no longer) registered or
    the alert is open already."""
    gateway = Gateway.objects.select_related("site", "owner").get(pk=gateway_id)
    if gateway.state != Gateway.State.CLAIMED:
        return False
    opened = open_alert(
        gateway=gateway,
        kind=finding.kind,
        code=finding.code,
        since=finding.since,
        severity=finding.severity,
        title=finding.title,
        detail=finding.detail,
        action=finding.action,
        now=now,
    )
    return opened is not None


def settle(alert: Alert, *, present: bool, gone_since: datetime | None, now: datetime) -> bool:
    """Move an open alert along: the condition came back (clear ``recovered_at``), is gone
    (mark since when), or has been gone long enough (close and mail). True when closed."""
    if present:
        if alert.recovered_at is not None:
            Alert.objects.filter(pk=alert.pk, closed_at__isnull=True).update(recovered_at=None)
        return False
    since = alert.recovered_at or gone_since or now
    if since > now - recovery_after():
        if alert.recovered_at is None:
            Alert.objects.filter(pk=alert.pk, recovered_at__isnull=True).update(recovered_at=since)
        return False
    with transaction.atomic():
        closed = Alert.objects.filter(pk=alert.pk, closed_at__isnull=True).update(
            closed_at=now, recovered_at=since
        )
        if not closed:
            return False  # another scheduler closed it
        alert.closed_at, alert.recovered_at = now, since
        mails = _mail(alert, "alert_recovered")
        signals.alert_closed.send(sender=Alert, alert=alert)
    logger.info("alert %s closed: %s (%s mails)", alert.pk, alert.gateway.gateway_id, mails)
    return True


def _open_alerts(kind: str) -> dict[AlertKey, Alert]:
    rows = Alert.objects.filter(kind=kind, closed_at__isnull=True).select_related(
        "gateway__site", "gateway__owner"
    )
    return {(a.gateway_id, a.code): a for a in rows}


def _apply(rule: type[Rule], now: datetime, outcome: Outcome) -> None:
    """Open what ``rule`` finds and settle its kind's open alerts, gateway by gateway: one
    gateway's failure is logged and the others go on."""
    open_ = _open_alerts(rule.kind)
    reading = rule.read(now, open_)
    for key in reading.to_check():
        try:
            alert = open_.get(key)
            if alert is not None:
                verdict = reading.verdict(alert)
                if settle(alert, present=verdict.present, gone_since=verdict.gone_since, now=now):
                    outcome.closed += 1
            else:
                finding = reading.finding(key)
                if finding is not None and _open_for(key[0], finding, now=now):
                    outcome.opened += 1
        except Exception:
            gateway_id, code = key
            what = f"{gateway_id} {code}".rstrip()
            logger.exception("alert check %s failed for %s", rule.name, what)
            outcome.failed.append(f"{rule.name}:{what}")


# --- the periodic jobs -----------------------------------------------------------------


def check_soc_stuck(*, now: datetime | None = None) -> str:
    """Periodic job (every few minutes; it reads a window of samples): the rule
    ``rules.SocStuck``."""
    now = now or timezone.now()
    outcome = Outcome()
    _apply(SocStuck, now, outcome)
    return _result(outcome)


def evaluate_alerts(*, now: datetime | None = None) -> str:
    """Periodic job: offline, reported faults and battery temperature."""
    now = now or timezone.now()
    outcome = Outcome()
    for rule in FREQUENT_RULES:
        try:
            _apply(rule, now, outcome)
        except Exception:  # one check's failure must not stop the others
            logger.exception("alert check %s failed", rule.name)
            outcome.failed.append(rule.name)
    return _result(outcome)


class AlertCheckFailed(RuntimeError):
    """Some gateways or checks failed (logged one by one); the rest were done. Raised after
    the run so that the scheduler records it as the job's last error."""


def _result(outcome: Outcome) -> str:
    if outcome.failed:
        raise AlertCheckFailed(f"{outcome}: {', '.join(outcome.failed[:20])}")
    return str(outcome)
