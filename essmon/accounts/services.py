"""Account workflows: registration, activation, login limits, account changes."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models.functions import Lower
from django.utils import timezone

from essmon.accounts import signals
from essmon.accounts.models import AccountToken, TermsAcceptance, TermsVersion, User
from essmon.accounts.tokens import issue_token
from essmon.core import throttle
from essmon.core.japanese import normalize_phone
from essmon.gateways.models import Gateway
from essmon.gateways.services import claims, sites
from essmon.notifications.services import allow_mail_to_typed_address, queue_mail

logger = logging.getLogger(__name__)
HOUR = timedelta(hours=1)


class AccountError(Exception):
    """A refusal with a message for people; ``field`` names the form field it belongs to."""

    def __init__(
        self, message: str, *, field: str | None = None, messages: list[str] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        # one message per problem where there are several (a refused password)
        self.messages = messages or [message]


def current_terms(audience: str = TermsVersion.Audience.CUSTOMER) -> TermsVersion:
    """The terms in force for ``audience`` (customers, or dealers: ``User.role``)."""
    terms = TermsVersion.objects.filter(audience=audience, published_at__lte=timezone.now()).first()
    if terms is None:
        raise RuntimeError("no published terms of use: run migrations")
    return terms


def record_terms_acceptance(
    *, user: User, terms: TermsVersion, context: str, client_address: str | None
) -> TermsAcceptance:
    return TermsAcceptance.objects.create(
        user=user, terms=terms, context=context, client_address=_ip_or_none(client_address)
    )


def _ip_or_none(value: str | None) -> str | None:
    import ipaddress

    try:
        return str(ipaddress.ip_address(value or ""))
    except ValueError:
        return None


def email_taken(email: str) -> User | None:
    return User.objects.annotate(email_ci=Lower("email")).filter(email_ci=email.lower()).first()


@dataclass(frozen=True)
class Person:
    name: str
    furigana: str
    email: str
    postal_code: str
    prefecture: str
    city: str
    address_rest: str
    phone: str
    company_name: str = ""
    department: str = ""


@dataclass(frozen=True)
class SiteInput:
    name: str
    postal_code: str
    prefecture: str
    address_rest: str
    city: str = ""  # blank only where no form asked for it


def register_customer(
    *,
    person: Person,
    gateway_id: str,
    site: SiteInput,
    terms: TermsVersion,
    client_address: str,
    gateway_password: str | None = None,
    verified: dict[str, object] | None = None,
    grid_connection_date: date | None = None,
    received_date: date | None = None,
) -> None:
    """お客様情報の登録: a provisional account holding its gateway, and the 仮登録メール.

    A mail address that already has an account must look, from outside, exactly like a
    new one, or a registration would tell anyone holding a sheet who has an account: the
    same page, the same mail limits, and the sheet's gateway 仮登録中 for just as long.
    So the gateway is held all the same, but without an owner: only reserved for that
    account, which alone may claim it (ゲートウェイの登録, with the sheet) until the hold
    lapses with the activation period. The account itself is not touched — its owner
    only gets a notice — so a stranger typing someone's address can neither attach a
    gateway or 案件 to their account nor void their open activation link.
    """
    # Checked outside the transaction: a wrong password's count must survive the error.
    # take_gateway below settles a race for the same gateway.
    gateway = claims.open_gateway(
        gateway_id=gateway_id,
        password=gateway_password,
        verified=verified,
        client_address=client_address,
    )
    allow_mail_to_typed_address(recipient=person.email, client_address=client_address)
    with transaction.atomic():
        existing = email_taken(person.email)
        if existing is not None:
            claims.reserve_gateway(gateway=gateway, for_user=existing)
            notify_existing_account(existing, reserved=gateway)
            return
        user = create_provisional_user(person=person, role=User.Role.CUSTOMER)
        new_site = sites.create_site(owner=user, **site.__dict__)
        claims.take_gateway(gateway=gateway, owner=user, site=new_site, hold=True)
        _record_warranty_dates(gateway, user, grid_connection_date, received_date)
        begin_activation(
            user=user, terms=terms, client_address=client_address, kind="provisional_registration"
        )


def _record_warranty_dates(
    gateway: Gateway, user: User, grid_connection_date: date | None, received_date: date | None
) -> None:
    # warranty builds on accounts: it records them (essmon/warranty/receivers.py)
    signals.registration_dates_typed.send(
        sender=User,
        gateway=gateway,
        user=user,
        grid_connection_date=grid_connection_date,
        received_date=received_date,
    )


PERSON_FIELDS = ("name", "furigana", "postal_code", "prefecture", "city", "address_rest", "phone")


def create_provisional_user(*, person: Person, role: str) -> User:
    """An account that cannot log in until its mailed activation link is used."""
    fields = {f: getattr(person, f) for f in PERSON_FIELDS}
    if role == User.Role.CUSTOMER:
        fields.update(company_name=person.company_name, department=person.department)
    return User.objects.create_user(person.email, role=role, is_active=False, **fields)


def begin_activation(*, user: User, terms: TermsVersion, client_address: str, kind: str) -> None:
    """Record the terms the person agreed to and mail the 仮登録メール (template ``kind``)."""
    record_terms_acceptance(
        user=user,
        terms=terms,
        context=TermsAcceptance.Context.REGISTRATION,
        client_address=client_address,
    )
    mail_link(
        user=user,
        purpose=AccountToken.Purpose.ACTIVATION,
        lifetime=timedelta(days=settings.ACTIVATION_DAYS),
        kind=kind,
    )


VOIDED_BY_PHONE = (
    "電話番号の誤りが続いたため、このURLは無効になりました。"
    "お手数ですが、お客様情報の登録からやり直してください。"
)
PHONE_MISMATCH = (
    "電話番号がご登録の番号と一致しません。アカウント申込時に入力した電話番号を入力してください。"
)


def mail_link(
    *,
    user: User,
    purpose: str,
    lifetime: timedelta,
    kind: str,
    new_email: str = "",
    supersede: bool = True,
    extra: dict[str, object] | None = None,
) -> AccountToken:
    """Mail a single-use link; with ``supersede``, earlier unused links of the same purpose
    stop working.

    The mail goes to ``new_email`` when given (confirming a new address), else to the user.
    """
    if supersede:
        AccountToken.objects.filter(user=user, purpose=purpose, used_at__isnull=True).update(
            expires_at=timezone.now()
        )
    raw, token = issue_token(user=user, purpose=purpose, lifetime=lifetime, new_email=new_email)
    queue_mail(
        recipient=new_email or user.email,
        kind=kind,
        context={
            **(extra or {}),
            "user": user,
            "token": raw,
            "expires_at": token.expires_at,
            "new_email": new_email,
        },
    )
    return token


def notify_existing_account(user: User, *, reserved: Gateway | None = None) -> None:
    """Someone registered with this address again (the mail limits were applied by the
    caller). A provisional account gets a fresh activation link; an active one a reminder
    to log in. ``reserved``: the gateway now held for the account, for it to claim."""
    context: dict[str, object] = {"user": user, "reserved": reserved}
    if reserved is not None:
        context["reserved_until"] = timezone.now() + timedelta(days=settings.ACTIVATION_DAYS)
    if user.is_provisional:
        # the person's open link keeps working: a stranger must not be able to void it
        mail_link(
            user=user,
            purpose=AccountToken.Purpose.ACTIVATION,
            lifetime=timedelta(days=settings.ACTIVATION_DAYS),
            kind="registration_existing_account",
            supersede=False,
            extra=context,
        )
    else:
        queue_mail(recipient=user.email, kind="registration_existing_account", context=context)


def usable_activation(token: AccountToken | None) -> AccountToken:
    if token is None or token.purpose != AccountToken.Purpose.ACTIVATION:
        raise AccountError(
            "このURLは無効です。メールに記載されたURLをもう一度ご確認いただくか、"
            "電話番号の誤りなどで取り消された場合は、お客様情報の登録からやり直してください。"
        )
    if token.used_at is not None:
        raise AccountError(
            "このURLはすでに使用されています。ログイン画面からログインしてください。"
        )
    if token.voided_at is not None:
        raise AccountError(VOIDED_BY_PHONE)
    if token.expires_at <= timezone.now():
        raise AccountError(
            "このURLの有効期限が切れています。お手数ですが、お客様情報の登録からやり直してください。"
        )
    return token


def _phone_matches(typed: str, registered: str) -> bool:
    try:
        return normalize_phone(typed) == registered
    except ValueError:
        return False


def activate_account(
    *, token: AccountToken, password: str, phone: str, terms: TermsVersion, client_address: str
) -> User:
    """本登録: set the password, check the registered phone number, claim the gateways.

    A wrong phone number is counted even though the call fails, so the count is
    committed before the error is raised; the fifth voids the link.
    """
    error: AccountError | None = None
    with transaction.atomic():
        token = usable_activation(
            AccountToken.objects.select_for_update()
            .select_related("user")
            .filter(pk=token.pk)
            .first()
        )
        user = token.user
        try:
            validate_password(password, user)
        except ValidationError as exc:
            raise AccountError(exc.messages[0], field="password", messages=exc.messages) from exc
        if not _phone_matches(phone, user.phone):
            token.failures += 1
            if token.failures >= settings.ACTIVATION_PHONE_FAILURES:
                token.voided_at = timezone.now()
                token.save(update_fields=["failures", "voided_at"])
                _discard_provisional(user)
                error = AccountError(VOIDED_BY_PHONE)
            else:
                token.save(update_fields=["failures"])
                error = AccountError(PHONE_MISMATCH, field="phone")
        else:
            now = timezone.now()
            user.set_password(password)
            user.is_active = True
            user.activated_at = now
            user.save(update_fields=["password", "is_active", "activated_at"])
            token.used_at = now
            token.save(update_fields=["used_at"])
            claims.confirm_held_gateways(owner=user)
            # dealers builds on accounts: a dealer's person in charge is confirmed there
            signals.account_activated.send(sender=User, user=user)
            record_terms_acceptance(
                user=user,
                terms=terms,
                context=TermsAcceptance.Context.ACTIVATION,
                client_address=client_address,
            )
    if error is not None:
        raise error
    return user


def _discard_provisional(user: User) -> None:
    """Delete a provisional account and give its gateways back to the unclaimed pool,
    without the warranty dates it typed."""
    # warranty builds on accounts: it forgets the dates (essmon/warranty/receivers.py)
    signals.provisional_discarded.send(
        sender=User, gateways=Gateway.objects.filter(owner=user, state=Gateway.State.HELD)
    )
    claims.release_held_gateways(owner=user)
    user.delete()  # its 案件 go with it


def release_expired_registrations() -> int:
    """Periodic job: provisional registrations whose link expired free their gateways, and
    so do the holds of registrations with an address that had an account (at the same
    age: see register_customer)."""
    now = timezone.now()
    claims.release_expired_reservations(older_than=timedelta(days=settings.ACTIVATION_DAYS))
    expired = (
        User.objects.filter(
            activated_at__isnull=True,
            is_staff=False,
            # only accounts made by registration: one an operator created (a dealer, say)
            # has no activated_at either, and must not be deleted
            tokens__purpose=AccountToken.Purpose.ACTIVATION,
        )
        .exclude(tokens__purpose=AccountToken.Purpose.ACTIVATION, tokens__expires_at__gt=now)
        .distinct()
    )
    count = 0
    for user_id in expired.values_list("pk", flat=True):
        try:
            with transaction.atomic():
                user = User.objects.select_for_update().get(pk=user_id, activated_at__isnull=True)
                _discard_provisional(user)
                count += 1
        except User.DoesNotExist:
            continue
        except Exception:  # one bad row must not stop the sweep
            logger.exception("could not release provisional registration of user %s", user_id)
    return count


# --- login -----------------------------------------------------------------

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
    account = User.objects.filter(email=email, is_active=True).first()
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
        raise AccountError("このURLは無効か、有効期限が切れています。")
    with transaction.atomic():
        AccountToken.objects.filter(pk=token.pk).update(used_at=timezone.now())
        User.objects.filter(pk=token.user_id).update(locked_at=None, failed_logins=0)
    user = User.objects.get(pk=token.user_id)
    throttle.reset(key=_login_id_key(user.email))
    return user


def clear_lock_after_password_reset(*, user: User) -> None:
    User.objects.filter(pk=user.pk).update(locked_at=None, failed_logins=0)
    throttle.reset(key=_login_id_key(user.email))
    end_pending_links(user=user)


def end_pending_links(*, user: User) -> None:
    """After a password change or reset: a pending mail-address change or unlock link may
    have been asked for by whoever had the old password, so it stops working."""
    AccountToken.objects.filter(
        user=user,
        purpose__in=[AccountToken.Purpose.EMAIL_CHANGE, AccountToken.Purpose.UNLOCK],
        used_at__isnull=True,
    ).update(expires_at=timezone.now())


# --- account changes ---------------------------------------------------------

PROFILE_FIELDS = (
    "name",
    "furigana",
    "postal_code",
    "prefecture",
    "city",
    "address_rest",
    "phone",
    "company_name",
    "department",
)


def update_profile(*, user: User, person: Person) -> User:
    for field in PROFILE_FIELDS:
        setattr(user, field, getattr(person, field))
    user.save(update_fields=list(PROFILE_FIELDS))
    return user


def request_email_change(*, user: User, new_email: str, client_address: str) -> None:
    """Mail a confirmation link to the new address; nothing changes until it is clicked.
    (The caller has checked the current password.)"""
    if new_email == user.email:
        raise AccountError("現在のメールアドレスと同じです。", field="email")
    allow_mail_to_typed_address(
        recipient=new_email, client_address=client_address, account_id=user.pk
    )
    with transaction.atomic():
        other = email_taken(new_email)
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
        raise AccountError("このURLは無効か、有効期限が切れています。")
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=token.user_id)
        other = email_taken(token.new_email)
        if other is not None and other.pk != user.pk:
            raise AccountError("このメールアドレスは使用できません。別のアドレスでお試しください。")
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


def add_gateway(
    *,
    user: User,
    gateway_id: str,
    site: SiteInput,
    client_address: str,
    gateway_password: str | None = None,
    verified: dict[str, object] | None = None,
    grid_connection_date: date | None = None,
    received_date: date | None = None,
) -> Gateway:
    """ゲートウェイの登録 for a logged-in customer: claimed at once, with its 案件 and
    the warranty dates when given."""
    if user.role != User.Role.CUSTOMER:
        # a dealer or operator holding a sheet must not become a customer's gateway owner
        raise claims.GatewayError("ゲートウェイはお客様のアカウントでのみ登録できます。")
    gateway = claims.open_gateway(
        gateway_id=gateway_id,
        password=gateway_password,
        verified=verified,
        client_address=client_address,
        user_id=user.pk,
    )
    with transaction.atomic():
        new_site = sites.create_site(owner=user, **site.__dict__)
        claims.take_gateway(gateway=gateway, owner=user, site=new_site, hold=False)
        gateway.refresh_from_db()
        _record_warranty_dates(gateway, user, grid_connection_date, received_date)
    return gateway
