"""Failure limits (gateway passwords, logins): fixed windows counted in the database.

Counting in the database rather than in process memory keeps the limit honest when
several web processes serve the same client.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from essmon.core.models import Throttle


def take(*, keys: list[str], limit: int, window: timedelta) -> bool:
    """Take one try from the allowance of every key, or none when any is spent.

    A try is counted *before* the slow check it guards, under row locks, so requests
    sent in parallel cannot run more checks than the limit; a try that turns out to be
    right is handed back with ``give_back``. Call outside the caller's transaction, so the
    count survives an error the caller raises.
    """
    now = timezone.now()
    with transaction.atomic():
        rows = []
        for key in sorted(set(keys)):  # one lock order everywhere: no deadlocks
            row, _ = Throttle.objects.select_for_update().get_or_create(
                key=key, defaults={"window_start": now, "hits": 0}
            )
            if row.window_start <= now - window:
                row.window_start, row.hits = now, 0
            rows.append(row)
        if any(row.hits >= limit for row in rows):
            return False
        for row in rows:
            row.hits += 1
            row.save(update_fields=["window_start", "hits"])
    return True


def give_back(*, keys: list[str]) -> None:
    """The try was right: it does not count against the limit."""
    Throttle.objects.filter(key__in=keys, hits__gt=0).update(hits=F("hits") - 1)


def reset(*, key: str) -> None:
    Throttle.objects.filter(key=key).delete()


def purge_expired(*, older_than: timedelta) -> int:
    deleted, _ = Throttle.objects.filter(window_start__lt=timezone.now() - older_than).delete()
    return deleted
