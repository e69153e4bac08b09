"""The support desk's and the provisioning console's actions. Each calls the service that
does the job elsewhere (the same one the customers' pages, the dealers' pages or the
commands call) and records a ``SupportAction``: the operator, the action, its target, the
reason, and whether it was done or refused (with the refusal's message)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from django.db import transaction
from django.utils import timezone

from essmon.accounts.models import User
from essmon.accounts.services.errors import AccountError
from essmon.accounts.services.expiry import release_hold
from essmon.accounts.services.login import unlock_account_for_operator
from essmon.accounts.services.registration import resend_provisional_mail
from essmon.core.jst import JST
from essmon.dealers.services.errors import DealerError
from essmon.dealers.services.replacement import replace_gateway
from essmon.gateways.models import Gateway, GatewayReplacement, ProvisioningBatch
from essmon.gateways.services.factory_list import GatewayListError, import_gateways
from essmon.gateways.services.provisioning import (
    ProvisionedGateway,
    ProvisioningError,
    provision_gateways,
)
from essmon.gateways.services.sheets import SheetError, render_sheets
from essmon.notifications.services import MailLimitError
from essmon.support.models import SupportAction

REASON_MAX = 500
CONSOLE = "運用コンソール"
Action = SupportAction.Action


class SupportError(Exception):
    """An action refused, with the message for the operator (Japanese); ``problems``: one
    line each where there are several (a factory list)."""

    def __init__(
        self, message: str, *, field: str | None = None, problems: list[str] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.problems = problems or [message]


def operator_name(operator: User) -> str:
    return f"{operator.get_role_display()} {operator.name}"


def record_action(
    *,
    operator: User,
    action: str,
    reason: str,
    done: bool,
    target_user: User | None = None,
    target_gateway: Gateway | None = None,
    target_label: str = "",
    detail: str = "",
) -> SupportAction:
    return SupportAction.objects.create(
        operator=operator,
        operator_name=operator_name(operator)[:200],
        action=action,
        target_user=target_user,
        target_gateway=target_gateway,
        target_label=(target_label or (target_gateway.gateway_id if target_gateway else ""))[:100],
        reason=reason.strip()[:REASON_MAX],
        outcome=SupportAction.Outcome.DONE if done else SupportAction.Outcome.REFUSED,
        detail=detail[:500],
    )


def _refused(exc: Exception, message: str, record: Callable[..., SupportAction]) -> SupportError:
    record(done=False, detail=message)
    return SupportError(message, field=getattr(exc, "field", None))


def resend_provisional(*, operator: User, person: User, reason: str) -> None:
    """The 仮登録メール again, with a fresh link (registration.resend_provisional_mail)."""
    record = partial(
        record_action,
        operator=operator,
        action=Action.RESEND_PROVISIONAL,
        reason=reason,
        target_user=person,
    )
    try:
        with transaction.atomic():
            token = resend_provisional_mail(user=person, operator=operator)
            expires = timezone.localtime(token.expires_at, JST)
            record(done=True, detail=f"新しいURLの有効期限: {expires:%Y-%m-%d %H:%M}")
    except (AccountError, MailLimitError) as exc:
        raise _refused(exc, exc.message, record) from exc


def unlock(*, operator: User, person: User, reason: str) -> None:
    """The login lock lifted, as the mailed unlock link would."""
    record = partial(
        record_action, operator=operator, action=Action.UNLOCK, reason=reason, target_user=person
    )
    try:
        with transaction.atomic():
            unlock_account_for_operator(user=person)
            record(done=True)
    except AccountError as exc:
        raise _refused(exc, exc.message, record) from exc


def release(*, operator: User, gateway: Gateway, reason: str) -> None:
    """A held (仮登録中) gateway back to the unclaimed pool (expiry.release_hold)."""
    holder = gateway.owner or gateway.reserved_for
    record = partial(
        record_action,
        operator=operator,
        action=Action.RELEASE_HOLD,
        reason=reason,
        target_user=holder,
        target_gateway=gateway,
    )
    detail = "仮登録していたアカウントから解除" if gateway.owner_id else "仮押さえを解除"
    try:
        with transaction.atomic():
            release_hold(gateway=gateway)
            record(done=True, detail=detail)
    except AccountError as exc:
        raise _refused(exc, exc.message, record) from exc


def replace(
    *,
    operator: User,
    gateway: Gateway,
    new_gateway_id: str,
    new_password: str,
    reason: str,
    client_address: str,
) -> GatewayReplacement:
    """故障交換 from the desk (dealers.services.replacement, called outside a transaction
    as it asks: a wrong sheet password stays counted)."""
    old_id = gateway.gateway_id
    record = partial(
        record_action,
        operator=operator,
        action=Action.REPLACE_GATEWAY,
        reason=reason,
        target_user=gateway.owner,
        target_gateway=gateway,
        target_label=old_id,
    )
    try:
        done = replace_gateway(
            gateway=gateway,
            new_gateway_id=new_gateway_id,
            new_password=new_password,
            reason=reason,
            user=operator,
            client_address=client_address,
        )
    except DealerError as exc:
        raise _refused(exc, exc.message, record) from exc
    record(done=True, detail=f"{old_id} → {done.new_gateway_id}")
    return done


def provision(
    *, operator: User, count: int, model: str, part_number: str, lot: str | None
) -> list[ProvisionedGateway]:
    """New gateways as one batch (provisioning.provision_gateways, the command's service and
    rules); the plaintexts are returned once, for the sheet list."""
    record = partial(record_action, operator=operator, action=Action.PROVISION, reason="製造登録")
    try:
        made = provision_gateways(
            count=count,
            model=model,
            part_number=part_number,
            lot=lot,
            origin=f"{CONSOLE} {operator_name(operator)}",
            created_by=operator,
        )
    except ProvisioningError as exc:
        raise _refused(exc, exc.message, record) from exc
    record(done=True, target_label=f"バッチ #{made[0].batch_id}", detail=f"{model} × {count}台")
    return made


def import_list(*, operator: User, text: str, name: str) -> ProvisioningBatch:
    """A factory list (factory_list.import_gateways: checked whole, loaded all or none)."""
    record = partial(
        record_action, operator=operator, action=Action.IMPORT, reason=f"工場リスト {name}"
    )
    try:
        batch = import_gateways(
            text=text,
            name=name,
            origin=f"{CONSOLE} {operator_name(operator)}",
            created_by=operator,
        )
    except GatewayListError as exc:
        record(done=False, detail=f"{len(exc.problems)}件の誤り")
        raise SupportError(
            "工場リストを取り込めませんでした。次の誤りを直してから、もう一度取り込んでください"
            "(1台も登録していません)。",
            field="file",
            problems=exc.problems,
        ) from exc
    record(done=True, target_label=f"バッチ #{batch.pk}", detail=f"{batch.count}台")
    return batch


def print_sheets(*, operator: User, batch: ProvisioningBatch, size: str) -> bytes:
    """The batch's sheets as a PDF (sheets.render_sheets, as print-sheets prints them)."""
    record = partial(
        record_action,
        operator=operator,
        action=Action.PRINT_SHEETS,
        reason="登録用紙の印刷",
        target_label=f"バッチ #{batch.pk}",
    )
    try:
        pdf = render_sheets(batch=batch, size=size)
    except SheetError as exc:
        raise _refused(exc, exc.message, record) from exc
    record(done=True, detail=f"用紙: {size}")
    return pdf
