"""Online, offline, and the connectivity history as intervals.

A gateway is online while it keeps talking; silent for longer than
``settings.OFFLINE_AFTER_MINUTES`` it is offline, and its open interval is closed at the
last message heard. Any message opens a new interval.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from essmon.gateways.models import Gateway
from essmon.telemetry.models import ConnectivityInterval, GatewayLiveState

logger = logging.getLogger(__name__)


def offline_after() -> timedelta:
    return timedelta(minutes=settings.OFFLINE_AFTER_MINUTES)


def record_contact(*, gateway: Gateway, now: datetime) -> GatewayLiveState:
    """The gateway said something: it is seen now, and online if it was not.

    Call inside the transaction that stores what it said."""
    state, _ = GatewayLiveState.objects.select_for_update().get_or_create(
        gateway=gateway, defaults={"last_seen_at": now}
    )
    state.last_seen_at = now
    if not ConnectivityInterval.objects.filter(gateway=gateway, online_until__isnull=True).exists():
        ConnectivityInterval.objects.create(gateway=gateway, online_from=now)
    return state


def is_online(state: GatewayLiveState | None, *, now: datetime | None = None) -> bool:
    now = now or timezone.now()
    return state is not None and state.last_seen_at > now - offline_after()


def close_silent_intervals(*, now: datetime | None = None) -> int:
    """Periodic job: gateways silent past the threshold go offline, their interval ending
    at the last message heard. One gateway's failure does not stop the others."""
    now = now or timezone.now()
    silent = ConnectivityInterval.objects.filter(
        online_until__isnull=True, gateway__live__last_seen_at__lte=now - offline_after()
    ).values_list("pk", flat=True)
    closed = 0
    for pk in list(silent):
        try:
            with transaction.atomic():
                interval = (
                    ConnectivityInterval.objects.select_for_update(of=("self",))
                    .select_related("gateway__live")
                    .filter(pk=pk, online_until__isnull=True)
                    .first()
                )
                if interval is None or is_online(interval.gateway.live, now=now):
                    continue  # it spoke again meanwhile
                interval.online_until = interval.gateway.live.last_seen_at
                interval.save(update_fields=["online_until"])
                closed += 1
        except Exception:
            logger.exception("could not close connectivity interval %s", pk)
    return closed
