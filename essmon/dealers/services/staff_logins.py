"""Logins for a dealer's staff (販売店スタッフ): the dealer's administrator invites a
保守担当者 by mail with a role (技術担当 or 閲覧のみ), the person sets a password and agrees
to the dealers' terms, and the administrator changes the role or ends the login. Who may
do what is dealers.access's (it reads the staff row on every request); this module writes
the rows it reads."""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from essmon.accounts import selectors
from essmon.accounts.models import AccountToken, TermsAcceptance, TermsVersion, User
from essmon.accounts.services.errors import LINK_INVALID
from essmon.accounts.services.terms import agree_to_terms
from essmon.accounts.tokens import issue_token
from essmon.core import throttle
from essmon.dealers.models import Dealer, MaintenanceStaff
from essmon.dealers.services.errors import DealerError
from essmon.notifications.services import allow_mail_to_typed_address, queue_mail

INVITATION_LIFETIME = timedelta(days=7)
# a dealer's own allowance on top of every typed address's limits (per address, per client)
INVITATIONS_PER_DEALER_PER_DAY = 20

NO_SUCH_STAFF = "その保守担当者は登録されていません。"
ADMIN_ADDRESS = (
    "このメールアドレスは販売店様ご自身(管理者)のアカウントです。管理者のアカウントで"
    "ログインしてください。"
)
ALREADY_HAS_LOGIN = (
    "この方はすでにログインをお持ちです。役割の変更か、ログインの停止をお選びください。"
)
NO_LOGIN = "この方はログインをお持ちではありません。"
# Told to whoever opens the link (the address's holder), never to the dealer, so an
# invitation tells the dealer nothing about which addresses have an account.
ADDRESS_IN_USE = (
    "このメールアドレスは、お客様・販売店様などのアカウントですでに使われているため、"
    "販売店スタッフのログインには使えません。販売店様の管理者に、別のメールアドレスで"
    "登録し直すようご依頼ください。"
)


def _staff(dealer: Dealer, staff_id: int) -> MaintenanceStaff:
    """The dealer's staff row, locked, or DealerError (the caller holds a transaction)."""
    staff = (
        MaintenanceStaff.objects.select_for_update(of=("self",))
        .select_related("user", "login_token")
        .filter(dealer=dealer, pk=staff_id)
        .first()
    )
    if staff is None:
        raise DealerError(NO_SUCH_STAFF)
    return staff


def _role(role: str) -> str:
    if role not in MaintenanceStaff.LoginRole.values:
        raise DealerError("役割を選んでください。", field="role")
    return role


def invite_staff_login(
    *, dealer: Dealer, staff_id: int, role: str, client_address: str
) -> MaintenanceStaff:
    """Mail the staff member a single-use link to set a password for a login with ``role``.
    Inviting again replaces a pending link (the old one stops working). The limits of every
    mail to a typed address apply, and a dealer's own per day (MailLimitError)."""
    role = _role(role)
    with transaction.atomic():
        Dealer.objects.select_for_update().get(pk=dealer.pk)
        staff = _staff(dealer, staff_id)
        if staff.email.lower() == dealer.user.email.lower():
            raise DealerError(ADMIN_ADDRESS)
        if staff.has_login:
            raise DealerError(ALREADY_HAS_LOGIN)
        allow_mail_to_typed_address(
            recipient=staff.email,
            client_address=client_address,
            account_id=dealer.user_id,
            more=[
                throttle.Allowance(
                    f"staff-invite:{dealer.pk}", INVITATIONS_PER_DEALER_PER_DAY, timedelta(days=1)
                )
            ],
        )
        _void(staff)
        raw, token = issue_token(
            user=dealer.user,
            purpose=AccountToken.Purpose.STAFF_INVITATION,
            lifetime=INVITATION_LIFETIME,
            new_email=staff.email,
        )
        MaintenanceStaff.objects.filter(pk=staff.pk).update(
            login_token=token,
            login_role=role,
            login_invited_at=timezone.now(),
            login_ended_at=None,
        )
        queue_mail(
            recipient=staff.email,
            kind="staff_login_invitation",
            context={
                "dealer": dealer,
                "role": MaintenanceStaff.LoginRole(role).label,
                "token": raw,
                "expires_at": token.expires_at,
            },
        )
    staff.refresh_from_db()
    return staff


