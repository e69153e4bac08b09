"""Failure and request limits (gateway passwords, logins, mails): fixed windows counted in
the database.

Counting in the database rather than in process memory keeps the limit honest when
several web processes serve the same client.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from essmon.core.models import Throttle


@dataclass(frozen=True)
class Allowance:
    """``limit`` tries per ``window`` for one counter ``key``."""

    key: str
    limit: int
    window: timedelta


def take_each(allowances: list[Allowance]) -> Allowance | None:
    """Take one try from every allowance, or none when any is spent; returns the first
    spent allowance (in the order given), None when the try was taken.

    A try is counted *before* the slow check it guards, under row locks, so requests
    sent in parallel cannot run more checks than the limit; a try that turns out to be
    right is handed back with ``give_back``. Call outside the caller's transaction, so the
    count survives an error the caller raises.
    """
    now = timezone.now()
    with transaction.atomic():
        rows = {}
        for allowance in sorted(allowances, key=lambda a: a.key):  # one lock order: no deadlocks
            if allowance.key in rows:
                continue
            row, _ = Throttle.objects.select_for_update().get_or_create(
                key=allowance.key, defaults={"window_start": now, "hits": 0}
            )
            if row.window_start <= now - allowance.window:
                row.window_start, row.hits = now, 0
            rows[allowance.key] = row
        for allowance in allowances:
            if rows[allowance.key].hits >= allowance.limit:
                return allowance
        for row in rows.values():
            row.hits += 1
            row.save(update_fields=["window_start", "hits"])
    return None


def take(*, keys: list[str], limit: int, window: timedelta) -> bool:
    """``take_each`` with one limit and window for every key; False when any is spent."""
    return take_each([Allowance(key, limit, window) for key in keys]) is None


def spent(*, key: str, limit: int, window: timedelta) -> bool:
    """Whether ``key`` has reached ``limit`` in its current window (counting nothing)."""
    row = Throttle.objects.filter(key=key, window_start__gt=timezone.now() - window).first()
    return row is not None and row.hits >= limit


def hits(*, key: str, window: timedelta) -> int:
    """How many tries ``key`` has taken in its current window."""
    row = Throttle.objects.filter(key=key, window_start__gt=timezone.now() - window).first()
    return 0 if row is None else row.hits


def retry_after(*, key: str, window: timedelta) -> int:
    """Whole seconds until ``key``'s current window ends (at least 1): what a ``429``'s
    ``Retry-After`` says."""
    row = Throttle.objects.filter(key=key).first()
    if row is None:
        return 1
    left = row.window_start + window - timezone.now()
    return max(1, int(left.total_seconds()) + 1)


def restart_window(*, key: str) -> None:
    """Start ``key``'s window again now, keeping its count: a spent allowance then stays
    spent for a whole window from this moment (a lock lasts as long, however long the
    tries that led to it took)."""
    Throttle.objects.filter(key=key).update(window_start=timezone.now())


def give_back(*, keys: list[str]) -> None:
    """The try was right: it does not count against the limit."""
    Throttle.objects.filter(key__in=keys, hits__gt=0).update(hits=F("hits") - 1)


def reset(*, key: str) -> None:
    Throttle.objects.filter(key=key).delete()


def address_key(address: str) -> str:
    """The part of a client address a per-address limit counts: the address itself for
    IPv4, its /64 for IPv6 (one household or server is handed a whole /64, so counting
    single IPv6 addresses would let one client take 2**64 allowances)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:64]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def purge_expired(*, older_than: timedelta) -> int:
    deleted, _ = Throttle.objects.filter(window_start__lt=timezone.now() - older_than).delete()
    return deleted
