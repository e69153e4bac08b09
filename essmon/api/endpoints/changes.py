"""Setting changes (遠隔設定): a gateway's log of them, asking for one, and following one
from pending to applied, rejected or expired. The settings tab's rules
(monitoring.views.settings_page): reading needs the gateway's details, asking needs
CHANGE_SETTINGS (an owner, a linked dealer's administrator or 技術担当), the form's checks,
the same service, audit log and dealer record."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from django.http import HttpRequest, HttpResponse
from ninja import Header, Query, Router, Schema, Status
from ninja.decorators import decorate_view
from pydantic import ConfigDict, Field, StringConstraints

from essmon.api.changes import (
    KEY_MAX_LENGTH,
    KeyReused,
    NothingToChange,
    SettingsInvalid,
    change_settings_once,
)
from essmon.api.endpoints.acting import gateway_for
from essmon.api.endpoints.common import BODY_ERRORS, Page, responses
from essmon.api.endpoints.gateways import RECORD_DETAIL
from essmon.api.etags import with_etag
from essmon.api.models import AccessToken
from essmon.api.pagination import DEFAULT_LIMIT, MAX_LIMIT, context_of, decode_cursor, next_cursor
from essmon.api.problems import invalid, not_found
from essmon.commands.models import Command
from essmon.core.replicas import reading_replica
from essmon.dealers.access import Purpose, history_floor
from essmon.dealers.models import DealerAccess
from essmon.dealers.services.records import record_view
from essmon.gateways.models import Gateway

router = Router(tags=["setting changes"])
READ = AccessToken.Scope.READ
SETTINGS = AccessToken.Scope.SETTINGS
ChangeStatus = Literal["pending", "sent", "applied", "rejected", "expired", "superseded"]
SettingName = Literal[
    "mode", "charge_window", "discharge_window", "reserve_soc_pct", "export_limit_w"
]
HHMM = Annotated[str, StringConstraints(max_length=5)]


class SettingChangeOut(Schema):
    id: int
    gateway_id: str
    setting: SettingName
    value: Any = Field(description="the value asked for, as sent to the gateway")
    previous_value: Any = Field(
        description="the setting in force as the gateway last reported it, when asked"
    )
    status: ChangeStatus = Field(
        description="pending → sent → applied, rejected or expired; superseded when a newer "
        "change of the same setting came before it was sent"
    )
    requested_at: dt.datetime
    requested_by: str = Field(description="who asked, as the audit log shows")
    expires_at: dt.datetime = Field(description="not sent and answered by then: expired")
    sent_at: dt.datetime | None
    answered_at: dt.datetime | None
    processed_at: dt.datetime | None = Field(description="when the gateway processed it")
    reason: str = Field(description="the gateway's reason for a rejection")


class SettingChangePage(Page):
    items: list[SettingChangeOut]


class SettingChangesOut(Schema):
    replayed: bool = Field(
        description="true: the answer to an earlier request with the same Idempotency-Key; "
        "nothing new was made"
    )
    items: list[SettingChangeOut]


def _out(command: Command, gateway: Gateway) -> SettingChangeOut:
    return SettingChangeOut(
        id=command.pk,
        gateway_id=gateway.gateway_id,
        setting=command.setting,  # type: ignore[arg-type]
        value=command.value,
        previous_value=command.previous_value,
        status=command.status,  # type: ignore[arg-type]
        requested_at=command.requested_at,
        requested_by=command.requested_as,
        expires_at=command.expires_at,
        sent_at=command.sent_at,
        answered_at=command.answered_at,
        processed_at=command.result_ts,
        reason=command.reason,
    )


def _changes_of(gateway: Gateway, since: dt.datetime | None):
    """The gateway's changes as its settings tab's log lists them (monitoring.selectors.
    setting_log: from ``since`` on when given)."""
    commands = Command.objects.filter(gateway=gateway)
    return commands.filter(requested_at__gte=since) if since is not None else commands


@router.get(
    "/gateways/{gateway_id}/setting-changes",
    response=responses({200: SettingChangePage}),
    summary="A gateway's setting changes",
)
@decorate_view(reading_replica())
def list_setting_changes(
    request: HttpRequest,
    gateway_id: str,
    cursor: str | None = None,
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
) -> SettingChangePage:
    """The audit log of the settings tab (設定の変更履歴), newest first: who asked for
    which value, when, and what became of it. Scope `read`."""
    user, gateway = gateway_for(request, gateway_id, purpose=Purpose.VIEW_DETAILS, scope=READ)
    record_view(
        user=user, gateway=gateway, action=DealerAccess.Action.VIEW_SETTINGS, detail=RECORD_DETAIL
    )
    context = context_of("setting-changes", gateway.gateway_id)
    rows = _changes_of(gateway, history_floor(user, gateway))
    after = decode_cursor(cursor, context=context)
    if after is not None:
        rows = rows.filter(pk__lt=after)
    page = list(rows.order_by("-pk")[: limit + 1])
    last = page[limit - 1].pk if len(page) > limit else None
    return SettingChangePage(
        items=[_out(command, gateway) for command in page[:limit]],
        next_cursor=next_cursor(last, context=context),
    )


@router.get(
    "/gateways/{gateway_id}/setting-changes/{change_id}",
    response=responses({200: SettingChangeOut, 304: None}),
    summary="One setting change",
)
@decorate_view(reading_replica())
def get_setting_change(request: HttpRequest, gateway_id: str, change_id: int) -> HttpResponse:
    """One change, to follow it until it is applied, rejected or expired (ask again every
    few seconds; with its ETag in `If-None-Match` the answer is `304` while nothing
    changed). Scope `read`."""
    user, gateway = gateway_for(request, gateway_id, purpose=Purpose.VIEW_DETAILS, scope=READ)
    command = (
        _changes_of(gateway, history_floor(user, gateway)).filter(pk=change_id).first()
        if 0 < change_id < 2**63
        else None
    )
    if command is None:
        raise not_found("No such setting change of this gateway.")
    # polling one change is the tab refreshing its progress: on record once an hour
    record_view(
        user=user,
        gateway=gateway,
        action=DealerAccess.Action.VIEW_SETTINGS,
        detail=RECORD_DETAIL,
        refresh=True,
    )
    return with_etag(request, _out(command, gateway))


class SettingValues(Schema):
    """The settings to change; leave out those to keep. The ranges depend on the
    gateway's model (docs/gateway-protocol.md, section 5); a value outside them is a 422
    naming `body.values.<setting>`."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["economy", "green", "storage_priority"] | None = Field(
        None, description="運転モード"
    )
    charge_window: list[HHMM] | None = Field(
        None, min_length=2, max_length=2, description='充電時間帯: ["23:00", "07:00"]'
    )
    discharge_window: list[HHMM] | None = Field(
        None, min_length=2, max_length=2, description="放電時間帯, as charge_window"
    )
    reserve_soc_pct: int | None = Field(
        None, strict=True, description="停電時用の蓄電残量 (%), in the model's steps"
    )
    export_limit_w: int | None = Field(None, strict=True, description="売電上限 (W); 0: no sale")


