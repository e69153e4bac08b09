"""Who acts on which gateway, for the operations of the history, alerts and setting-change
families: the gateway looked up through dealers.access for the operation's purpose, and
the token's scope checked after it.

In that order on purpose: a person who may never do the thing (an owner acknowledging an
alert, a 閲覧のみ staff login changing a setting) finds no such gateway (404), as on the
pages; 403 stays what the framework makes it, a token lacking a scope its user could have
given it."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from essmon.accounts.models import User
from essmon.api.auth import caller
from essmon.api.endpoints.gateways import _gateway_or_404
from essmon.api.problems import unauthorized
from essmon.api.selectors import Caller
from essmon.dealers.access import Purpose
from essmon.gateways.models import Gateway


def token_user(request: HttpRequest) -> User:
    found: Any = getattr(request, "auth", None)
    if not isinstance(found, Caller):
        raise unauthorized("A bearer token is required.")
    return found.user


def gateway_for(
    request: HttpRequest, gateway_id: str, *, purpose: Purpose, scope: str
) -> tuple[User, Gateway]:
    """The caller's user and the gateway they may use for ``purpose`` (404 otherwise),
    then ``scope`` asked of the token (403)."""
    gateway = _gateway_or_404(token_user(request), gateway_id, purpose)
    return caller(request, scope).user, gateway
