"""名義変更: start (the owner, or an operator with a reason), cancel, and claim with the
one-time code (docs/transfers.md).

The code is shown once, to whoever started the transfer; only its SHA-256 is kept. It has
80 random bits, so the hash alone cannot be turned back into it, and a claim is counted
per account and per client address before the code is looked up."""

from __future__ import annotations

import hashlib
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from essmon.accounts import selectors as account_selectors
from essmon.accounts.models import TermsAcceptance, TermsVersion, User
from essmon.accounts.services.errors import AccountError
from essmon.accounts.services.inputs import Person
from essmon.accounts.services.registration import (
    begin_activation,
    create_provisional_user,
    notify_existing_account,
)
from essmon.accounts.services.terms import agree_to_terms
from essmon.commands.services import expire_open_commands
from essmon.core import throttle
from essmon.dealers import signals as dealer_signals
from essmon.dealers.access import is_desk_operator, is_operator
from essmon.dealers.models import DealerLink, SiteViewer
from essmon.dealers.selectors import acting_as, alert_recipients
from essmon.gateways.models import Gateway, Site
from essmon.notifications.services import allow_mail_to_typed_address, queue_mail
from essmon.transfers.models import OwnershipTransfer, TransferredGateway, TransferRegistration
from essmon.transfers.selectors import open_transfer_of

# no I, O, 0 or 1: nothing two characters could be mistaken for
ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 16
GROUP = 4
REASON_MAX = 500
HOUR = timedelta(hours=1)
# wrong codes: per account an hour, and per client address an hour (a household or office
# behind one address has few buyers; a guesser has 2**80 codes to try)
CODE_FAILURES_PER_ACCOUNT = 10
CODE_FAILURES_PER_ADDRESS = 30
LINK_END_REASON = "名義変更"

WRONG_CODE = (
    "名義変更コードが正しくないか、有効期限が切れているか、すでに使われているか、"
    "取り消されています。コードをお確かめのうえ、譲渡する方またはお問い合わせ窓口にご確認ください。"
)
TOO_MANY_TRIES = (
    "名義変更コードの誤りが続いたため、確認を一時停止しています。"
    "1時間ほどおいてから再度お試しください。"
)
OWN_TRANSFER = "ご自身が譲渡の手続きを始めたシステムは受け取れません。"
NOT_A_CUSTOMER = "名義変更の受け取りは、お客様のアカウントでのみできます。"
NOTHING_TO_TRANSFER = "この案件には、名義変更できる登録済みのゲートウェイがありません。"
ALREADY_STARTED = (
    "この案件の名義変更はすでに手続き中です。"
    "コードを作り直す場合は、いまの手続きを取り消してから始めてください。"
)
REASON_REQUIRED = "運営者が名義変更を始めるときは、理由を入力してください。"
CANCEL_REASON_REQUIRED = "運営者が名義変更を取り消すときは、理由を入力してください。"
CANCEL_REASON_MAX = 200
CLAIMED_AT_ACTIVATION = "名義変更の受け取りが完了しました。「{site}」のシステム({gateways})は、いまからお客様のものです。"
NOT_CLAIMED_AT_ACTIVATION = (
    "本登録は完了しましたが、名義変更のシステムは受け取れませんでした。"
    "仮登録の後に名義変更が取り消されたか、コードの有効期限が切れたか、"
    "すでに受け取られています。譲渡する方またはお問い合わせ窓口にご確認ください。"
    "新しいコードを受け取ったら、ログインしてメインメニューの「名義変更」から受け取れます。"
)
NOT_OPEN = "この名義変更は、すでに受け取り済みか取り消し済みです。"


class TransferError(AccountError):
    """A refusal about 名義変更, with a message for people."""


@dataclass(frozen=True)
class StartedTransfer:
    transfer: OwnershipTransfer
    code: str  # grouped, to be shown once and never again


def code_lifetime() -> timedelta:
    return timedelta(days=settings.TRANSFER_CODE_DAYS)


