"""お客様情報の登録: a provisional account holding its gateway, and the 仮登録メール."""

from __future__ import annotations

from datetime import date, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from essmon.accounts import selectors, signals
from essmon.accounts.models import AccountToken, TermsAcceptance, TermsVersion, User
from essmon.accounts.services.errors import AccountError
from essmon.accounts.services.inputs import PERSON_FIELDS, Person, SiteInput
from essmon.accounts.services.links import mail_link
from essmon.accounts.services.terms import record_terms_acceptance
from essmon.gateways.models import Gateway
from essmon.gateways.services.claims import open_gateway, reserve_gateway, take_gateway
from essmon.gateways.services.sites import create_site
from essmon.notifications.services import allow_mail_to_typed_address, queue_mail


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
    gateway = open_gateway(
        gateway_id=gateway_id,
        password=gateway_password,
        verified=verified,
        client_address=client_address,
    )
    allow_mail_to_typed_address(recipient=person.email, client_address=client_address)
    with transaction.atomic():
        existing = selectors.email_taken(person.email)
        if existing is not None:
            reserve_gateway(gateway=gateway, for_user=existing)
            notify_existing_account(existing, reserved=gateway)
            return
        user = create_provisional_user(person=person, role=User.Role.CUSTOMER)
        new_site = create_site(owner=user, **site.__dict__)
        take_gateway(gateway=gateway, owner=user, site=new_site, hold=True)
        record_warranty_dates(gateway, user, grid_connection_date, received_date)
        begin_activation(
            user=user, terms=terms, client_address=client_address, kind="provisional_registration"
        )


def record_warranty_dates(
    gateway: Gateway, user: User, grid_connection_date: date | None, received_date: date | None
) -> None:
    """The 系統連系日 and 受取日 typed with a gateway (registration, ゲートウェイの登録)."""
    # warranty builds on accounts: it records them (essmon/warranty/receivers.py)
    signals.registration_dates_typed.send(
        sender=User,
        gateway=gateway,
        user=user,
        grid_connection_date=grid_connection_date,
        received_date=received_date,
    )


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


NOT_PROVISIONAL = "このアカウントは仮登録中ではないため、仮登録メールはお送りできません。"
# the 仮登録メール of each kind of account registration makes
PROVISIONAL_MAIL_KINDS: dict[str, str] = {
    User.Role.CUSTOMER: "provisional_registration",
    User.Role.DEALER: "dealer_provisional_registration",
}


def resend_provisional_mail(*, user: User, operator: User) -> AccountToken:
    """The 仮登録メール again, with a fresh activation link (the earlier links stop
    working, and the registration lasts ``ACTIVATION_DAYS`` from now), at an operator's
    request. The mail limits apply as to every mail to an address: per recipient a day, and
    per operator an hour (MailLimitError)."""
    kind = PROVISIONAL_MAIL_KINDS.get(user.role)
    if (
        kind is None
        or not user.is_provisional
        or user.is_active
        or not AccountToken.objects.filter(
            user=user, purpose=AccountToken.Purpose.ACTIVATION
        ).exists()
    ):
        raise AccountError(NOT_PROVISIONAL)
    allow_mail_to_typed_address(recipient=user.email, client_address=None, account_id=operator.pk)
    with transaction.atomic():
        return mail_link(
            user=user,
            purpose=AccountToken.Purpose.ACTIVATION,
            lifetime=timedelta(days=settings.ACTIVATION_DAYS),
            kind=kind,
        )
