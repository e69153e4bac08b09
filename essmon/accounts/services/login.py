"""The login limits: failures counted per client address and per typed ID, and the lock
of an account with its unlock link."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from essmon.accounts import selectors
from essmon.accounts.models import AccountToken, User
from essmon.accounts.services.errors import LINK_INVALID, AccountError
from essmon.accounts.services.links import end_pending_links, mail_link
from essmon.core import throttle

HOUR = timedelta(hours=1)

LOGIN_FAILED = "メールアドレスまたはパスワードが正しくありません。"
LOGIN_THROTTLED = (
    "ログインの失敗が続いたため、しばらくログインできません。時間をおいてお試しください。"
)
LOGIN_LOCKED = "ログインの失敗が続いたため、このユーザIDはロックされています。"
LOGIN_LOCKED_WAY_BACK = (
    "ロックは{hours}時間たつと自動的に解除されます。"
    "アカウントをお持ちの場合は、登録メールアドレスにお送りしたロック解除のURLを開くか、"
    "パスワードを再設定すると、すぐにログインできます。"
)


def login_lock_period() -> timedelta:
    return timedelta(hours=settings.LOGIN_LOCK_HOURS)


def login_locked_message() -> str:
    return LOGIN_LOCKED + LOGIN_LOCKED_WAY_BACK.format(hours=settings.LOGIN_LOCK_HOURS)


class LoginRefused(Exception):
    """The login was not even checked (locked, or too many failures from the address)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _login_id_key(email: str) -> str:
    return f"login:id:{hashlib.sha256(email.encode()).hexdigest()[:40]}"


def _locked(email: str, account: User | None, *, count_failure: bool) -> bool:
    """Whether the typed ID is locked, after counting a failure if asked.

    One rule for every typed ID, with an account or not, so that nothing seen from outside
    (the lock, how long it lasts, which failures count) tells who has an account: failures
    are counted under the typed ID for a lock period from the first of them; the one that
    reaches the limit locks the ID for a whole lock period. An account's lock is kept on
    the account (``locked_at``: the unlock link, a password reset or an operator clear it);
    an ID without an account keeps it in its counter.
    """
    key, period = _login_id_key(email), login_lock_period()
    limit = settings.LOGIN_FAILURES_PER_ACCOUNT
    if account is not None and account.is_locked:
        return True
    if not count_failure:
        return throttle.spent(key=key, limit=limit, window=period)
    if not throttle.take(keys=[key], limit=limit, window=period):
        return True  # spent already (a failure sent in parallel locked it)
    count = throttle.hits(key=key, window=period)
    if account is not None:
        User.objects.filter(pk=account.pk).update(failed_logins=count)
    if count < limit:
        return False
    if account is None:
        throttle.restart_window(key=key)
    else:
        _lock_account(account_id=account.pk)
        throttle.reset(key=key)
    return True


def guard_login(
    *, email: str, client_address: str, check: Callable[[], User | None]
) -> User | None:
    """Every login, whatever the page (called by the authentication backend): ``check``
    compares the password; the user, None for a wrong pair, or LoginRefused.

    A try is counted per client address before the check and handed back when right.
    Wrong passwords in a row lock an active account (its owner is mailed an unlock link);
    a locked account is refused even with the right password.
    """
    per_address = throttle.Allowance(
        f"login:addr:{throttle.address_key(client_address)}",
        settings.LOGIN_FAILURES_PER_ADDRESS_PER_HOUR,
        HOUR,
    )
    if throttle.take_each([per_address]) is not None:
        raise LoginRefused(LOGIN_THROTTLED)
    account = selectors.active_accounts(email=email).first()
    if _locked(email, account, count_failure=False):
        raise LoginRefused(login_locked_message())
    user = check()
    if user is None:
        if _locked(email, account, count_failure=True):
            raise LoginRefused(login_locked_message())
        return None
    throttle.give_back(keys=[per_address.key])
    throttle.reset(key=_login_id_key(email))
    if user.failed_logins:
        User.objects.filter(pk=user.pk).update(failed_logins=0)
    return user


def _lock_account(*, account_id: int) -> None:
    """Lock the account now, for a lock period, and mail its owner the quick way back."""
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=account_id)
        if user.is_locked:
            return  # a failure sent in parallel locked it and mailed the link
        user.locked_at = timezone.now()
        user.save(update_fields=["locked_at"])
        mail_link(
            user=user,
            purpose=AccountToken.Purpose.UNLOCK,
            # once the lock lifts by itself the link has nothing left to do
            lifetime=login_lock_period(),
            kind="account_locked",
        )


def unlock_account(*, token: AccountToken | None) -> User:
    if token is None or not token.is_usable() or token.purpose != AccountToken.Purpose.UNLOCK:
        raise AccountError(LINK_INVALID)
    with transaction.atomic():
        AccountToken.objects.filter(pk=token.pk).update(used_at=timezone.now())
        User.objects.filter(pk=token.user_id).update(locked_at=None, failed_logins=0)
    user = User.objects.get(pk=token.user_id)
    throttle.reset(key=_login_id_key(user.email))
    return user


NOT_LOCKED = "このアカウントはロックされていません。"


def unlock_account_for_operator(*, user: User) -> User:
    """The unlock link's effect, done by an operator at the support desk (who records why):
    the lock and the failure count cleared, the counter under the ID reset, and the mailed
    unlock link, with nothing left to do, ended."""
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        if not locked.is_locked and not throttle.spent(
            key=_login_id_key(locked.email),
            limit=settings.LOGIN_FAILURES_PER_ACCOUNT,
            window=login_lock_period(),
        ):
            raise AccountError(NOT_LOCKED)
        User.objects.filter(pk=user.pk).update(locked_at=None, failed_logins=0)
        AccountToken.objects.filter(
            user=user, purpose=AccountToken.Purpose.UNLOCK, used_at__isnull=True
        ).update(expires_at=timezone.now())
    throttle.reset(key=_login_id_key(locked.email))
    return User.objects.get(pk=user.pk)


def clear_lock_after_password_reset(*, user: User) -> None:
    User.objects.filter(pk=user.pk).update(locked_at=None, failed_logins=0)
    throttle.reset(key=_login_id_key(user.email))
    end_pending_links(user=user)