def new_code() -> str:
    raw = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
    return "-".join(raw[i : i + GROUP] for i in range(0, CODE_LENGTH, GROUP))


def normalize_code(typed: str) -> str | None:
    """The code as typed (full-width, lower case, spaces and hyphens allowed) in its bare
    form, or None when it cannot be one."""
    text = unicodedata.normalize("NFKC", typed or "")[:100].upper()
    bare = "".join(ch for ch in text if ch not in " -\u30fc\u2010\u2212\t")
    if len(bare) != CODE_LENGTH or any(ch not in ALPHABET for ch in bare):
        return None
    return bare


def hash_code(bare: str) -> str:
    return hashlib.sha256(bare.encode()).hexdigest()


def transferable_gateways(site: Site) -> list[Gateway]:
    """The site's registered gateways that belong to the site's owner: what a claim moves."""
    return list(
        Gateway.objects.filter(
            site=site, owner_id=site.owner_id, state=Gateway.State.CLAIMED
        ).order_by("gateway_id")
    )


def start_transfer(
    *, site: Site, actor: User, reason: str = "", now: datetime | None = None
) -> StartedTransfer:
    """Start the transfer of ``site`` and its gateways: by its owner, or by an operator
    (with a reason). The seller keeps everything until the claim. Returns the code, which
    the caller shows once."""
    operator = is_desk_operator(actor)
    reason = reason.strip()[:REASON_MAX]
    if not operator and site.owner_id != actor.pk:
        raise TransferError(NOTHING_TO_TRANSFER)
    if operator and not reason:
        raise TransferError(REASON_REQUIRED, field="reason")
    now = now or timezone.now()
    with transaction.atomic():
        # the site's row lock takes two starts one after the other
        site = Site.objects.select_for_update().select_related("owner").get(pk=site.pk)
        if not transferable_gateways(site):
            raise TransferError(NOTHING_TO_TRANSFER)
        if open_transfer_of(site, now=now) is not None:
            raise TransferError(ALREADY_STARTED)
        code = new_code()
        transfer = OwnershipTransfer.objects.create(
            site=site,
            site_name=site.name,
            from_owner=site.owner,
            code_hash=hash_code(code.replace("-", "")),
            started_at=now,
            started_by=actor,
            started_as=(
                OwnershipTransfer.StartedAs.OPERATOR
                if operator
                else OwnershipTransfer.StartedAs.OWNER
            ),
            reason=reason if operator else "",
            expires_at=now + code_lifetime(),
        )
        queue_mail(
            recipient=site.owner.email,
            kind="transfer_started",
            context={
                "customer": site.owner,
                "transfer": transfer,
                "gateways": transferable_gateways(site),
                "by_operator": operator,
            },
        )
    return StartedTransfer(transfer=transfer, code=code)


def cancel_transfer(
    *, transfer: OwnershipTransfer, actor: User, reason: str = "", now: datetime | None = None
) -> OwnershipTransfer:
    """取り消し before the claim: by the seller or an operator. The code is dead from now."""
    operator = is_desk_operator(actor)
    reason = reason.strip()[:CANCEL_REASON_MAX]
    if operator and not reason:
        raise TransferError(CANCEL_REASON_REQUIRED, field="reason")
    now = now or timezone.now()
    with transaction.atomic():
        locked = OwnershipTransfer.objects.select_for_update(of=("self",)).get(pk=transfer.pk)
        if not (operator or locked.from_owner_id == actor.pk):
            raise TransferError(NOT_OPEN)
        if locked.claimed_at is not None or locked.cancelled_at is not None:
            raise TransferError(NOT_OPEN)
        locked.cancelled_at, locked.cancelled_by = now, actor
        locked.cancel_reason = reason
        locked.save(update_fields=["cancelled_at", "cancelled_by", "cancel_reason"])
        if locked.from_owner is not None and locked.from_owner.is_active:
            queue_mail(
                recipient=locked.from_owner.email,
                kind="transfer_cancelled",
                context={
                    "customer": locked.from_owner,
                    "transfer": locked,
                    "cancelled_by_name": acting_as(actor)[0],
                },
            )
    return locked


