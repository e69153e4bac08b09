"""The events, as the apps below tell them (their signals.py): each receiver runs inside
the sender's transaction and writes the event with its deliveries there
(services.record_event), so the event exists exactly when the change does."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.dispatch import receiver

from essmon.accounts.models import User
from essmon.alerts import signals as alert_signals
from essmon.alerts.models import Alert
from essmon.commands import signals as command_signals
from essmon.commands.models import Command
from essmon.dealers import signals as dealer_signals
from essmon.dealers.models import DealerLink
from essmon.gateways.models import Gateway
from essmon.telemetry import signals as telemetry_signals
from essmon.warranty import signals as warranty_signals
from essmon.webhooks import events
from essmon.webhooks.events import when
from essmon.webhooks.models import Endpoint
from essmon.webhooks.services import record_event, with_endpoints


def _alert(alert: Alert) -> dict[str, Any]:
    return {
        "alert": {
            "id": alert.pk,
            "kind": alert.kind,
            "code": alert.code,
            "severity": alert.severity,
            "title": alert.title,
            "since": when(alert.since),
            "opened_at": when(alert.opened_at),
            "recovered_at": when(alert.recovered_at),
            "closed_at": when(alert.closed_at),
        }
    }


@receiver(alert_signals.alert_opened, dispatch_uid="webhooks.alert_opened")
def _alert_opened(*, alert: Alert, **kwargs: Any) -> None:
    record_event(type=events.ALERT_OPENED, gateway=alert.gateway, data=_alert(alert))


@receiver(alert_signals.alert_closed, dispatch_uid="webhooks.alert_closed")
def _alert_closed(*, alert: Alert, **kwargs: Any) -> None:
    record_event(type=events.ALERT_CLOSED, gateway=alert.gateway, data=_alert(alert))


@receiver(telemetry_signals.gateway_offline, dispatch_uid="webhooks.gateway_offline")
def _gateway_offline(*, gateway_id: int, last_seen_at: datetime, **kwargs: Any) -> None:
    if not Endpoint.objects.exists():  # the usual case costs one cheap query
        return
    gateway = Gateway.objects.select_related("owner").filter(pk=gateway_id).first()
    if gateway is not None:
        record_event(
            type=events.GATEWAY_OFFLINE,
            gateway=gateway,
            data={"last_seen_at": when(last_seen_at)},
        )


@receiver(telemetry_signals.gateways_online, dispatch_uid="webhooks.gateways_online")
def _gateways_online(*, gateway_ids: Sequence[int], online_from: datetime, **kwargs: Any) -> None:
    # on the ingest's path, but only for gateways whose interval just opened
    if not Endpoint.objects.exists():
        return
    for gateway in with_endpoints(list(gateway_ids)):
        record_event(
            type=events.GATEWAY_ONLINE,
            gateway=gateway,
            data={"online_from": when(online_from)},
        )


@receiver(dealer_signals.link_added, dispatch_uid="webhooks.link_added")
def _link_added(*, link: DealerLink, **kwargs: Any) -> None:
    gateway = link.gateway
    record_event(
        type=events.LINK_ADDED,
        gateway=gateway,
        data={"dealer_code": link.dealer.dealer_code, "linked_at": when(link.created_at)},
        owner=gateway.owner,
        dealer_ids={link.dealer_id},
    )


@receiver(dealer_signals.link_ended, dispatch_uid="webhooks.link_ended")
def _link_ended(*, link: DealerLink, owner: User | None, reason: str, **kwargs: Any) -> None:
    record_event(
        type=events.LINK_ENDED,
        gateway=link.gateway,
        data={
            "dealer_code": link.dealer.dealer_code,
            "linked_at": when(link.created_at),
            "ended_at": when(link.ended_at),
            "reason": reason,
        },
        owner=owner,
        dealer_ids={link.dealer_id},
    )


@receiver(warranty_signals.warranty_at_risk, dispatch_uid="webhooks.warranty_at_risk")
def _warranty_at_risk(
    *,
    gateway: Gateway,
    days: int,
    offline_since: datetime,
    lapses_at: datetime | None,
    **kwargs: Any,
) -> None:
    record_event(
        type=events.WARRANTY_AT_RISK,
        gateway=gateway,
        data={
            "offline_since": when(offline_since),
            "offline_days": days,
            "lapses_at": when(lapses_at),
        },
    )


@receiver(command_signals.command_answered, dispatch_uid="webhooks.command_answered")
def _command_answered(*, command: Command, **kwargs: Any) -> None:
    applied = command.status == Command.Status.APPLIED
    record_event(
        type=events.SETTING_APPLIED if applied else events.SETTING_REJECTED,
        gateway=command.gateway,
        data={
            "command_id": command.pk,
            "setting": command.setting,
            "value": command.value,
            "previous_value": command.previous_value,
            "requested_at": when(command.requested_at),
            "answered_at": when(command.answered_at),
            "result_at": when(command.result_ts),
            "reason": command.reason,
        },
    )
