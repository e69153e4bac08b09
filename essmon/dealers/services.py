"""Dealer workflows: registration, maintenance staff, and the customers' maintenance links."""

from __future__ import annotations

import logging
import secrets
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, QuerySet, Value
from django.db.models.functions import Greatest
from django.utils import timezone

from essmon.accounts.models import TermsVersion, User
from essmon.accounts.selectors import email_taken
from essmon.accounts.services.errors import AccountError
from essmon.accounts.services.inputs import PERSON_FIELDS, Person
from essmon.accounts.services.registration import (
    begin_activation,
    create_provisional_user,
    notify_existing_account,
)
from essmon.accounts.tokens import hash_token
from essmon.core import throttle
from essmon.core.japanese import InputError, normalize_phone
from essmon.dealers.models import (
    MAX_DEALERS_PER_GATEWAY,
    MAX_STAFF_PER_DEALER,
    Dealer,
    DealerAccess,
    DealerLink,
    MaintenanceStaff,
    ProvisionRecord,
)
from essmon.gateways.models import Gateway
from essmon.notifications.services import (
    MailLimitError,
    allow_mail_to_typed_address,
    queue_mail,
)

logger = logging.getLogger(__name__)

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
STAFF_LINK_LIFETIME = timedelta(days=7)

# The customer's data a linked dealer may see (the access policy shows exactly these).
SHARED_ITEMS: tuple[tuple[str, str], ...] = (
    ("name", "氏名"),
    ("furigana", "フリガナ"),
    ("company_name", "法人名"),
    ("department", "部署名"),
    ("address", "住所"),
    ("phone", "電話番号"),
    ("email", "メールアドレス"),
    ("site", "案件名・設置先住所"),
    ("system", "システムの状態と設定"),
)
# What the customer agrees to: the screen shows the lead, the items as a list (once), and
# the tail; the provision record keeps the same words in one line (CONSENT_TEXT).
CONSENT_LEAD = (
    "保守を任せる販売店様に、このゲートウェイについて次の情報を提供し、販売店様が"
    "システムの状態確認と設定変更を行うことに同意します: "
)
CONSENT_TAIL = "提供は紐付けを解除するまで続き、解除はいつでもできます。"
CONSENT_TEXT = CONSENT_LEAD + "、".join(label for _, label in SHARED_ITEMS) + "。" + CONSENT_TAIL


# What 販売店様による閲覧・変更の記録 holds, in the words of the consent screen and the
# dealer's link mail (「販売店様が…」「貴社が…」): every kind of DealerAccess.Action. Every
# page of the monitoring site under /monitoring/<gateway_id>/ is recorded (a test holds
# each URL to it), so 「このシステムのモニタリングサイトの画面」 is all of them.
def recorded_activities(system: str = "このシステム") -> str:
    return (
        f"{system}のモニタリングサイトの画面やお客様情報を表示したこと、履歴のCSVや"
        "保証書(PDF)を取得したこと、設定や系統連系日・受取日を変更したこと、"
        "異常を確認済みにしたこと"
    )


RECORDED_ACTIVITIES = recorded_activities()
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


class DealerError(AccountError):
    """A refusal about dealers, with a message for people."""


def new_dealer_code() -> str:
    while True:
        code = f"D{secrets.randbelow(10**7):07d}"
        if not Dealer.objects.filter(dealer_code=code).exists():
            return code


def register_dealer(
    *, person: Person, company_name: str, branch: str, terms: TermsVersion, client_address: str
) -> None:
    """販売店様の登録: a provisional dealer account, its person in charge as the first
    保守担当者 (confirmed by the activation link), and the 仮登録メール.

    The address is typed by an anonymous visitor and not yet confirmed: the mail limits
    apply, and the mail carries nothing the visitor wrote (names, 販売店名)."""
    allow_mail_to_typed_address(recipient=person.email, client_address=client_address)
    with transaction.atomic():
        existing = email_taken(person.email)
        if existing is not None:
            notify_existing_account(existing)
            return
        user = create_provisional_user(person=person, role=User.Role.DEALER)
        dealer = Dealer.objects.create(
            user=user, dealer_code=new_dealer_code(), company_name=company_name, branch=branch
        )
        MaintenanceStaff.objects.create(dealer=dealer, name=person.name, email=person.email)
        begin_activation(
            user=user,
            terms=terms,
            client_address=client_address,
            kind="dealer_provisional_registration",
        )


def confirm_person_in_charge(*, user: User) -> None:
    """Called on activation: the activation link proved the person in charge's address."""
    MaintenanceStaff.objects.filter(dealer__user=user, email=user.email).update(
        confirmed_at=timezone.now()
    )