def cancel_transfers_of(*, user: User, reason: str) -> int:
    """Every transfer ``user`` gives that is still open ends (退会): no mail, the account
    goes. Returns how many."""
    return OwnershipTransfer.objects.filter(
        from_owner=user, claimed_at__isnull=True, cancelled_at__isnull=True
    ).update(cancelled_at=timezone.now(), cancelled_by=user, cancel_reason=reason[:200])


def _code_allowances(buyer: User | None, client_address: str | None) -> list[throttle.Allowance]:
    """Per account (a buyer with one) and per client address; a visitor without an account
    and without an address is counted under one shared key."""
    allowances = []
    if buyer is not None:
        key = f"transfer-code:user:{buyer.pk}"
        allowances.append(throttle.Allowance(key, CODE_FAILURES_PER_ACCOUNT, HOUR))
    if client_address:
        key = f"transfer-code:address:{throttle.address_key(client_address)}"
        allowances.append(throttle.Allowance(key, CODE_FAILURES_PER_ADDRESS, HOUR))
    elif buyer is None:
        allowances.append(
            throttle.Allowance("transfer-code:address:none", CODE_FAILURES_PER_ADDRESS, HOUR)
        )
    return allowances


def _open_transfer_by_code(
    *, code: str, allowances: list[throttle.Allowance], now: datetime
) -> OwnershipTransfer:
    if throttle.take_each(allowances) is not None:
        raise TransferError(TOO_MANY_TRIES, field="code")
    bare = normalize_code(code)
    transfer = (
        OwnershipTransfer.objects.select_related("site", "from_owner")
        .filter(code_hash=hash_code(bare))
        .first()
        if bare
        else None
    )
    if transfer is None or not transfer.is_open(now):
        raise TransferError(WRONG_CODE, field="code")  # the try taken stays counted
    throttle.give_back(keys=[a.key for a in allowances])
    return transfer


def find_open_transfer(
    *, buyer: User, code: str, client_address: str | None, now: datetime | None = None
) -> OwnershipTransfer:
    """The open transfer ``code`` names, for ``buyer`` to see before agreeing; every code
    that names none is one message, and counts against the account and the client."""
    if buyer.role != User.Role.CUSTOMER or is_operator(buyer):
        raise TransferError(NOT_A_CUSTOMER)
    transfer = _open_transfer_by_code(
        code=code, allowances=_code_allowances(buyer, client_address), now=now or timezone.now()
    )
    if transfer.from_owner_id == buyer.pk:
        raise TransferError(OWN_TRANSFER, field="code")
    return transfer


# --- a buyer without an account: registration from the code -----------------------------


def verify_code_for_registration(
    *, code: str, client_address: str | None, now: datetime | None = None
) -> dict[str, object]:
    """A visitor without an account types the code: the same limits and message as a
    signed-in buyer's (per client address). Returns the proof the registration keeps in
    the session instead of the code: the transfer's id and the code's hash (the code cannot
    be had back from it)."""
    transfer = _open_transfer_by_code(
        code=code, allowances=_code_allowances(None, client_address), now=now or timezone.now()
    )
    return {"transfer": transfer.pk, "code_hash": transfer.code_hash}


def proven_transfer(proof: object, *, now: datetime | None = None) -> OwnershipTransfer | None:
    """The open transfer a registration's proof names, or None (no proof, a forged one, or
    the transfer ended meanwhile)."""
    if not isinstance(proof, dict) or not isinstance(proof.get("transfer"), int):
        return None
    transfer = (
        OwnershipTransfer.objects.select_related("site")
        .filter(pk=proof["transfer"], code_hash=str(proof.get("code_hash", "")))
        .first()
    )
    if transfer is None or not transfer.is_open(now or timezone.now()):
        return None
    return transfer


