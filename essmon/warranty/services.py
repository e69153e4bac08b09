"""Warranty, written: the dates and their audit, and the periodic offline warnings. The
reads (the policy, the states, the prompts, the 保証 tab) are in ``selectors.py``;
docs/warranty.md explains the rule."""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone

from essmon.accounts.models import User
from essmon.alerts.rules import we_are_deaf
from essmon.dealers.models import DealerAccess
from essmon.dealers.selectors import acting_as, maintenance_staff
from essmon.dealers.services.records import record_change
from essmon.gateways.models import Gateway
from essmon.notifications.services import queue_mail
from essmon.telemetry.models import GatewayLiveState
from essmon.warranty import signals
from essmon.warranty.models import DateChange, OfflineWarning, WarrantyDates
from essmon.warranty.rules import Policy, Status, WarrantyState
from essmon.warranty.selectors import current_policy, state_of, states_for

logger = logging.getLogger(__name__)


# --- the dates -----------------------------------------------------------------------------


def record_registration_dates(
    *, gateway: Gateway, user: User, grid_connection_date: date | None, received_date: date | None
) -> None:
    """The dates typed at registration (both optional), recorded like any change of them."""
    if grid_connection_date is None and received_date is None:
        return
    change_dates(
        gateway=gateway,
        user=user,
        grid_connection_date=grid_connection_date,
        received_date=received_date,
    )


def forget_dates(*, gateways: QuerySet[Gateway]) -> None:
    """A provisional registration given up: its dates and their record go with it, so the
    gateway's next owner starts from nothing."""
    WarrantyDates.objects.filter(gateway__in=gateways).delete()
    DateChange.objects.filter(gateway__in=gateways).delete()


def change_dates(
    *,
    gateway: Gateway,
    user: User,
    grid_connection_date: date | None,
    received_date: date | None,
) -> list[DateChange]:
    """Set the two dates; one audit record per date that actually changed. The caller has
    checked the user may (dealers.access, Purpose.WARRANTY_DATES)."""
    with transaction.atomic():
        # locked, so two people saving at once each record the "before" the other left
        Gateway.objects.select_for_update().filter(pk=gateway.pk).first()
        # a lapse under the dates as they were is recorded before they change: entering a
        # later 系統連系日 must not make an extension lost earlier come back
        state_of(gateway)
        current, _ = WarrantyDates.objects.get_or_create(gateway=gateway)
        wanted = {
            DateChange.Field.GRID_CONNECTION: grid_connection_date,
            DateChange.Field.RECEIVED: received_date,
        }
        changed_as, dealer = acting_as(user)
        now = timezone.now()
        changes = []
        for field, after in wanted.items():
            before = getattr(current, field.value)
            if before == after:
                continue
            setattr(current, field.value, after)
            changes.append(
                DateChange(
                    gateway=gateway,
                    field=field,
                    before=before,
                    after=after,
                    changed_at=now,
                    changed_by=user,
                    dealer=dealer,
                    changed_as=changed_as,
                )
            )
        if changes:
            current.updated_at = now
            current.save()
            DateChange.objects.bulk_create(changes)
        for change in changes:  # a dealer's change, for the owner's record too
            record_change(
                user=user,
                gateway=gateway,
                action=DealerAccess.Action.CHANGE_DATES,
                detail=f"{change.get_field_display()}: "
                f"{_date_text(change.before)} → {_date_text(change.after)}",
                now=now,
            )
        return changes


def _date_text(day: date | None) -> str:
    return f"{day.year}年{day.month}月{day.day}日" if day else "未入力"


# --- the offline warnings ------------------------------------------------------------------


