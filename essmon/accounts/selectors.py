"""Reads of accounts with a fixed query shape."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Exists, OuterRef, QuerySet
from django.db.models.functions import Lower
from django.utils import timezone

from essmon.accounts.models import AccountToken, TermsAcceptance, TermsVersion, User
from essmon.gateways.models import Gateway


def gateways_of(*, user: User) -> QuerySet[Gateway]:
    """The gateways a customer owns or holds, with their 案件, for menus and lists."""
    return (
        Gateway.objects.filter(owner=user)
        .select_related("site")
        .order_by("claimed_at", "gateway_id")
    )


def current_terms(
    audience: str = TermsVersion.Audience.CUSTOMER, kind: str = TermsVersion.Kind.TERMS
) -> TermsVersion:
    """The version of ``kind`` in force for ``audience`` (customers, or dealers: ``User.role``):
    the newest whose effective date has passed."""
    terms = TermsVersion.objects.filter(
        audience=audience, kind=kind, effective_at__lte=timezone.now()
    ).first()
    if terms is None:
        raise RuntimeError("no published terms of use: run migrations")
    return terms


def terms_for(*, user: User) -> TermsVersion:
    """The terms a person activating agrees to again: a dealer's own, or a customer's."""
    if user.role in (User.Role.DEALER, User.Role.DEALER_STAFF):
        return current_terms(TermsVersion.Audience.DEALER)
    return current_terms(TermsVersion.Audience.CUSTOMER)


def terms_in_force(audience: str) -> list[TermsVersion]:
    """Every document in force for ``audience`` (the newest of each kind), 利用規約 first:
    what a person agrees to on creating an account there."""
    newest: dict[str, TermsVersion] = {}
    for version in TermsVersion.objects.filter(audience=audience, effective_at__lte=timezone.now()):
        newest.setdefault(version.kind, version)  # ordered newest first
    return sorted(newest.values(), key=lambda version: version.kind != TermsVersion.Kind.TERMS)


# Whose documents a role agrees to; a role not here (operators) is asked nothing.
AUDIENCE_OF_ROLE: dict[str, str] = {
    User.Role.CUSTOMER: TermsVersion.Audience.CUSTOMER,
    User.Role.DEALER: TermsVersion.Audience.DEALER,
    # a family viewer agreed to the customers' terms when creating the account
    User.Role.VIEWER: TermsVersion.Audience.CUSTOMER,
    # a dealer's staff member agrees to the dealers' terms in person, on accepting the login
    User.Role.DEALER_STAFF: TermsVersion.Audience.DEALER,
}


def _unagreed_in_force(user: User) -> list[int]:
    """The ids of the versions in force (one per kind) for ``user``'s audience that ``user``
    has not agreed to: one query, without the documents' text (it runs on every request)."""
    audience = AUDIENCE_OF_ROLE.get(user.role)
    if audience is None:
        return []
    rows = (
        TermsVersion.objects.filter(audience=audience, effective_at__lte=timezone.now())
        .annotate(agreed=Exists(TermsAcceptance.objects.filter(user=user, terms=OuterRef("pk"))))
        .order_by("kind", "-effective_at", "-pk")
        .values_list("pk", "kind", "agreed")
    )
    newest: dict[str, tuple[int, bool]] = {}
    for pk, kind, agreed in rows:
        newest.setdefault(kind, (pk, agreed))
    return [pk for pk, agreed in newest.values() if not agreed]


def accounts_to_tell(*, audience: str) -> QuerySet[User]:
    """The active accounts that agree to ``audience``'s documents, to be told of a new version."""
    roles = [role for role, of in AUDIENCE_OF_ROLE.items() if of == audience]
    return User.objects.filter(role__in=roles, is_active=True).order_by("pk")


def has_terms_to_agree(*, user: User) -> bool:
    """Whether a version in force waits for ``user``'s agreement (operators: never)."""
    return bool(_unagreed_in_force(user))


def terms_to_agree(*, user: User) -> list[TermsVersion]:
    """The versions in force ``user`` has yet to agree to, 利用規約 first."""
    pks = _unagreed_in_force(user)
    if not pks:
        return []
    return list(TermsVersion.objects.filter(pk__in=pks).order_by("-kind"))


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
