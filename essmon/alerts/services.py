"""What people do with alerts: a dealer's (or operator's) acknowledgement, and the
customer's choice of alert mails. Opening and closing them is ``alerts.engine``'s."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from essmon.accounts.models import User
from essmon.alerts.models import Alert, Kind, MailOptOut
from essmon.core.text import control_message
from essmon.dealers.models import DealerAccess
from essmon.dealers.selectors import acting_as
from essmon.dealers.services.records import record_change

COMMENT_MAX = 500


class AlertError(ValueError):
    """An alert action that cannot be done; the message is for the user (Japanese)."""


def acknowledge(*, alert: Alert, user: User, comment: str, now: datetime | None = None) -> Alert:
    """A dealer (or operator) says they have seen the alert and what they are doing."""
    now = now or timezone.now()
    comment = comment.strip()
    if len(comment) > COMMENT_MAX:
        raise AlertError(f"コメントは{COMMENT_MAX}文字以内で入力してください。")
    if (message := control_message(comment, multiline=True)) is not None:
        raise AlertError(message)
    with transaction.atomic():
        done = Alert.objects.filter(pk=alert.pk, acknowledged_at__isnull=True).update(
            acknowledged_at=now,
            acknowledged_by=user,
            acknowledged_as=acting_as(user)[0],
            ack_comment=comment,
        )
        if done:  # a dealer's acknowledgement, for the owner's record too
            since = timezone.localtime(alert.since)
            record_change(
                user=user,
                gateway=alert.gateway,
                action=DealerAccess.Action.ACKNOWLEDGE_ALERT,
                detail=f"「{alert.title}」({since.year}年{since.month}月{since.day}日 "
                f"{since:%H:%M}発生): 未確認 → 確認済み"
                + (f"(コメント: {comment})" if comment else ""),
                now=now,
            )
    if not done:
        raise AlertError("この異常はすでに確認済みです。")
    alert.refresh_from_db()
    return alert


def set_mail_kinds(*, user: User, wanted: Iterable[str]) -> None:
    """The kinds of alert mail ``user`` wants; the others are opted out (``MailOptOut``)."""
    wanted = set(wanted)
    wanted_off = {Kind(k) for k in Kind.values if k not in wanted}
    with transaction.atomic():
        MailOptOut.objects.filter(user=user).exclude(kind__in=wanted_off).delete()
        for kind in wanted_off:
            MailOptOut.objects.get_or_create(user=user, kind=kind)
