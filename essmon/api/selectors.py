"""The public API's reads: which scopes a user may give a token, the user's tokens, and the
token a request presents (docs/api.md, "Tokens")."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from django.db.models import QuerySet
from django.utils import timezone

from essmon.accounts.models import User
from essmon.api.models import AccessToken
from essmon.dealers.access import Purpose, dealer_seat, is_desk_operator

TOKEN_PREFIX = "essmon_pat_"
Scope = AccessToken.Scope


def digest_of(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def scopes_for(user: User) -> tuple[str, ...]:
    """The scopes ``user`` may hold at this moment, in the order the page offers them; empty
    when the user may have no token at all (a viewer, an operator, a staff login ended, an
    account deactivated). Asked when a token is made and again on every request, so a
    token's scopes never exceed what its user may do now.

    Acknowledging an alert is the dealers' work (dealers.access: ``ACKNOWLEDGE_ALERT``), so
    its scope is offered to a dealer's administrator and 技術担当 only; a 閲覧のみ staff
    login reads only."""
    if not user.is_authenticated or not user.is_active or is_desk_operator(user):
        return ()
    if user.role == User.Role.CUSTOMER:
        return (Scope.READ, Scope.SETTINGS)
    if user.role not in (User.Role.DEALER, User.Role.DEALER_STAFF):
        return ()
    seat = dealer_seat(user)
    if seat is None:
        return ()
    scopes = [Scope.READ]
    if seat.may(Purpose.CHANGE_SETTINGS):
        scopes.append(Scope.SETTINGS)
    if seat.may(Purpose.ACKNOWLEDGE_ALERT):
        scopes.append(Scope.ALERTS)
    return tuple(scopes)


def tokens_of(user: User) -> QuerySet[AccessToken]:
    """The user's tokens not deleted, newest first (an expired one stays listed, marked)."""
    return AccessToken.objects.filter(user=user, revoked_at__isnull=True).order_by(
        "-created_at", "-pk"
    )


@dataclass(frozen=True)
class Caller:
    """Who a request with a valid token acts for: the token, its user and the scopes it
    holds now (the token's, less any its user may no longer have)."""

    token: AccessToken
    user: User
    scopes: frozenset[str]


def caller_for(secret: str, *, now: datetime | None = None) -> Caller | None:
    """The caller a presented token stands for, or None: unknown, deleted, expired, or its
    user may hold no token now. One query for the token and its user, one for a dealer
    seat."""
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        return None
    now = now or timezone.now()
    token = (
        AccessToken.objects.select_related("user")
        .filter(digest=digest_of(secret), revoked_at__isnull=True)
        .first()
    )
    if token is None or not token.is_usable(now):
        return None
    scopes = frozenset(token.scopes) & frozenset(scopes_for(token.user))
    if not scopes:
        return None
    return Caller(token=token, user=token.user, scopes=scopes)
