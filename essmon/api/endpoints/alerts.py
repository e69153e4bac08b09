"""Alerts: a gateway's alerts, every alert of the gateways the caller looks after (a
dealer's fleet-wide list), and the dealers' acknowledgement with a comment. The access
rules, the 名義変更 floor, the validation and the record of the 異常の履歴 tab
(monitoring.tabs.alerts)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from django.db.models import F, Q, QuerySet
from django.http import HttpRequest
from ninja import Query, Router, Schema
from ninja.decorators import decorate_view
from pydantic import ConfigDict, Field

from essmon.accounts.models import User
from essmon.alerts.forms import AcknowledgeForm
from essmon.alerts.models import Alert
from essmon.alerts.selectors import gateway_alert
from essmon.alerts.services import COMMENT_MAX, AlertError, acknowledge
from essmon.api.auth import caller
from essmon.api.endpoints.acting import gateway_for
from essmon.api.endpoints.common import BODY_ERRORS, Page, responses
from essmon.api.endpoints.gateways import RECORD_DETAIL
from essmon.api.models import AccessToken
from essmon.api.pagination import DEFAULT_LIMIT, MAX_LIMIT, context_of, decode_cursor, next_cursor
from essmon.api.problems import ApiProblem, Problem, invalid, not_found
from essmon.core.replicas import reading_replica
from essmon.dealers.access import Purpose, history_floor, visible_gateways
from essmon.dealers.models import DealerAccess
from essmon.dealers.services.records import record_view

router = Router(tags=["alerts"])
READ = AccessToken.Scope.READ
ALERTS = AccessToken.Scope.ALERTS
AlertState = Literal["open", "closed", "all"]


class AlertOut(Schema):
    id: int
    gateway_id: str
    kind: Literal["offline", "fault", "battery_temp", "soc_stuck"]
    code: str = Field(description="the fault code for a fault, else empty")
    severity: Literal["info", "minor", "major", "critical"]
    severity_words: str = Field(description="重要度 as the pages say it")
    title: str
    detail: str
    action: str = Field(description="推奨する対応")
    since: dt.datetime = Field(description="when the problem began")
    opened_at: dt.datetime = Field(description="when essmon noticed it")
    recovered_at: dt.datetime | None
    closed_at: dt.datetime | None
    state: Literal["open", "closed"]
    acknowledged_at: dt.datetime | None
    acknowledged_by: str = Field(description="who acknowledged it, as the pages show; or empty")
    ack_comment: str


class AlertPage(Page):
    items: list[AlertOut]


def _out(alert: Alert) -> AlertOut:
    return AlertOut(
        id=alert.pk,
        gateway_id=alert.gateway.gateway_id,
        kind=alert.kind,  # type: ignore[arg-type]
        code=alert.code,
        severity=alert.severity,  # type: ignore[arg-type]
        severity_words=alert.severity_words,
        title=alert.title,
        detail=alert.detail,
        action=alert.action,
        since=alert.since,
        opened_at=alert.opened_at,
        recovered_at=alert.recovered_at,
        closed_at=alert.closed_at,
        state="open" if alert.is_open else "closed",
        acknowledged_at=alert.acknowledged_at,
        acknowledged_by=alert.acknowledged_as,
        ack_comment=alert.ack_comment,
    )


def _in_state(alerts: QuerySet[Alert], state: AlertState) -> QuerySet[Alert]:
    if state == "open":
        return alerts.filter(closed_at__isnull=True)
    if state == "closed":
        return alerts.filter(closed_at__isnull=False)
    return alerts


def _newest_first_page(
    alerts: QuerySet[Alert], *, cursor: str | None, context: str, limit: int
) -> tuple[list[Alert], str | None]:
    """Newest first by id (ids grow as alerts open): a stable order, whatever opens or
    closes between two pages."""
    after = decode_cursor(cursor, context=context)
    if after is not None:
        alerts = alerts.filter(pk__lt=after)
    page = list(alerts.select_related("gateway").order_by("-pk")[: limit + 1])
    if len(page) <= limit:
        return page, None
    page = page[:limit]
    return page, next_cursor(page[-1].pk, context=context)


@router.get(
    "/gateways/{gateway_id}/alerts",
    response=responses({200: AlertPage}),
    summary="A gateway's alerts",
)
@decorate_view(reading_replica())
def list_gateway_alerts(
    request: HttpRequest,
    gateway_id: str,
    state: AlertState = "all",
    cursor: str | None = None,
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
) -> AlertPage:
    """The gateway's alerts, newest first; `state` keeps the open or the closed ones. An
    owner after a 名義変更 sees those open in their time. Scope `read`."""
    user, gateway = gateway_for(request, gateway_id, purpose=Purpose.VIEW_DETAILS, scope=READ)
    record_view(
        user=user, gateway=gateway, action=DealerAccess.Action.VIEW_ALERTS, detail=RECORD_DETAIL
    )
    alerts = Alert.objects.filter(gateway=gateway)
    since = history_floor(user, gateway)
    if since is not None:
        # as the tab (alerts.selectors.gateway_alerts): those still open at the floor or later
        alerts = alerts.filter(Q(closed_at__isnull=True) | Q(closed_at__gte=since))
    context = context_of("gateway-alerts", gateway.gateway_id, state)
    page, cursor_out = _newest_first_page(
        _in_state(alerts, state), cursor=cursor, context=context, limit=limit
    )
    return AlertPage(items=[_out(a) for a in page], next_cursor=cursor_out)


def _visible_alerts(user: User) -> QuerySet[Alert]:
    """The alerts of every gateway ``user`` may see the alerts of; an owner's from each
    gateway's ``owner_since`` on (dealers.access.history_floor), as the tab."""
    alerts = Alert.objects.filter(gateway__in=visible_gateways(user, Purpose.VIEW_DETAILS))
    if user.role == User.Role.CUSTOMER:
        alerts = alerts.filter(
            Q(closed_at__isnull=True)
            | Q(gateway__owner_since__isnull=True)
            | Q(closed_at__gte=F("gateway__owner_since"))
        )
    return alerts


