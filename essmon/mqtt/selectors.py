"""Reads of the dead letters with a fixed query shape."""

from datetime import datetime

from essmon.mqtt.models import DeadLetter


def dead_letter_count(*, since: datetime) -> int:
    """Messages from gateways refused since ``since``."""
    return DeadLetter.objects.filter(received_at__gte=since).count()
