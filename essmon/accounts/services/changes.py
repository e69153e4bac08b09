"""Changes a person makes to its own account: お客様情報, mail address, password."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from essmon.accounts import selectors, signals
from essmon.accounts.models import AccountToken, User
from essmon.accounts.services.errors import LINK_INVALID, AccountError
from essmon.accounts.services.inputs import PROFILE_FIELDS, Person
from essmon.accounts.services.links import end_pending_links, mail_link
from essmon.notifications.services import allow_mail_to_typed_address, queue_mail


def update_profile(*, user: User, person: Person) -> User:
    for field in PROFILE_FIELDS:
        setattr(user, field, getattr(person, field))
    user.save(update_fields=list(PROFILE_FIELDS))
    return user


def change_password(*, user: User, new_password: str) -> None:
    """(The caller has checked the current password.) The session that changed it stays
    logged in only if the caller refreshes its hash."""
    user.set_password(new_password)
    user.save(update_fields=["password"])
    end_pending_links(user=user)


def request_email_change(*, user: User, new_email: str, client_address: str) -> None:
    """Mail a confirmation link to the new address; nothing changes until it is clicked.
    (The caller has checked the current password.)"""
    if new_email == user.email:
        raise AccountError("現在のメールアドレスと同じです。", field="email")
    signals.email_change_checked.send(sender=User, user=user, new_email=new_email)
    allow_mail_to_typed_address(
        recipient=new_email, client_address=client_address, account_id=user.pk
    )
    with transaction.atomic():
        other = selectors.email_taken(new_email)
        if other is not None and other.pk != user.pk:
            # Do not reveal the other account: tell that address's owner instead.
            queue_mail(recipient=other.email, kind="email_change_conflict", context={"user": other})
            return
        mail_link(
            user=user,
            purpose=AccountToken.Purpose.EMAIL_CHANGE,
            lifetime=timedelta(hours=settings.EMAIL_CHANGE_HOURS),
            kind="email_change_confirm",
            new_email=new_email,
        )


def confirm_email_change(*, token: AccountToken | None) -> User:
    if token is None or token.purpose != AccountToken.Purpose.EMAIL_CHANGE or not token.is_usable():
        raise AccountError(LINK_INVALID)
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=token.user_id)
        other = selectors.email_taken(token.new_email)
        if other is not None and other.pk != user.pk:
            raise AccountError("このメールアドレスは使用できません。別のアドレスでお試しください。")
        signals.email_change_checked.send(sender=User, user=user, new_email=token.new_email)
        old_email = user.email
        user.email = token.new_email
        user.save(update_fields=["email"])
        # the link just proved the new address: a dealer's person in charge keeps receiving
        # the dealer's mails there (essmon/dealers/receivers.py)
        signals.email_changed.send(sender=User, user=user, old_email=old_email)
        AccountToken.objects.filter(pk=token.pk).update(used_at=timezone.now())
        queue_mail(
            recipient=old_email,
            kind="email_changed_notice",
            context={"user": user, "old_email": old_email},
        )
    return user
