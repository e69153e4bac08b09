"""保守担当者: added by the dealer, confirmed by a mailed link, removed."""

from __future__ import annotations

import secrets
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from essmon.accounts.tokens import hash_token
from essmon.dealers.models import MAX_STAFF_PER_DEALER, Dealer, MaintenanceStaff
from essmon.dealers.services.errors import DealerError
from essmon.dealers.services.staff_logins import end_login_of_removed
from essmon.notifications.services import allow_mail_to_typed_address, queue_mail

STAFF_LINK_LIFETIME = timedelta(days=7)


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
        end_login_of_removed(staff=staff)  # no login outlives its staff row
        staff.delete()
