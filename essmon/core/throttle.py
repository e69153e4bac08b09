"""Failure limits (gateway passwords, logins): fixed windows counted in the database.

Counting in the database rather than in process memory keeps the limit honest when
several web processes serve the same client.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from essmon.core.models import Throttle


def _current(key: str, window: timedelta) -> Throttle | None:
    row = Throttle.objects.filter(key=key).first()
    if row is None or row.window_start <= timezone.now() - window:
        return None
    return row


def is_blocked(*, key: str, limit: int, window: timedelta) -> bool:
    """True when ``key`` has already failed ``limit`` times in the current window."""
    row = _current(key, window)
    return row is not None and row.hits >= limit


def record_failure(*, key: str, window: timedelta) -> int:
    """Count one failure for ``key``; returns the count in the current window."""
    now = timezone.now()
    with transaction.atomic():
        row, created = Throttle.objects.select_for_update().get_or_create(
            key=key, defaults={"window_start": now, "hits": 1}
        )
        if created:
            return 1
        if row.window_start <= now - window:
            row.window_start, row.hits = now, 1
        else:
            row.hits += 1
        row.save(update_fields=["window_start", "hits"])
        return row.hits


def reset(*, key: str) -> None:
    Throttle.objects.filter(key=key).delete()


def purge_expired(*, older_than: timedelta) -> int:
    deleted, _ = Throttle.objects.filter(window_start__lt=timezone.now() - older_than).delete()
    return deleted
