"""保守紐付け: the customer names a dealer, consents to share the listed data, and links
or unlinks it; the dealer is mailed either way."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from essmon.accounts.models import User
from essmon.core import throttle
from essmon.core.japanese import InputError, normalize_phone
from essmon.dealers import signals
from essmon.dealers.disclosure import (
    CONSENT_TEXT,
    RECORDED_ACTIVITIES,
    SHARED_ITEMS,
    record_retention_text,
)
from essmon.dealers.models import (
    MAX_DEALERS_PER_GATEWAY,
    Dealer,
    DealerLink,
    ProvisionRecord,
)
from essmon.dealers.selectors import alert_recipients
from essmon.dealers.services.errors import DealerError
from essmon.gateways.models import Gateway
from essmon.notifications.services import MailLimitError, allow_mail_to_typed_address, queue_mail

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)

WRONG_PAIR = "販売店IDまたは電話番号が正しくありません。販売店様にご確認ください。"
TOO_MANY_PAIRS = (
    "販売店IDと電話番号の誤りが続いたため、確認を一時停止しています。"
    "1時間ほどおいてから再度お試しください。"
)
ALREADY_LINKED = (
    "この販売店様は、このゲートウェイの保守を任せる販売店様としてすでに登録されています。"
)
LINKS_FULL = (
    f"保守を任せる販売店様は、1台のゲートウェイにつき{MAX_DEALERS_PER_GATEWAY}社まで登録できます。"
    "ほかの販売店様を解除してから登録してください。"
)


def find_dealer(*, customer: User, dealer_code: str, phone: str) -> Dealer:
    """The dealer these 販売店ID and phone number name, or one message for any mismatch
    (nothing tells which part was wrong); ten misses an hour pause the customer."""
    keys = [f"dealer-pair:user:{customer.pk}"]
    if not throttle.take(keys=keys, limit=10, window=HOUR):
        raise DealerError(TOO_MANY_PAIRS)
    try:
        normalized = normalize_phone(phone)
    except InputError:
        normalized = None
    dealer = (
        Dealer.objects.select_related("user")
        .filter(dealer_code=dealer_code.strip().upper(), user__is_active=True)
        .first()
    )
    if dealer is None or normalized is None or dealer.user.phone != normalized:
        raise DealerError(WRONG_PAIR)  # the try taken above stays counted
    throttle.give_back(keys=keys)
    return dealer


def check_can_link(*, gateway: Gateway, dealer: Dealer) -> None:
    active = gateway.dealer_links.filter(ended_at__isnull=True)
    if active.filter(dealer=dealer).exists():
        raise DealerError(ALREADY_LINKED)
    if active.count() >= MAX_DEALERS_PER_GATEWAY:
        raise DealerError(LINKS_FULL)


PAIR_NOTICES_HELD_BACK = (
    "この販売店様の登録と解除が続いたため、この販売店様へのお知らせメールを控えており、"
    "しばらく登録できません。24時間ほどおいてから再度お試しください。"
)
DEALER_NOTICES_HELD_BACK = (
    "この販売店様には短い間に多くのお知らせメールをお送りしているため、しばらく登録できません。"
    "24時間ほどおいてから再度お試しください。"
)


def allow_link_notices(*, customer: User, dealer: Dealer, client_address: str | None) -> None:
    """The mail rule for typed addresses, for the notices of a link and of its unlink: the
    dealer is the one a typed 販売店ID and phone number named, and each notice carries the
    customer's own free text (お客様名, 案件名). So a link is counted per customer and
    dealer, per dealer, per customer and per client address; over any of them the link is
    refused before anything is made. The unlink is never refused (taking back consent to
    share data cannot wait) and needs no count of its own: each one ends a counted link,
    so it mails at most once per counted link.
    """
    pair = f"dealer-link:pair:{customer.pk}:{dealer.pk}"
    if not throttle.take(
        keys=[pair], limit=settings.DEALER_LINKS_PER_CUSTOMER_AND_DEALER_PER_DAY, window=DAY
    ):
        raise DealerError(PAIR_NOTICES_HELD_BACK)
    try:
        allow_mail_to_typed_address(
            recipient=dealer.user.email,
            client_address=client_address,
            account_id=customer.pk,
            flow="dealer-link",
            per_recipient_per_day=settings.DEALER_LINKS_PER_DEALER_PER_DAY,
        )
    except MailLimitError as exc:
        throttle.give_back(keys=[pair])
        raise DealerError(DEALER_NOTICES_HELD_BACK if exc.field else exc.message) from exc


def link_dealer(
    *, customer: User, gateway: Gateway, dealer: Dealer, client_address: str | None = None
) -> DealerLink:
    """保守を任せる販売店様の登録, on the customer's consent to share the listed data.

    The gateway row is locked so that two links racing for the fifth place are counted
    one after the other; the partial unique constraint stops a pair linked twice. The
    notice mails are counted first (``allow_link_notices``); ``client_address`` is the
    request's, None when no request is behind the call.
    """
    check_can_link(gateway=gateway, dealer=dealer)  # a link that cannot be made counts nothing
    allow_link_notices(customer=customer, dealer=dealer, client_address=client_address)
    with transaction.atomic():
        gateway = Gateway.objects.select_for_update().get(pk=gateway.pk, owner=customer)
        check_can_link(gateway=gateway, dealer=dealer)
        now = timezone.now()
        try:
            with transaction.atomic():
                link = DealerLink.objects.create(
                    gateway=gateway, dealer=dealer, created_by=customer, created_at=now
                )
        except IntegrityError as exc:
            raise DealerError(ALREADY_LINKED) from exc
        ProvisionRecord.objects.create(
            link=link,
            customer=customer,
            dealer=dealer,
            gateway_code=gateway.gateway_id,
            customer_name=customer.name,
            data_items="、".join(label for _, label in SHARED_ITEMS),
            consented_at=now,
            consent_text=CONSENT_TEXT,
        )
        _mail_dealer(
            dealer,
            "dealer_linked",
            {
                "gateway": gateway,
                "customer": customer,
                "recorded_activities": RECORDED_ACTIVITIES,
                "record_retention": record_retention_text(),
            },
        )
        signals.link_added.send(sender=DealerLink, link=link)
    return link


def unlink_dealer(*, customer: User, gateway: Gateway, dealer: Dealer) -> DealerLink:
    """保守を任せている販売店様の解除: effective on the dealer's very next request."""
    with transaction.atomic():
        link = (
            DealerLink.objects.select_for_update()
            .filter(gateway=gateway, gateway__owner=customer, dealer=dealer, ended_at__isnull=True)
            .first()
        )
        if link is None:
            raise DealerError("この販売店様は、このゲートウェイの保守を任されていません。")
        link.ended_at, link.ended_by = timezone.now(), customer
        link.save(update_fields=["ended_at", "ended_by"])
        _mail_dealer(dealer, "dealer_unlinked", {"gateway": gateway, "customer": customer})
        signals.link_ended.send(sender=DealerLink, link=link, owner=customer, reason="unlinked")
    return link


def _mail_dealer(dealer: Dealer, kind: str, context: dict[str, Any]) -> None:
    recipients = {dealer.user.email, *alert_recipients(dealer=dealer)}
    for address in sorted(recipients):
        queue_mail(recipient=address, kind=kind, context={"dealer": dealer, **context})