@router.get("/alerts", response=responses({200: AlertPage}), summary="Alerts of all your gateways")
@decorate_view(reading_replica())
def list_alerts(
    request: HttpRequest,
    state: AlertState = "open",
    cursor: str | None = None,
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
) -> AlertPage:
    """Every alert of the gateways you may see, newest first; by default the open ones
    (a dealer's work list over the systems entrusted to it). Each gateway on the page is
    recorded for its owner as the tab's view is. Scope `read`."""
    user = caller(request, READ).user
    context = context_of("alerts", state)
    page, cursor_out = _newest_first_page(
        _in_state(_visible_alerts(user), state), cursor=cursor, context=context, limit=limit
    )
    for gateway in {alert.gateway_id: alert.gateway for alert in page}.values():
        record_view(
            user=user,
            gateway=gateway,
            action=DealerAccess.Action.VIEW_ALERTS,
            detail=RECORD_DETAIL,
        )
    return AlertPage(items=[_out(a) for a in page], next_cursor=cursor_out)


class AcknowledgeIn(Schema):
    # a field the operation does not know is refused (422), not ignored: a typo would
    # otherwise pass unnoticed
    model_config = ConfigDict(extra="forbid")

    # required, although it may be empty: a body that is not this object (ninja reads a
    # JSON array or string as no fields at all) is then a 422, not an acknowledgement
    comment: str = Field(
        max_length=COMMENT_MAX,
        description="what you are doing about it (shown to the owner too); may be empty",
    )


@router.post(
    "/gateways/{gateway_id}/alerts/{alert_id}/acknowledge",
    response={200: AlertOut, 409: Problem, **BODY_ERRORS},
    summary="Acknowledge an alert",
    openapi_extra={
        "requestBody": {
            "content": {"application/json": {"example": {"comment": "明日10時に点検に伺います。"}}}
        }
    },
)
def acknowledge_alert(
    request: HttpRequest, gateway_id: str, alert_id: int, body: AcknowledgeIn
) -> AlertOut:
    """Mark an open or closed alert as seen (確認済み), with a comment the owner sees too:
    the maintaining dealer's work, as on the 異常の履歴 tab (its administrator and 技術担当;
    an owner or a 閲覧のみ login finds no such gateway here). Recorded in the owner's
    販売店様による閲覧・変更の記録. 409 when it was acknowledged already. Scope `alerts`."""
    user, gateway = gateway_for(
        request, gateway_id, purpose=Purpose.ACKNOWLEDGE_ALERT, scope=ALERTS
    )
    alert = gateway_alert(gateway=gateway, alert_id=alert_id) if alert_id < 2**63 else None
    if alert is None:
        raise not_found("No such alert of this gateway.")
    form = AcknowledgeForm({"comment": body.comment})
    if not form.is_valid():
        raise invalid(
            *(
                (f"body.{field}", str(message))
                for field, messages in form.errors.items()
                for message in messages
            )
        )
    try:
        done = acknowledge(alert=alert, user=user, comment=form.cleaned_data["comment"])
    except AlertError as exc:
        if not Alert.objects.filter(pk=alert.pk, acknowledged_at__isnull=False).exists():
            raise invalid(("body.comment", str(exc))) from None
        raise ApiProblem(409, "conflict", "The alert has been acknowledged already.") from None
    return _out(done)