def invitation_for(token: AccountToken | None) -> MaintenanceStaff:
    """The staff row a pending link stands for, or DealerError(LINK_INVALID)."""
    if (
        token is None
        or token.purpose != AccountToken.Purpose.STAFF_INVITATION
        or not token.is_usable()
    ):
        raise DealerError(LINK_INVALID)
    staff = (
        MaintenanceStaff.objects.select_related("dealer", "dealer__user", "user")
        .filter(login_token=token, login_ended_at__isnull=True, dealer__user__is_active=True)
        .exclude(login_role="")
        .first()
    )
    if staff is None:
        raise DealerError(LINK_INVALID)
    return staff


def check_address(staff: MaintenanceStaff) -> None:
    """DealerError when the invited address belongs to another account (told to the
    address's holder only); the staff member's own former login may be taken up again."""
    account = selectors.email_taken(staff.email)
    if account is not None and account.pk != staff.user_id:
        raise DealerError(ADDRESS_IN_USE)


def accept_staff_login(
    *, token: AccountToken | None, password: str, client_address: str | None = None
) -> User:
    """Open the link: the staff member's login is created (or, after an ended one, opened
    again) with ``password`` (validated by the caller), their agreement to the dealers'
    documents in force is recorded, and the address counts as confirmed for alert mails
    (the link proved it). Single use. The dealer's administrator is told by mail."""
    with transaction.atomic():
        if token is not None:
            token = AccountToken.objects.select_for_update().filter(pk=token.pk).first()
        staff = invitation_for(token)
        assert token is not None
        check_address(staff)
        if not password:
            raise DealerError("パスワードを入力してください。")
        now = timezone.now()
        user = staff.user
        if user is None:
            user = User.objects.create_user(
                staff.email,
                password,
                name=staff.name,
                role=User.Role.DEALER_STAFF,
                is_active=True,
                activated_at=now,
            )
        else:
            user.set_password(password)
            user.name, user.email, user.is_active = staff.name, staff.email, True
            user.locked_at, user.failed_logins = None, 0
            user.save()
        agree_to_terms(
            user=user,
            terms=selectors.terms_in_force(TermsVersion.Audience.DEALER),
            context=TermsAcceptance.Context.REGISTRATION,
            client_address=client_address,
        )
        MaintenanceStaff.objects.filter(pk=staff.pk).update(
            user=user, confirmed_at=staff.confirmed_at or now
        )
        AccountToken.objects.filter(pk=token.pk).update(used_at=now)
        queue_mail(
            recipient=staff.dealer.user.email,
            kind="staff_login_accepted",
            context={
                "dealer": staff.dealer,
                "staff": staff,
                "role": MaintenanceStaff.LoginRole(staff.login_role).label,
            },
        )
    return user


def change_staff_role(*, dealer: Dealer, staff_id: int, role: str) -> MaintenanceStaff:
    """The role of a login or a pending invitation; effective on the person's next request."""
    role = _role(role)
    with transaction.atomic():
        staff = _staff(dealer, staff_id)
        if not (staff.has_login or staff.invitation_pending):
            raise DealerError(NO_LOGIN)
        MaintenanceStaff.objects.filter(pk=staff.pk).update(login_role=role)
    staff.refresh_from_db()
    return staff


def end_staff_login(*, dealer: Dealer, staff_id: int) -> MaintenanceStaff:
    """End a login (or withdraw a pending invitation): the account is disabled, so the
    person's next request is anonymous, and dealers.access no longer finds a seat. The
    account stays, so the records keep pointing at the person; the staff member stays a
    保守担当者 for the alert mails until removed."""
    with transaction.atomic():
        staff = _staff(dealer, staff_id)
        if not (staff.has_login or staff.invitation_pending):
            raise DealerError(NO_LOGIN)
        _end(staff)
    staff.refresh_from_db()
    return staff


def end_login_of_removed(*, staff: MaintenanceStaff) -> None:
    """A staff member removed from the list: their login ends with them (the caller holds
    the dealer's lock)."""
    if staff.user_id is not None or staff.login_token_id is not None:
        _end(staff)


def _end(staff: MaintenanceStaff) -> None:
    _void(staff)
    MaintenanceStaff.objects.filter(pk=staff.pk).update(login_ended_at=timezone.now())
    if staff.user_id is not None:
        User.objects.filter(pk=staff.user_id).update(is_active=False)


def _void(staff: MaintenanceStaff) -> None:
    if staff.login_token_id is not None:
        AccountToken.objects.filter(pk=staff.login_token_id, used_at__isnull=True).update(
            voided_at=timezone.now()
        )
