"""Warranty: the dates and their audit, the state of one system or of a fleet (a few queries
for any number of gateways), and the periodic offline warnings. The rule itself is the pure
``rules.evaluate``; docs/warranty.md explains it."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Max, Min, Q, QuerySet, Window
from django.db.models.functions import Lag
from django.urls import reverse
from django.utils import timezone

from essmon.accounts.models import User
from essmon.alerts.rules import we_are_deaf
from essmon.dealers.models import DealerAccess
from essmon.dealers.selectors import acting_as, maintenance_staff
from essmon.dealers.services.records import record_change
from essmon.gateways.models import Gateway
from essmon.notifications.services import queue_mail
from essmon.telemetry.connectivity import offline_silence
from essmon.telemetry.models import ConnectivityInterval, GatewayLiveState
from essmon.warranty.catalogue import term_for
from essmon.warranty.models import DateChange, OfflineWarning, RecordedLapse, WarrantyDates
from essmon.warranty.rules import (
    Connectivity,
    DatesPrompt,
    Policy,
    Status,
    WarrantyState,
    dates_prompt,
    evaluate,
)

logger = logging.getLogger(__name__)

__all__ = [
    "Status",
    "WarrantyState",
    "at_risk_ids",
    "change_dates",
    "check_warranties",
    "current_policy",
    "date_changes",
    "dates_prompts",
    "state_of",
    "states_for",
]


def parse_warn_days(value: str) -> tuple[int, ...]:
    """ "7,21" → (7, 21); empty turns the warning mails off."""
    return tuple(sorted({int(part) for part in value.replace(" ", "").split(",") if part}))


def current_policy() -> Policy:
    return Policy(
        lapse_days=settings.WARRANTY_LAPSE_DAYS,
        warn_days=parse_warn_days(settings.WARRANTY_WARN_DAYS),
        offline_after=offline_silence(),
    )


# --- the state ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Row:
    pk: int
    model: str
    registered_at: datetime | None
    grid_connection_date: date | None
    received_date: date | None
    last_seen: datetime | None


def state_of(gateway: Gateway, *, now: datetime | None = None) -> WarrantyState:
    """One system's state, with every silence read (so its longest is exact)."""
    return states_for([gateway], now=now, all_gaps=True)[gateway.pk]


def states_for(
    gateways: QuerySet[Gateway] | Iterable[Gateway],
    *,
    now: datetime | None = None,
    all_gaps: bool = False,
) -> dict[int, WarrantyState]:
    """The state of each gateway, by pk, in three queries however many there are.

    Only the silences longer than the lapse are read unless ``all_gaps``: a flaky gateway may
    have thousands of short ones, and they cannot change the state, only the longest shown."""
    now = now or timezone.now()
    policy = current_policy()
    if not isinstance(gateways, QuerySet):
        gateways = Gateway.objects.filter(pk__in=[g.pk for g in gateways])
    rows = _rows(gateways)
    if not rows:
        return {}
    ids = gateways.order_by().values_list("pk", flat=True)
    connectivity = _connectivity(
        ids, rows, min_gap=timedelta(0) if all_gaps else policy.lapse_after
    )
    recorded = {
        pk: (since, at)
        for pk, since, at in RecordedLapse.objects.filter(gateway__in=ids).values_list(
            "gateway_id", "offline_since", "lapsed_at"
        )
    }
    states = {
        row.pk: evaluate(
            grid_connection_date=row.grid_connection_date,
            received_date=row.received_date,
            registered_at=row.registered_at,
            term=term_for(row.model),
            connectivity=connectivity[row.pk],
            now=now,
            policy=policy,
            recorded_lapse=recorded.get(row.pk),
        )
        for row in rows
    }
    new_lapses = [
        RecordedLapse(
            gateway_id=pk,
            offline_since=state.lapsed_at - policy.lapse_after,
            lapsed_at=state.lapsed_at,
            recorded_at=now,
        )
        for pk, state in states.items()
        if state.status == Status.LAPSED and state.lapsed_at is not None and pk not in recorded
    ]
    if new_lapses:
        RecordedLapse.objects.bulk_create(new_lapses, ignore_conflicts=True)
    return states