def register_buyer(
    *, person: Person, proof: object, terms: TermsVersion, client_address: str
) -> None:
    """お客様情報の登録 from a transfer code: a provisional account and the usual 仮登録メール
    (the same mail limits); the claim waits for the activation (``claim_at_activation``).

    A mail address that already has an account looks, from outside, like a new one (as in
    the usual registration): its owner is only told, and claims with the code after
    logging in; the transfer is not attached to an account a stranger typed."""
    transfer = proven_transfer(proof)
    if transfer is None:
        raise TransferError(WRONG_CODE)
    allow_mail_to_typed_address(recipient=person.email, client_address=client_address)
    with transaction.atomic():
        existing = account_selectors.email_taken(person.email)
        if existing is not None:
            notify_existing_account(existing)
            return
        user = create_provisional_user(person=person, role=User.Role.CUSTOMER)
        TransferRegistration.objects.create(transfer=transfer, user=user)
        begin_activation(
            user=user, terms=terms, client_address=client_address, kind="provisional_registration"
        )


def claim_at_activation(*, user: User, client_address: str | None = None) -> str | None:
    """Inside the activation's transaction (accounts.signals.account_activated): the claim
    the account registered for. Returns the sentence the completion page shows, or None
    when the account registered without a code. A transfer that ended meanwhile does not
    stop the activation: the account becomes active without the site, and is told so."""
    registration = TransferRegistration.objects.select_related("transfer").filter(user=user).first()
    if registration is None:
        return None
    transfer = registration.transfer
    registration.delete()  # its work is done either way; the transfer's row is the record
    try:
        claimed = _claim(
            transfer_pk=transfer.pk,
            buyer=user,
            # the 利用規約 the activation just showed (a separate privacy notice, when one
            # is published, is asked after the first login, as for any new account)
            terms=[account_selectors.terms_for(user=user)],
            client_address=client_address,
            now=timezone.now(),
        )
    except TransferError:
        return NOT_CLAIMED_AT_ACTIVATION
    gateway_ids = "、".join(claimed.gateways.values_list("gateway_code", flat=True))
    return CLAIMED_AT_ACTIVATION.format(site=claimed.site_name, gateways=gateway_ids)


def terms_in_force() -> list[TermsVersion]:
    """The customers' documents in force (利用規約, then the privacy notice if published)."""
    found = []
    for kind in (TermsVersion.Kind.TERMS, TermsVersion.Kind.PRIVACY):
        version = (
            TermsVersion.objects.filter(
                audience=TermsVersion.Audience.CUSTOMER, kind=kind, effective_at__lte=timezone.now()
            )
            .order_by("-effective_at", "-pk")
            .first()
        )
        if version is not None:
            found.append(version)
    return found


def claim_transfer(
    *,
    buyer: User,
    code: str,
    terms: list[TermsVersion],
    client_address: str | None,
    now: datetime | None = None,
) -> OwnershipTransfer:
    """受け取り: ``buyer`` (a customer, who agreed to ``terms`` on the page) becomes the
    owner of the site and its gateways from now, in one transaction under row locks.

    Active dealer links end (名義変更), the seller's viewers end, open setting commands
    expire; the history floor (``Gateway.owner_since``) is set; both sides are mailed."""
    found = find_open_transfer(buyer=buyer, code=code, client_address=client_address, now=now)
    return _claim(
        transfer_pk=found.pk,
        buyer=buyer,
        terms=terms,
        client_address=client_address,
        now=now or timezone.now(),
    )