def update_dealer_profile(
    *, dealer: Dealer, person: Person, company_name: str, branch: str
) -> None:
    with transaction.atomic():
        user = dealer.user
        for field in PERSON_FIELDS:
            setattr(user, field, getattr(person, field))
        user.save(update_fields=list(PERSON_FIELDS))
        dealer.company_name, dealer.branch = company_name, branch
        dealer.save(update_fields=["company_name", "branch"])


# --- 保守担当者 ------------------------------------------------------------------------


def add_staff(*, dealer: Dealer, name: str, email: str, client_address: str) -> MaintenanceStaff:
    """Add a 保守担当者 and mail the address a confirmation link; no alert mail goes to it
    until the link is opened. Removing and adding again mails again, so the limits of
    every mail to a typed address apply (MailLimitError)."""
    with transaction.atomic():
        Dealer.objects.select_for_update().get(pk=dealer.pk)
        if dealer.staff.count() >= MAX_STAFF_PER_DEALER:
            raise DealerError(f"保守担当者は{MAX_STAFF_PER_DEALER}名まで登録できます。")
        if dealer.staff.filter(email__iexact=email).exists():
            raise DealerError("このメールアドレスはすでに登録されています。", field="email")
        allow_mail_to_typed_address(
            recipient=email, client_address=client_address, account_id=dealer.user_id
        )
        raw = secrets.token_urlsafe(32)
        try:
            staff = MaintenanceStaff.objects.create(
                dealer=dealer,
                name=name,
                email=email,
                token_hash=hash_token(raw),
                token_expires_at=timezone.now() + STAFF_LINK_LIFETIME,
            )
        except IntegrityError as exc:
            raise DealerError(
                "このメールアドレスはすでに登録されています。", field="email"
            ) from exc
        queue_mail(
            recipient=email,
            kind="staff_confirm",
            context={
                "dealer": dealer,
                "staff": staff,
                "token": raw,
                "expires_at": staff.token_expires_at,
            },
        )
    return staff


def confirm_staff(*, raw_token: str) -> MaintenanceStaff:
    """Confirm a 保守担当者's address. Opening the link again just shows it confirmed (the
    hash is kept for that; the link can do nothing else)."""
    staff = (
        MaintenanceStaff.objects.select_related("dealer")
        .filter(token_hash=hash_token(raw_token or ""))
        .exclude(token_hash="")
        .first()
    )
    if staff is not None and staff.confirmed_at is not None:
        return staff
    if staff is None or staff.token_expires_at is None or staff.token_expires_at <= timezone.now():
        raise DealerError(
            "このURLは無効か、有効期限が切れています。販売店様に再登録をご依頼ください。"
        )
    MaintenanceStaff.objects.filter(pk=staff.pk).update(confirmed_at=timezone.now())
    staff.refresh_from_db()
    return staff


def remove_staff(*, dealer: Dealer, staff_id: int) -> None:
    with transaction.atomic():
        Dealer.objects.select_for_update().get(pk=dealer.pk)
        staff = dealer.staff.filter(pk=staff_id).first()
        if staff is None:
            raise DealerError("その保守担当者は登録されていません。")
        others_confirmed = dealer.staff.exclude(pk=staff.pk).filter(confirmed_at__isnull=False)
        if not others_confirmed.exists():
            raise DealerError(
                "確認済みの保守担当者は1名以上必要です。先にほかの担当者を登録し、確認を済ませてください。"
            )
        staff.delete()


def alert_recipients(*, dealer: Dealer) -> list[str]:
    """Confirmed 保守担当者 addresses: the only ones that receive mail about systems."""
    return list(dealer.staff.filter(confirmed_at__isnull=False).values_list("email", flat=True))


def maintenance_staff(*, gateway: Gateway) -> QuerySet[MaintenanceStaff]:
    """The confirmed 保守担当者 of every dealer linked to ``gateway`` now, whose account is
    active: who is mailed about the system (alerts, warranty warnings)."""
    return MaintenanceStaff.objects.filter(
        dealer__links__gateway=gateway,
        dealer__links__ended_at__isnull=True,
        dealer__user__is_active=True,
        confirmed_at__isnull=False,
    )


def acting_as(user: User | None) -> tuple[str, Dealer | None]:
    """Who did something, in the words the audit logs show, written down when it happens so
    that it still reads right after a rename or an unlink: the customer, which dealer and
    which of its people, the operator, or the system; and the dealer, when it was one."""
    if user is None:
        return "システム", None
    if user.role == User.Role.DEALER:
        dealer = Dealer.objects.filter(user=user).first()
        if dealer is not None:
            branch = f" {dealer.branch}" if dealer.branch else ""
            return f"販売店 {dealer.company_name}{branch}({user.name})", dealer
    if user.role == User.Role.CUSTOMER:
        return f"お客様({user.name})", None
    return f"運営({user.name})", None


