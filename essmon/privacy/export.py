"""お客様データのダウンロード (APPI art. 33, 開示): everything essmon keeps about a
customer, as one JSON document described in docs/privacy.md.

The document is produced as a stream of text pieces: a customer with many years of
daily rollups is read from the database a chunk at a time and never held whole in
memory. Telemetry is given as daily rollups (電力量の日ごとの集計), not raw samples;
the document says so in ``notes``. Secrets are never written: no password hash, no
gateway sheet password or device secret, no token (nor its digest or first characters),
no webhook signing secret.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from django.db import models
from django.utils import timezone

from essmon.accounts.models import User
from essmon.alerts.models import Alert, MailOptOut
from essmon.api.models import AccessToken
from essmon.commands.models import Command
from essmon.dealers.models import Dealer, DealerAccess, DealerLink, ProvisionRecord, SiteViewer
from essmon.gateways.models import Gateway
from essmon.telemetry.models import COUNTERS, EnergyRollup
from essmon.transfers.models import OwnershipTransfer, TransferredGateway
from essmon.warranty.models import DateChange, RecordedLapse, WarrantyDates
from essmon.webhooks.models import Endpoint

logger = logging.getLogger(__name__)

FORMAT = "essmon-personal-data-export"
VERSION = 2  # 2: terms_published_at became terms_effective_at (terms take effect at a date)
CHUNK = 1000
TELEMETRY_NOTE = (
    "計測データ(数秒〜数分ごとの値)は含めず、電力量の日ごとの集計(daily_energy)をお渡しします。"
    "Telemetry is given as daily energy rollups, not as the raw samples."
)
# Fields that hold secrets, on any model: never exported, whatever the model grows.
SECRET_FIELDS = frozenset(
    {
        "password",
        "password_hash",
        "device_secret_hash",
        "token_hash",
        "sealed_body",
        "sheet_password_sealed",
        "digest",  # an access token's
        "prefix",  # an access token's first characters
        "secret_sealed",  # a webhook endpoint's signing secret
    }
)


M = TypeVar("M", bound=models.Model)


@dataclass(frozen=True)
class OwnedPeriod:
    """名義変更 (docs/transfers.md): the part of a gateway's life that was this customer's.
    ``since`` None: from the start; ``until`` None: to now."""

    since: datetime | None = None
    until: datetime | None = None

    def clip(self, rows: models.QuerySet[M], field: str) -> models.QuerySet[M]:
        if self.since is not None:
            rows = rows.filter(**{f"{field}__gte": self.since})
        if self.until is not None:
            rows = rows.filter(**{f"{field}__lt": self.until})
        return rows


def _value(value: Any) -> Any:
    if isinstance(value, datetime):
        return timezone.localtime(value).isoformat() if timezone.is_aware(value) else value
    if isinstance(value, date):
        return value.isoformat()
    return value


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=_value)


def _fields(obj: models.Model, names: Iterable[str]) -> dict[str, Any]:
    return {name: _value(getattr(obj, name)) for name in names if name not in SECRET_FIELDS}


def _all_fields(obj: models.Model, *, skip: Iterable[str] = ()) -> dict[str, Any]:
    """Every plain column of ``obj`` but the skipped, foreign keys and secrets; with the
    label of a choice beside its code. Used for records other parts of essmon may extend
    (the dealers' access records), so the export follows them without a change here."""
    out: dict[str, Any] = {}
    for field in obj._meta.concrete_fields:
        if field.name in skip or field.name in SECRET_FIELDS or field.is_relation:
            continue
        out[field.name] = _value(getattr(obj, field.attname))
        if field.choices:
            out[f"{field.name}_label"] = getattr(obj, f"get_{field.name}_display")()
    return out


def _account(user: User) -> dict[str, Any]:
    return _fields(
        user,
        (
            "email",
            "name",
            "furigana",
            "postal_code",
            "prefecture",
            "city",
            "address_rest",
            "phone",
            "company_name",
            "department",
            "date_joined",
            "activated_at",
            "last_login",
            "failed_logins",
            "locked_at",
        ),
    )


def _consents(user: User) -> list[dict[str, Any]]:
    return [
        {
            "terms_version": a.terms.version,
            "terms_title": a.terms.title,
            "terms_kind": a.terms.kind,
            "terms_effective_at": _value(a.terms.effective_at),
            "context": a.context,
            "context_label": a.get_context_display(),
            "accepted_at": _value(a.accepted_at),
            "client_address": a.client_address,
        }
        for a in user.terms_acceptances.select_related("terms").order_by("accepted_at", "pk")
    ]


def _dealer(dealer: Dealer) -> dict[str, Any]:
    return {
        "dealer_code": dealer.dealer_code,
        "company_name": dealer.company_name,
        "branch": dealer.branch,
    }


def _links(gateway: Gateway, user: User) -> list[dict[str, Any]]:
    out = []
    # this customer's links only: a gateway registered again keeps the ended links (and
    # the provision records naming) of the owner before
    links = (
        DealerLink.objects.filter(gateway=gateway, provisions__customer=user)
        .distinct()
        .select_related("dealer")
    )
    for link in links.order_by("created_at", "pk"):
        out.append(
            {
                "dealer": _dealer(link.dealer),
                "linked_at": _value(link.created_at),
                "ended_at": _value(link.ended_at),
                # 第三者提供の記録 (APPI art. 29) of this link
                "provision_records": [
                    _fields(
                        p,
                        (
                            "gateway_code",
                            "customer_name",
                            "data_items",
                            "consented_at",
                            "consent_text",
                        ),
                    )
                    for p in ProvisionRecord.objects.filter(link=link, customer=user).order_by("pk")
                ],
            }
        )
    return out


def _gateway_head(gateway: Gateway, user: User, period: OwnedPeriod) -> dict[str, Any]:
    # a gateway given away: its dates now are the new owner's statement, not this one's
    given_away = period.until is not None
    warranty = None if given_away else WarrantyDates.objects.filter(gateway=gateway).first()
    lapse = RecordedLapse.objects.filter(gateway=gateway).first()
    return {
        "gateway_id": gateway.gateway_id,
        "model": gateway.model,
        "part_number": gateway.part_number,
        "state": gateway.state if not given_away else None,
        "state_label": gateway.get_state_display() if not given_away else None,
        "site_id": gateway.site_id if not given_away else None,
        "owned_since": _value(period.since),
        "owned_until": _value(period.until),
        "held_at": _value(gateway.held_at),
        "claimed_at": _value(gateway.claimed_at),
        "warranty": {
            "grid_connection_date": _value(warranty and warranty.grid_connection_date),
            "received_date": _value(warranty and warranty.received_date),
            "extension_lapsed_at": _value(lapse and lapse.lapsed_at),
            "changes": [
                _fields(c, ("field", "before", "after", "changed_at", "changed_as"))
                for c in period.clip(
                    DateChange.objects.filter(gateway=gateway), "changed_at"
                ).order_by("changed_at", "pk")
            ],
        },
        "dealer_links": _links(gateway, user),
        # 見守り: the family members this customer invited, with the record's times
        "viewers": [
            _fields(v, ("email", "invited_at", "accepted_at", "revoked_at"))
            for v in SiteViewer.objects.filter(gateway=gateway, invited_by=user).order_by("pk")
        ],
    }


def _stream_list(items: Iterable[dict[str, Any]]) -> Iterator[str]:
    yield "["
    first = True
    for item in items:
        yield ("" if first else ",") + "\n      " + _json(item)
        first = False
    yield "]"


def _accesses(gateway: Gateway, period: OwnedPeriod) -> Iterator[dict[str, Any]]:
    """販売店様による閲覧・変更の記録, oldest first."""
    rows = (
        period.clip(DealerAccess.objects.filter(gateway=gateway), "at")
        .select_related("dealer")
        .order_by("at", "pk")
        .iterator(chunk_size=CHUNK)
    )
    for access in rows:
        yield {"dealer": _dealer(access.dealer), **_all_fields(access, skip=("id",))}


def _commands(gateway: Gateway, period: OwnedPeriod) -> Iterator[dict[str, Any]]:
    """設定変更の履歴 (remote settings)."""
    rows = period.clip(Command.objects.filter(gateway=gateway), "requested_at").order_by(
        "requested_at", "pk"
    )
    for c in rows.iterator(chunk_size=CHUNK):
        yield {
            **_fields(
                c,
                (
                    "setting",
                    "value",
                    "previous_value",
                    "status",
                    "requested_as",
                    "requested_at",
                    "sent_at",
                    "answered_at",
                    "result_ts",
                    "reason",
                ),
            ),
            "setting_label": c.get_setting_display(),
            "status_label": c.get_status_display(),
        }


def _alerts(gateway: Gateway, period: OwnedPeriod) -> Iterator[dict[str, Any]]:
    """The alerts open at some time of ``period`` (as the 異常の履歴 tab shows them)."""
    rows = Alert.objects.filter(gateway=gateway)
    if period.since is not None:
        rows = rows.filter(models.Q(closed_at__isnull=True) | models.Q(closed_at__gte=period.since))
    if period.until is not None:
        rows = rows.filter(opened_at__lt=period.until)
    rows = rows.order_by("opened_at", "pk")
    for a in rows.iterator(chunk_size=CHUNK):
        yield {
            **_fields(
                a,
                (
                    "kind",
                    "code",
                    "severity",
                    "title",
                    "detail",
                    "since",
                    "opened_at",
                    "recovered_at",
                    "closed_at",
                    "acknowledged_at",
                    "acknowledged_as",
                    "ack_comment",
                ),
            ),
            "kind_label": a.get_kind_display(),
            "severity_label": a.get_severity_display(),
        }


ENERGY_FIELDS = (*COUNTERS, "samples", "filled", "missing")


def _daily_energy(gateway: Gateway, period: OwnedPeriod) -> Iterator[dict[str, Any]]:
    """Whole days of ``period`` only: the day of a 名義変更 is neither owner's."""
    rows = EnergyRollup.objects.filter(gateway=gateway, period=EnergyRollup.Period.DAY)
    if period.since is not None:
        rows = rows.filter(start__gte=period.since)
    if period.until is not None:
        rows = rows.filter(start__lte=period.until - timedelta(days=1))
    days = rows.order_by("start").values_list("start", *ENERGY_FIELDS).iterator(chunk_size=CHUNK)
    for start, *values in days:
        yield {
            "date": timezone.localtime(start).date().isoformat(),
            **dict(zip(ENERGY_FIELDS, values, strict=True)),
        }


def _gateway(gateway: Gateway, user: User, period: OwnedPeriod) -> Iterator[str]:
    head = _json(_gateway_head(gateway, user, period))
    yield head[:-1]  # the object stays open for the long lists below
    for key, rows in (
        ("dealer_access_records", _accesses(gateway, period)),
        ("settings_history", _commands(gateway, period)),
        ("alerts", _alerts(gateway, period)),
        ("daily_energy", _daily_energy(gateway, period)),
    ):
        yield f',\n    "{key}": '
        yield from _stream_list(rows)
    yield "}"


def owned_gateways(user: User) -> models.QuerySet[Gateway]:
    return Gateway.objects.filter(owner=user).order_by("gateway_id")


def given_gateways(user: User) -> list[tuple[Gateway, OwnedPeriod]]:
    """The gateways ``user`` passed on by 名義変更, each with the time it was theirs."""
    rows = (
        TransferredGateway.objects.filter(
            transfer__from_owner=user, transfer__claimed_at__isnull=False
        )
        .select_related("gateway", "transfer")
        .order_by("transfer__claimed_at", "gateway_code")
    )
    return [
        (r.gateway, OwnedPeriod(since=r.previous_since, until=r.transfer.claimed_at)) for r in rows
    ]


def _transfers(user: User) -> list[dict[str, Any]]:
    """名義変更 this customer started, gave or received (the other side is not named)."""
    rows = OwnershipTransfer.objects.filter(
        models.Q(from_owner=user) | models.Q(to_owner=user)
    ).order_by("started_at", "pk")
    return [
        {
            "role": "譲渡" if t.from_owner_id == user.pk else "譲受",
            "site_name": t.site_name,
            "gateway_ids": [g.gateway_code for g in t.gateways.order_by("gateway_code")],
            **_fields(t, ("started_at", "started_as", "expires_at", "claimed_at", "cancelled_at")),
            "status": t.status,
        }
        for t in rows
    ]


def _access_tokens(user: User) -> list[dict[str, Any]]:
    """The API access tokens the customer made, revoked ones too: what each could do and
    when it was used, never the token, its digest or its first characters."""
    return [
        {
            **_fields(t, ("name", "scopes")),
            "scopes_labels": t.labels,
            **_fields(t, ("created_at", "expires_at", "last_used_at", "revoked_at")),
        }
        for t in AccessToken.objects.filter(user=user).order_by("created_at", "pk")
    ]


def _webhook_endpoints(user: User) -> list[dict[str, Any]]:
    """The customer's webhook endpoints (a dealer's are the dealer's), never the secret."""
    return [
        {
            **_fields(e, ("url", "description", "event_types", "created_at", "enabled")),
            **_fields(e, ("paused_at", "secret_rotated_at")),
            "state": e.state_label,
        }
        for e in Endpoint.objects.filter(owner=user).order_by("created_at", "pk")
    ]


def export_chunks(*, user: User) -> Iterator[str]:
    """The customer's data as pieces of one JSON document (docs/privacy.md)."""
    header = {
        "format": FORMAT,
        "version": VERSION,
        "generated_at": _value(timezone.now()),
        "notes": {
            "telemetry": TELEMETRY_NOTE,
            "secrets": (
                "パスワード、ゲートウェイパスワード、認証用の値、アクセストークン、"
                "Webhookの署名用シークレットは含めていません。"
            ),
            "times": "日時は日本時間(ISO 8601、+09:00)です。",
        },
        "account": _account(user),
        "terms_acceptances": _consents(user),
        "alert_mail_opt_outs": [
            {"kind": o.kind, "kind_label": o.get_kind_display()}
            for o in MailOptOut.objects.filter(user=user).order_by("kind")
        ],
        "sites": [_all_fields(s, skip=()) for s in user.sites.order_by("pk")],
        "transfers": _transfers(user),
        "api_tokens": _access_tokens(user),
        "webhook_endpoints": _webhook_endpoints(user),
    }
    text = _json(header)
    yield "{\n  " + text[1:-1]
    yield ',\n  "gateways": ['
    for index, gateway in enumerate(owned_gateways(user)):
        yield ("" if index == 0 else ",") + "\n    "
        yield from _gateway(gateway, user, OwnedPeriod(since=gateway.owner_since))
    # 名義変更: what was this customer's of the systems passed on, up to the transfer
    yield '\n  ],\n  "transferred_gateways": ['
    for index, (gateway, period) in enumerate(given_gateways(user)):
        yield ("" if index == 0 else ",") + "\n    "
        yield from _gateway(gateway, user, period)
    yield "\n  ]\n}\n"


def export_filename(*, now: datetime | None = None) -> str:
    return f"essmon-data-{timezone.localtime(now or timezone.now()):%Y%m%d}.json"


def record_export(*, user: User) -> None:
    """The export is logged (who, when); the file itself is kept nowhere."""
    logger.info("data export for account %s", user.pk)