def _claim(
    *,
    transfer_pk: int,
    buyer: User,
    terms: list[TermsVersion],
    client_address: str | None,
    now: datetime,
) -> OwnershipTransfer:
    """The claim itself, under the row locks (see ``claim_transfer``); a transfer no longer
    open raises the one message, and nothing of it stays."""
    with transaction.atomic():
        transfer = OwnershipTransfer.objects.select_for_update().get(pk=transfer_pk)
        if not transfer.is_open(now):  # a claim raced this one and won
            raise TransferError(WRONG_CODE, field="code")
        site = (
            Site.objects.select_for_update().filter(pk=transfer.site_id).first()
            if transfer.site_id is not None
            else None
        )
        if site is None or site.owner_id != transfer.from_owner_id:
            raise TransferError(WRONG_CODE, field="code")
        seller = transfer.from_owner
        gateways = list(
            Gateway.objects.select_for_update()
            .filter(site=site, owner_id=site.owner_id, state=Gateway.State.CLAIMED)
            .order_by("pk")
        )
        if not gateways:
            raise TransferError(WRONG_CODE, field="code")
        TransferredGateway.objects.bulk_create(
            TransferredGateway(
                transfer=transfer,
                gateway=gw,
                gateway_code=gw.gateway_id,
                previous_since=gw.owner_since,
            )
            for gw in gateways
        )
        Gateway.objects.filter(pk__in=[gw.pk for gw in gateways]).update(
            owner=buyer, owner_since=now
        )
        Site.objects.filter(pk=site.pk).update(owner=buyer)
        ended = _end_links(gateways=gateways, seller=seller, buyer=buyer, now=now)
        SiteViewer.objects.filter(gateway__in=gateways, revoked_at__isnull=True).update(
            revoked_at=now
        )
        for gw in gateways:
            expire_open_commands(gateway=gw, now=now)
        agree_to_terms(
            user=buyer,
            terms=terms,
            context=TermsAcceptance.Context.TRANSFER,
            client_address=client_address,
        )
        transfer.claimed_at, transfer.claimed_by, transfer.to_owner = now, buyer, buyer
        transfer.save(update_fields=["claimed_at", "claimed_by", "to_owner"])
        gateway_ids = [gw.gateway_id for gw in gateways]
        context = {"transfer": transfer, "gateway_ids": gateway_ids, "site": site}
        if seller is not None and seller.is_active:
            queue_mail(
                recipient=seller.email,
                kind="transfer_completed_seller",
                context={**context, "customer": seller, "links_ended": len(ended)},
            )
        queue_mail(
            recipient=buyer.email,
            kind="transfer_completed_buyer",
            context={**context, "customer": buyer, "links_ended": len(ended)},
        )
    return transfer


def _end_links(
    *, gateways: list[Gateway], seller: User | None, buyer: User, now: datetime
) -> list[DealerLink]:
    """The seller's dealers: links kept as history, ended by the claim, each dealer mailed
    once with the gateways it no longer maintains."""
    links = list(
        DealerLink.objects.select_for_update()
        .filter(gateway__in=gateways, ended_at__isnull=True)
        .select_related("dealer__user", "gateway")
        .order_by("pk")
    )
    if not links:
        return []
    DealerLink.objects.filter(pk__in=[link.pk for link in links]).update(
        ended_at=now, ended_by=buyer, end_reason=LINK_END_REASON
    )
    for link in links:
        link.ended_at, link.ended_by, link.end_reason = now, buyer, LINK_END_REASON
        # told as the seller's: the buyer never entrusted these dealers
        dealer_signals.link_ended.send(
            sender=DealerLink, link=link, owner=seller, reason="transfer"
        )
    by_dealer: dict[int, list[DealerLink]] = {}
    for link in links:
        by_dealer.setdefault(link.dealer_id, []).append(link)
    for dealer_links in by_dealer.values():
        dealer = dealer_links[0].dealer
        gateway_ids = [link.gateway.gateway_id for link in dealer_links]
        for address in sorted({dealer.user.email, *alert_recipients(dealer=dealer)}):
            queue_mail(
                recipient=address,
                kind="dealer_link_ended_transfer",
                context={"dealer": dealer, "gateway_ids": gateway_ids},
            )
    return links
