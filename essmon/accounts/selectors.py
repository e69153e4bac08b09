"""Reads of accounts with a fixed query shape."""

from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet
from django.db.models.functions import Lower
from django.utils import timezone

from essmon.accounts.models import AccountToken, TermsVersion, User
from essmon.gateways.models import Gateway


def gateways_of(*, user: User) -> QuerySet[Gateway]:
    """The gateways a customer owns or holds, with their 案件, for menus and lists."""
    return (
        Gateway.objects.filter(owner=user)
        .select_related("site")
        .order_by("claimed_at", "gateway_id")
    )


def current_terms(audience: str = TermsVersion.Audience.CUSTOMER) -> TermsVersion:
    """The terms in force for ``audience`` (customers, or dealers: ``User.role``)."""
    terms = TermsVersion.objects.filter(audience=audience, published_at__lte=timezone.now()).first()
    if terms is None:
        raise RuntimeError("no published terms of use: run migrations")
    return terms


def terms_for(*, user: User) -> TermsVersion:
    """The terms a person activating agrees to again: a dealer's own, or a customer's."""
    if user.role == User.Role.DEALER:
        return current_terms(TermsVersion.Audience.DEALER)
    return current_terms(TermsVersion.Audience.CUSTOMER)


def email_taken(email: str) -> User | None:
    """The account with this mail address in any case: one address, one account."""
    return User.objects.annotate(email_ci=Lower("email")).filter(email_ci=email.lower()).first()


def account_with_login(*, email: str) -> User | None:
    """The account whose login ID is ``email`` exactly as typed (IDs are case-sensitive)."""
    return User.objects.filter(email=email).first()


def active_accounts(*, email: str) -> QuerySet[User]:
    """The accounts that may log in as ``email`` (one at most: the address is unique)."""
    return User.objects.filter(email=email, is_active=True)


def lapsed_registrations(*, now: datetime) -> QuerySet[User, int]:
    """The ids of provisional accounts made by registration whose every activation link
    has expired by ``now``."""
    return (
        User.objects.filter(
            activated_at__isnull=True,
            is_staff=False,
            # only accounts made by registration: one an operator created (a dealer, say)
            # has no activated_at either, and must not be deleted
            tokens__purpose=AccountToken.Purpose.ACTIVATION,
        )
        .exclude(tokens__purpose=AccountToken.Purpose.ACTIVATION, tokens__expires_at__gt=now)
        .distinct()
        .values_list("pk", flat=True)
    )
