"""Reads of what the MQTT transport keeps, each one fixed shape of query."""

from __future__ import annotations

from datetime import datetime

from essmon.mqtt.models import DeadLetter


def dead_letter_count(*, since: datetime) -> int:
    """Messages received since ``since`` and not accepted (the 運営者メニュー counts them)."""
    return DeadLetter.objects.filter(received_at__gte=since).count()
