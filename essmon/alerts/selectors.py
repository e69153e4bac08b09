"""Reads of alerts for the pages: a gateway's history, one alert of a gateway, and which
alert mails a customer gets."""

from __future__ import annotations

from datetime import datetime

from essmon.accounts.models import User
from essmon.alerts.models import Alert, Kind, MailOptOut
from essmon.gateways.models import Gateway


def gateway_alerts(
    gateway: Gateway, *, limit: int = 100, since: datetime | None = None
) -> list[Alert]:
    """The gateway's alert history: open ones first, then the newest. With ``since``
    (名義変更: dealers.access.history_floor) the closed ones are those still open at it or
    later: an alert the system carries into the new owner's time is theirs to see."""
    open_ = list(Alert.objects.filter(gateway=gateway, closed_at__isnull=True).order_by("-since"))
    closed_rows = Alert.objects.filter(gateway=gateway, closed_at__isnull=False)
    if since is not None:
        closed_rows = closed_rows.filter(closed_at__gte=since)
    closed = list(closed_rows.order_by("-since")[:limit])
    return open_ + closed


def gateway_alert(*, gateway: Gateway, alert_id: int) -> Alert | None:
    """The alert ``alert_id`` if it is ``gateway``'s."""
    return Alert.objects.filter(gateway=gateway, pk=alert_id).first()


def mail_kinds_wanted(user: User) -> list[str]:
    """The kinds of alert mail ``user`` gets (all but those opted out), in ``Kind`` order."""
    off = set(MailOptOut.objects.filter(user=user).values_list("kind", flat=True))
    return [k for k in Kind.values if k not in off]