def check_warranties(now: datetime | None = None) -> int:
    """Periodic job: mail the owner and the linked dealers' confirmed maintenance staff when
    a system whose extension still stands has been offline for a warning threshold
    (ESSMON_WARRANTY_WARN_DAYS). Each threshold is mailed once per offline stretch, recorded
    in ``OfflineWarning``; when several were crossed unseen (the job was stopped), only the
    latest is mailed. One gateway's failure does not stop the others. Returns the number of
    warnings sent."""
    now = now or timezone.now()
    policy = current_policy()
    if not policy.warn_days:
        return 0
    # every registered system, not only the silent ones: a lapse found in the history of a
    # gateway that is back is recorded too (three queries for any number)
    states = states_for(
        Gateway.objects.filter(state=Gateway.State.CLAIMED, owner__isnull=False), now=now
    )
    if we_are_deaf(now):
        logger.error("warranty warnings held back: most of the fleet went silent at once")
        return 0
    gateways = Gateway.objects.select_related("owner", "site").in_bulk(
        [pk for pk, state in states.items() if state.status == Status.AT_RISK]
    )
    sent = 0
    for pk, gateway in sorted(gateways.items()):
        try:
            sent += _warn(gateway, states[pk], now=now, policy=policy)
        except Exception:
            logger.exception("warranty warning for gateway %s failed", gateway.gateway_id)
    return sent


def _warn(gateway: Gateway, state: WarrantyState, *, now: datetime, policy: Policy) -> int:
    current = state.current_offline
    assert current is not None
    silence = current.length(now)
    crossed = [d for d in policy.warn_days if silence >= timedelta(days=d)]
    if not crossed:
        return 0
    days = crossed[-1]
    # The stretch is known by the last message heard (or, never heard, by the registration):
    # fixed for the whole silence, unlike the counted start, which moves when a date is entered.
    live = GatewayLiveState.objects.filter(gateway=gateway).values_list("last_seen_at", flat=True)
    since = live.first() or gateway.claimed_at
    if since is None:  # a registered gateway always has claimed_at: nothing to count from
        return 0
    if OfflineWarning.objects.filter(gateway=gateway, offline_since=since, days__gte=days).exists():
        return 0
    try:
        with transaction.atomic():
            warning = OfflineWarning.objects.create(
                gateway=gateway, offline_since=since, days=days, sent_at=now
            )
            recipients = _mail_warning(gateway, state, days=days, now=now)
            warning.recipients = recipients
            warning.save(update_fields=["recipients"])
            signals.warranty_at_risk.send(
                sender=OfflineWarning,
                gateway=gateway,
                days=days,
                offline_since=since,
                lapses_at=state.lapses_at,
            )
    except IntegrityError:  # another scheduler sent this one meanwhile
        return 0
    return 1


def _mail_warning(gateway: Gateway, state: WarrantyState, *, days: int, now: datetime) -> int:
    context = {
        "gateway": gateway,
        "state": state,
        "days": days,
        "offline_since": state.current_offline.start if state.current_offline else now,
        "url": reverse("monitoring:warranty", kwargs={"gateway_id": gateway.gateway_id}),
    }
    addresses: set[str] = set()
    assert gateway.owner is not None  # only registered gateways, which have one, are warned
    owner_told = gateway.owner.is_active  # a closed account gets no more mail
    if owner_told:
        addresses.add(gateway.owner.email.lower())
    staff = []
    for person in (
        maintenance_staff(gateway=gateway).select_related("dealer").order_by("dealer_id", "pk")
    ):
        if person.email.lower() not in addresses:
            addresses.add(person.email.lower())
            staff.append(person)
    # each mail says who else was told only as it was done
    if owner_told:
        queue_mail(
            recipient=gateway.owner.email,
            kind="warranty_offline_customer",
            context={
                **context,
                "customer": gateway.owner,
                "dealers_told": list(dict.fromkeys(p.dealer for p in staff)),
            },
        )
    for person in staff:
        queue_mail(
            recipient=person.email,
            kind="warranty_offline_dealer",
            context={
                **context,
                "staff": person,
                "dealer": person.dealer,
                "customer": gateway.owner,
                "owner_told": owner_told,
            },
        )
    return len(addresses)
