"""The single-use links an account is mailed (activation, unlock, a new address), and
their end."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from essmon.accounts.models import AccountToken, User
from essmon.accounts.tokens import issue_token
from essmon.notifications.services import queue_mail


def mail_link(
    *,
    user: User,
    purpose: str,
    lifetime: timedelta,
    kind: str,
    new_email: str = "",
    supersede: bool = True,
    extra: dict[str, object] | None = None,
) -> AccountToken:
    """Mail a single-use link; with ``supersede``, earlier unused links of the same purpose
    stop working.

    The mail goes to ``new_email`` when given (confirming a new address), else to the user.
    """
    if supersede:
        AccountToken.objects.filter(user=user, purpose=purpose, used_at__isnull=True).update(
            expires_at=timezone.now()
        )
    raw, token = issue_token(user=user, purpose=purpose, lifetime=lifetime, new_email=new_email)
    queue_mail(
        recipient=new_email or user.email,
        kind=kind,
        context={
            **(extra or {}),
            "user": user,
            "token": raw,
            "expires_at": token.expires_at,
            "new_email": new_email,
        },
    )
    return token


def end_pending_links(*, user: User) -> None:
    """After a password change or reset: a pending mail-address change or unlock link may
    have been asked for by whoever had the old password, so it stops working."""
    AccountToken.objects.filter(
        user=user,
        purpose__in=[AccountToken.Purpose.EMAIL_CHANGE, AccountToken.Purpose.UNLOCK],
        used_at__isnull=True,
    ).update(expires_at=timezone.now())
