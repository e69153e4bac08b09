"""Reads of the mail outbox, each one fixed shape of query."""

from __future__ import annotations

from essmon.notifications.models import OutboxMessage


def failed_count() -> int:
    """Mails given up on after their last attempt (the 運営者メニュー counts them)."""
    return OutboxMessage.objects.filter(state=OutboxMessage.State.FAILED).count()
