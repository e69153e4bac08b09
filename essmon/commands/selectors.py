"""Commands, read: whether a gateway has any waiting (the long poll asks it every half
second, so it is one indexed ``EXISTS``)."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from essmon.commands.models import Command
from essmon.gateways.models import Gateway


def has_waiting(gateway: Gateway, *, now: datetime | None = None) -> bool:
    now = now or timezone.now()
    return Command.objects.filter(
        gateway=gateway, status__in=Command.OPEN, expires_at__gt=now
    ).exists()