# --- 保守紐付け -------------------------------------------------------------------------


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
    return link


def _mail_dealer(dealer: Dealer, kind: str, context: dict[str, Any]) -> None:
    recipients = {dealer.user.email, *alert_recipients(dealer=dealer)}
    for address in sorted(recipients):
        queue_mail(recipient=address, kind=kind, context={"dealer": dealer, **context})


# --- 販売店様による閲覧・変更の記録 -------------------------------------------------------

# Views of one page by one person within this long of the row's first view are one row.
ACCESS_COLLAPSE_WINDOW = HOUR
DETAIL_MAX = 1000  # a change's 内容 (an alert comment is at most 500 characters)


def record_view(
    *,
    user: User,
    gateway: Gateway,
    action: str,
    detail: str = "",
    refresh: bool = False,
    now: datetime | None = None,
) -> None:
    """A page of ``gateway`` shown to ``user``: recorded for the owner when ``user`` is a
    dealer's person (a customer's or an operator's view is not a dealer's, and is not).

    Views of the same page (``action`` and ``detail``) by the same person within
    ACCESS_COLLAPSE_WINDOW of a row's first view add to that row's count; ``refresh`` is a
    page refreshing itself (htmx polling), which only makes sure a row of the last hour
    exists: a page left open stays on record once an hour, and no poll adds a row or a count.

    Never raises: a failure to record is logged and the page is shown all the same (its
    own savepoint, so a surrounding transaction goes on)."""
    if not user.is_authenticated or user.role != User.Role.DEALER:
        return
    try:
        with transaction.atomic():
            dealer = Dealer.objects.filter(user=user).first()
            if dealer is None:
                return
            _collapse_view(
                dealer=dealer,
                user=user,
                gateway=gateway,
                action=action,
                detail=detail[:DETAIL_MAX],
                refresh=refresh,
                now=now or timezone.now(),
            )
    except Exception:
        logger.exception(
            "could not record a dealer view: user %s gateway %s %s", user.pk, gateway.pk, action
        )


def _collapse_view(
    *,
    dealer: Dealer,
    user: User,
    gateway: Gateway,
    action: str,
    detail: str,
    refresh: bool,
    now: datetime,
) -> None:
    open_row = (
        DealerAccess.objects.filter(
            gateway=gateway,
            dealer=dealer,
            user=user,
            action=action,
            detail=detail,
            at__gt=now - ACCESS_COLLAPSE_WINDOW,
        )
        .order_by("-at", "-pk")
        .values_list("pk", flat=True)
        .first()
    )
    if open_row is not None:
        if not refresh:
            # F(): two requests at once both count; the later time wins
            DealerAccess.objects.filter(pk=open_row).update(
                count=F("count") + 1, last_at=Greatest(F("last_at"), Value(now))
            )
        return
    DealerAccess.objects.create(
        gateway=gateway,
        dealer=dealer,
        user=user,
        actor_name=user.name,
        action=action,
        at=now,
        last_at=now,
        detail=detail,
    )


def record_change(
    *,
    user: User | None,
    gateway: Gateway,
    action: str,
    detail: str,
    now: datetime | None = None,
) -> DealerAccess | None:
    """A change a dealer's person made to ``gateway`` (setting, date, acknowledgement):
    always a row of its own, saying what changed. Call it inside the change's transaction,
    so that the change and its record are kept together or not at all; a failure here
    fails the change. Nothing for a customer's or operator's change (their own logs show
    those: 設定の変更履歴, the warranty's 変更履歴, the alert's 確認者)."""
    if user is None or user.role != User.Role.DEALER:
        return None
    dealer = Dealer.objects.filter(user=user).first()
    if dealer is None:
        return None
    now = now or timezone.now()
    return DealerAccess.objects.create(
        gateway=gateway,
        dealer=dealer,
        user=user,
        actor_name=user.name,
        action=action,
        at=now,
        last_at=now,
        detail=detail[:DETAIL_MAX],
    )


def record_retention_text() -> str:
    """How long the records are kept, as the screens and mails say it (「3年間」)."""
    days = settings.DEALER_RECORD_RETENTION_DAYS
    return f"{days // 365}年間" if days % 365 == 0 else f"{days}日間"


def purge_dealer_records(now: datetime | None = None) -> int:
    """Periodic job: records whose last time is older than
    ESSMON_DEALER_RECORD_RETENTION_DAYS go. Returns how many."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.DEALER_RECORD_RETENTION_DAYS)
    deleted, _ = DealerAccess.objects.filter(last_at__lt=cutoff).delete()
    return deleted


def gateway_records(gateway: Gateway) -> QuerySet[DealerAccess]:
    """販売店様による閲覧・変更の記録 of one gateway, newest first."""
    return DealerAccess.objects.filter(gateway=gateway).select_related("dealer")
