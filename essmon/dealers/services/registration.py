"""販売店様の登録, and the dealer's own data."""

from __future__ import annotations

import secrets

from django.db import transaction
from django.utils import timezone

from essmon.accounts.models import TermsVersion, User
from essmon.accounts.selectors import email_taken
from essmon.accounts.services.inputs import PERSON_FIELDS, Person
from essmon.accounts.services.registration import (
    begin_activation,
    create_provisional_user,
    notify_existing_account,
)
from essmon.dealers.models import Dealer, MaintenanceStaff
from essmon.notifications.services import allow_mail_to_typed_address


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
