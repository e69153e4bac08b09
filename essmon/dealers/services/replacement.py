"""故障交換: a linked dealer or an operator replaces a customer's failed gateway by a new,
provisioned and unclaimed one (docs/dealers.md, "Gateway replacement").

The registry row of the failed gateway goes on, so that everything pointing at it (the
site, samples and rollups, live state, alerts, warranty, dealer links and their records)
continues without a row being moved: it takes the new unit's identity (gateway ID, sheet
password, device secret, model, 品番) and the new unit's own row is deleted. The old ID
then names nothing, so its device secret fails over HTTPS at once, and the broker's files
are rewritten as soon as the change is committed (``signals.gateway_replaced``)."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from essmon.accounts.models import User
from essmon.dealers import signals
from essmon.dealers.models import DealerAccess
from essmon.dealers.selectors import acting_as
from essmon.dealers.services.errors import DealerError
from essmon.dealers.services.records import record_change
from essmon.gateways.models import Gateway, GatewayReplacement
from essmon.gateways.services.claims import GatewayError, check_gateway_credentials
from essmon.notifications.services import queue_mail

REASON_MAX = 500
NOT_REPLACEABLE = "このゲートウェイは交換できません(お客様の登録が完了していません)。"
SAME_GATEWAY = "交換後のゲートウェイIDに、交換するゲートウェイと同じIDは指定できません。"
CHANGED_MEANWHILE = (
    "交換後のゲートウェイの状態が変わったため交換できませんでした。"
    "もう一度ゲートウェイIDとゲートウェイパスワードを確認してください。"
)


def replace_gateway(
    *,
    gateway: Gateway,
    new_gateway_id: str,
    new_password: str,
    reason: str,
    user: User,
    client_address: str,
    now: datetime | None = None,
) -> GatewayReplacement:
    """Put the unit of sheet (``new_gateway_id``, ``new_password``) in ``gateway``'s place.

    Call it outside a transaction: a wrong sheet password is counted (and committed)
    like a registration's. Raises GatewayError for the sheet, DealerError otherwise."""
    if gateway.state != Gateway.State.CLAIMED:
        raise DealerError(NOT_REPLACEABLE, field="gateway_id")
    if new_gateway_id == gateway.gateway_id:
        raise DealerError(SAME_GATEWAY, field="gateway_id")
    try:
        check_gateway_credentials(
            gateway_id=new_gateway_id,
            password=new_password,
            client_address=client_address,
            user_id=user.pk,
        )
    except GatewayError as exc:
        raise DealerError(exc.message, field="gateway_id") from exc
    now = now or timezone.now()
    with transaction.atomic():
        # both rows locked in the registry's order (by primary key), so two replacements
        # naming the same new unit are taken one after the other
        rows = {
            g.gateway_id: g
            for g in Gateway.objects.select_for_update()
            .filter(gateway_id__in=[gateway.gateway_id, new_gateway_id])
            .order_by("pk")
        }
        old, new = rows.get(gateway.gateway_id), rows.get(new_gateway_id)
        if old is None or old.state != Gateway.State.CLAIMED:
            raise DealerError(NOT_REPLACEABLE, field="gateway_id")
        if new is None or new.state != Gateway.State.UNCLAIMED or new.owner_id is not None:
            raise DealerError(CHANGED_MEANWHILE, field="gateway_id")
        replacement = GatewayReplacement.objects.create(
            gateway=old,
            old_gateway_id=old.gateway_id,
            new_gateway_id=new.gateway_id,
            old_model=old.model,
            replaced_at=now,
            replaced_by=user,
            replaced_by_name=acting_as(user)[0],
            reason=reason.strip()[:REASON_MAX],
        )
        # the new unit's own row goes (with whatever it sent while unclaimed) before its
        # identity is taken, since the gateway ID is unique
        identity = {
            "gateway_id": new.gateway_id,
            "model": new.model,
            "part_number": new.part_number,
            "password_hash": new.password_hash,
            "device_secret_hash": new.device_secret_hash,
        }
        new.delete()
        Gateway.objects.filter(pk=old.pk).update(**identity)
        old.refresh_from_db()
        detail = f"ゲートウェイの交換: {replacement.old_gateway_id} → {replacement.new_gateway_id}"
        if replacement.reason:
            detail += f"(理由: {replacement.reason})"
        record_change(
            user=user,
            gateway=old,
            action=DealerAccess.Action.REPLACE_GATEWAY,
            detail=detail,
            now=now,
        )
        if old.owner is not None:
            queue_mail(
                recipient=old.owner.email,
                kind="gateway_replaced",
                context={"customer": old.owner, "gateway": old, "replacement": replacement},
            )
        signals.gateway_replaced.send(
            sender=GatewayReplacement, gateway=old, replacement=replacement
        )
    return replacement
