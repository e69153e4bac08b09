"""販売店様による閲覧・変更の記録: what a dealer's people viewed and changed of a gateway,
kept for the owner, and purged after its period."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Greatest
from django.utils import timezone

from essmon.accounts.models import User
from essmon.dealers.access import dealer_of
from essmon.dealers.models import Dealer, DealerAccess
from essmon.gateways.models import Gateway

logger = logging.getLogger(__name__)

# Views of one page by one person within this long of the row's first view are one row.
ACCESS_COLLAPSE_WINDOW = timedelta(hours=1)
DETAIL_MAX = 1000
DEALER_ROLES = (
    User.Role.DEALER,
    User.Role.DEALER_STAFF,
)  # a change's 内容 (an alert comment is at most 500 characters)


def record_view(
    *,
    user: User,
    gateway: Gateway,
    action: str,
    detail: str = "",
    refresh: bool = False,
    now: datetime | None = None,
) -> None:
    """A page of ``gateway`` shown to ``user``: recorded for the owner when ``user`` is a
    dealer's person, its administrator or a staff member with a login (a customer's or an
    operator's view is not a dealer's, and is not).

    Views of the same page (``action`` and ``detail``) by the same person within
    ACCESS_COLLAPSE_WINDOW of a row's first view add to that row's count; ``refresh`` is a
    page refreshing itself (htmx polling), which only makes sure a row of the last hour
    exists: a page left open stays on record once an hour, and no poll adds a row or a count.

    Never raises: a failure to record is logged and the page is shown all the same (its
    own savepoint, so a surrounding transaction goes on)."""
    if not user.is_authenticated or user.role not in DEALER_ROLES:
        return
    try:
        with transaction.atomic():
            dealer = dealer_of(user)
            if dealer is None:
                return
            _collapse_view(
                dealer=dealer,
                user=user,
                gateway=gateway,
                action=action,
                detail=detail[:DETAIL_MAX],
                refresh=refresh,
                now=now or timezone.now(),
            )
    except Exception:
        logger.exception(
            "could not record a dealer view: user %s gateway %s %s", user.pk, gateway.pk, action
        )


def _collapse_view(
    *,
    dealer: Dealer,
    user: User,
    gateway: Gateway,
    action: str,
    detail: str,
    refresh: bool,
    now: datetime,
) -> None:
    open_row = (
        DealerAccess.objects.filter(
            gateway=gateway,
            dealer=dealer,
            user=user,
            action=action,
            detail=detail,
            at__gt=now - ACCESS_COLLAPSE_WINDOW,
        )
        .order_by("-at", "-pk")
        .values_list("pk", flat=True)
        .first()
    )
    if open_row is not None:
        if not refresh:
            # F(): two requests at once both count; the later time wins
            DealerAccess.objects.filter(pk=open_row).update(
                count=F("count") + 1, last_at=Greatest(F("last_at"), Value(now))
            )
        return
    DealerAccess.objects.create(
        gateway=gateway,
        dealer=dealer,
        user=user,
        actor_name=user.name,
        action=action,
        at=now,
        last_at=now,
        detail=detail,
    )


def record_change(
    *,
    user: User | None,
    gateway: Gateway,
    action: str,
    detail: str,
    now: datetime | None = None,
) -> DealerAccess | None:
    """A change a dealer's person made to ``gateway`` (setting, date, acknowledgement):
    always a row of its own, saying what changed. Call it inside the change's transaction,
    so that the change and its record are kept together or not at all; a failure here
    fails the change. Nothing for a customer's or operator's change (their own logs show
    those: 設定の変更履歴, the warranty's 変更履歴, the alert's 確認者)."""
    if user is None or user.role not in DEALER_ROLES:
        return None
    dealer = dealer_of(user)
    if dealer is None:
        return None
    now = now or timezone.now()
    return DealerAccess.objects.create(
        gateway=gateway,
        dealer=dealer,
        user=user,
        actor_name=user.name,
        action=action,
        at=now,
        last_at=now,
        detail=detail[:DETAIL_MAX],
    )


def purge_dealer_records(now: datetime | None = None) -> int:
    """Periodic job: records whose last time is older than
    ESSMON_DEALER_RECORD_RETENTION_DAYS go. Returns how many."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.DEALER_RECORD_RETENTION_DAYS)
    deleted, _ = DealerAccess.objects.filter(last_at__lt=cutoff).delete()
    return deleted