def _rows(gateways: QuerySet[Gateway]) -> list[_Row]:
    values = gateways.order_by().values(
        "pk",
        "model",
        "state",
        "claimed_at",
        "warranty_dates__grid_connection_date",
        "warranty_dates__received_date",
        "live__last_seen_at",
    )
    return [
        _Row(
            pk=v["pk"],
            model=v["model"],
            # a gateway given back to the pool keeps no registration
            registered_at=v["claimed_at"] if v["state"] == Gateway.State.CLAIMED else None,
            grid_connection_date=v["warranty_dates__grid_connection_date"],
            received_date=v["warranty_dates__received_date"],
            last_seen=v["live__last_seen_at"],
        )
        for v in values
    ]


def _connectivity(
    ids: QuerySet[Any], rows: list[_Row], *, min_gap: timedelta
) -> dict[int, Connectivity]:
    intervals = ConnectivityInterval.objects.filter(gateway_id__in=ids).order_by()
    bounds = {
        b["gateway_id"]: b
        for b in intervals.values("gateway_id").annotate(
            first=Min("online_from"), last_from=Max("online_from"), last_until=Max("online_until")
        )
    }
    # Each interval with the end of the one before it: the silence between them. Window
    # functions keep this one pass over the intervals, in SQL, on PostgreSQL and SQLite alike.
    gaps: dict[int, list[tuple[datetime, datetime]]] = {}
    previous = Window(
        Lag("online_until"), partition_by=[F("gateway_id")], order_by=F("online_from").asc()
    )
    long_gaps = (
        intervals.annotate(gap_start=previous)
        .filter(gap_start__isnull=False, online_from__gt=F("gap_start") + min_gap)
        .values_list("gateway_id", "gap_start", "online_from")
    )
    for gateway_id, start, end in long_gaps:
        gaps.setdefault(gateway_id, []).append((start, end))
    result = {}
    for row in rows:
        b = bounds.get(row.pk)
        if b is None and row.last_seen is None:
            result[row.pk] = Connectivity(first_online=None, last_seen=None)
            continue
        # the live state normally says when it was last heard; the intervals are the fallback
        heard = [t for t in (row.last_seen, b and b["last_until"], b and b["last_from"]) if t]
        result[row.pk] = Connectivity(
            first_online=b["first"] if b else row.last_seen,
            last_seen=max(heard),
            gaps=tuple(gaps.get(row.pk, ())),
        )
    return result


# --- the fleet ---------------------------------------------------------------------------


def at_risk_ids(gateways: QuerySet[Gateway], *, now: datetime | None = None) -> set[int]:
    """The pks among ``gateways`` whose extension is at risk now (the fleet's filter).

    Only gateways silent for at least the at-risk time can be at risk, so the database
    narrows the fleet to those first (one indexed join) before the rule looks at them."""
    now = now or timezone.now()
    silent_since = now - current_policy().at_risk_after
    candidates = gateways.filter(state=Gateway.State.CLAIMED).filter(
        Q(live__isnull=True) | Q(live__last_seen_at__lte=silent_since)
    )
    return {
        pk
        for pk, state in states_for(candidates, now=now).items()
        if state.status == Status.AT_RISK
    }


# --- the dates -----------------------------------------------------------------------------


def dates_prompts(
    gateways: QuerySet[Gateway], *, now: datetime | None = None
) -> dict[int, DatesPrompt]:
    """The registered systems among ``gateways`` still missing 系統連系日 or 受取日, with what
    the main menu says about them (by pk). Those with both dates cost no evaluation."""
    missing = gateways.filter(state=Gateway.State.CLAIMED).filter(
        Q(warranty_dates__isnull=True)
        | Q(warranty_dates__grid_connection_date__isnull=True)
        | Q(warranty_dates__received_date__isnull=True)
    )
    prompts = {pk: dates_prompt(state) for pk, state in states_for(missing, now=now).items()}
    return {pk: prompt for pk, prompt in prompts.items() if prompt is not None}


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


def date_changes(gateway: Gateway, *, limit: int = 100) -> list[DateChange]:
    return list(DateChange.objects.filter(gateway=gateway)[:limit])


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
