"""Warranty, read: the policy in force, the state of one system or of a fleet (a few
queries for any number of gateways), the dates and their audit, and what the 保証 tab shows.
The rule itself is the pure ``rules.evaluate``; docs/warranty.md explains it.

Reading a state records a lapse it finds (``RecordedLapse``), once: a lapse is a fact
from then on, which a later date entered must not undo (docs/warranty.md).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import F, Max, Min, Q, QuerySet, Window
from django.db.models.functions import Lag
from django.utils import timezone

from essmon.accounts.models import User
from essmon.dealers.access import Purpose, history_floor, visible_gateways
from essmon.gateways.models import Gateway
from essmon.telemetry.connectivity import offline_silence
from essmon.telemetry.models import ConnectivityInterval
from essmon.warranty.catalogue import term_for
from essmon.warranty.models import DateChange, RecordedLapse, WarrantyDates
from essmon.warranty.rules import (
    Connectivity,
    DatesPrompt,
    Policy,
    Status,
    WarrantyState,
    dates_prompt,
    describe_duration,
    evaluate,
)


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


def date_changes(
    gateway: Gateway, *, limit: int = 100, since: datetime | None = None
) -> list[DateChange]:
    """The dates' audit, newest first; from ``since`` on when given (名義変更: who changed
    them under the owner before is not the new owner's to see)."""
    changes = DateChange.objects.filter(gateway=gateway)
    if since is not None:
        changes = changes.filter(changed_at__gte=since)
    return list(changes[:limit])


# --- the 保証 tab ----------------------------------------------------------------------------


def may_change_dates(user: User, gateway: Gateway) -> bool:
    """The user may enter the dates of this gateway (dealers.access, Purpose.WARRANTY_DATES)."""
    return visible_gateways(user, Purpose.WARRANTY_DATES).filter(pk=gateway.pk).exists()


@dataclass(frozen=True)
class WarrantyTab:
    """What the 保証 tab shows of one gateway."""

    state: WarrantyState
    policy: Policy
    dates: dict[str, date | None]  # the form's initial values
    may_edit: bool
    longest: str | None  # the longest silence in words, when more than a restart's
    changes: list[DateChange]


def warranty_tab(user: User, gateway: Gateway) -> WarrantyTab:
    dates = WarrantyDates.objects.filter(gateway=gateway).first()
    state, policy = state_of(gateway), current_policy()
    longest = state.longest_offline.length(state.now) if state.longest_offline else None
    return WarrantyTab(
        state=state,
        policy=policy,
        dates={
            "grid_connection_date": dates.grid_connection_date if dates else None,
            "received_date": dates.received_date if dates else None,
        },
        may_edit=may_change_dates(user, gateway),
        # a restart's few minutes are not worth a line
        longest=describe_duration(longest) if longest and longest > policy.offline_after else None,
        changes=date_changes(gateway, since=history_floor(user, gateway)),
    )
