"""Reads of the outbox with a fixed query shape."""

from essmon.notifications.models import OutboxMessage


def failed_mail_count() -> int:
    """Mails the outbox gave up on: each waits for an operator."""
    return OutboxMessage.objects.filter(state=OutboxMessage.State.FAILED).count()