class SettingChangeIn(Schema):
    model_config = ConfigDict(extra="forbid")

    values: SettingValues


@router.post(
    "/gateways/{gateway_id}/setting-changes",
    response={200: SettingChangesOut, 201: SettingChangesOut, **BODY_ERRORS},
    summary="Ask for setting changes",
    # valid on every model: within 0–100 and on each model's steps (gateways/schema.py)
    openapi_extra={
        "requestBody": {
            "content": {"application/json": {"example": {"values": {"reserve_soc_pct": 30}}}}
        }
    },
)
def create_setting_changes(
    request: HttpRequest,
    gateway_id: str,
    body: SettingChangeIn,
    idempotency_key: str | None = Header(
        None,
        alias="Idempotency-Key",
        description="any unique string of yours (1–255 visible ASCII characters): the same "
        "request sent again with it within 24 hours makes nothing new and is answered "
        "with the first one's changes (200, replayed)",
    ),
) -> Status[SettingChangesOut]:
    """One change per setting given whose value differs from what is in force or already
    on its way, all or none (201); each then goes pending → sent → applied (or rejected,
    expired). A newer change of a setting supersedes one not yet sent. The owner's, a
    linked dealer's administrator's or 技術担当's, as on the settings tab; a dealer's
    change is recorded in the owner's 販売店様による閲覧・変更の記録. Scope `settings`."""
    user, gateway = gateway_for(
        request, gateway_id, purpose=Purpose.CHANGE_SETTINGS, scope=SETTINGS
    )
    key = idempotency_key
    if key is not None and not (
        0 < len(key) <= KEY_MAX_LENGTH and key.isascii() and key.isprintable() and key.strip()
    ):
        raise invalid(("header.Idempotency-Key", f"1 to {KEY_MAX_LENGTH} visible ASCII characters"))
    values = body.values.model_dump(exclude_none=True)
    try:
        commands, replayed = change_settings_once(
            user=user, gateway=gateway, values=values, key=key
        )
    except SettingsInvalid as exc:
        raise invalid(
            *((f"body.values.{setting}", message) for setting, message in exc.errors.items())
        ) from None
    except NothingToChange:
        raise invalid(
            ("body.values", "変更された設定はありません。"),
            detail="No setting given differs from what is in force or already on its way.",
        ) from None
    except KeyReused:
        raise invalid(
            ("header.Idempotency-Key", "used before"),
            detail="This Idempotency-Key was sent before with another request; use a new key.",
        ) from None
    out = SettingChangesOut(
        replayed=replayed, items=[_out(command, gateway) for command in commands]
    )
    return Status(200 if replayed else 201, out)
