"""Who calls: the bearer token checked on every request, with the limits around it
(docs/api.md, "Tokens" and "Limits").

Cost per request: one query for the token and its user (and one for a dealer's seat), one
for the client address's failure count, and the token's and its user's fixed-window
counters, rows of core.Throttle locked and updated in a short transaction; ``last_used_at`` is written at most
once a minute. The counters live in the database so that every web process counts
together; at the default limits that is a few milliseconds a request on PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from ninja.security import HttpBearer

from essmon.api.problems import ApiProblem, unauthorized
from essmon.api.selectors import Caller, caller_for
from essmon.api.services import note_use
from essmon.core import throttle
from essmon.core.http import client_address
from essmon.core.replicas import reading_primary

MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)


def _failures_key(request: HttpRequest) -> str:
    return f"api-auth-failures:{throttle.address_key(client_address(request))}"


def _rate_limited(detail: str, seconds: int) -> ApiProblem:
    return ApiProblem(429, "rate-limited", detail, headers={"Retry-After": str(seconds)})


class TokenAuth(HttpBearer):
    """``Authorization: Bearer essmon_pat_…``: a missing, unknown, expired or deleted token,
    or one whose user may hold none now, is 401 with ``WWW-Authenticate: Bearer``. Failed
    checks are counted per client address (the same rule on every path); past the limit
    that address gets 429 until its hour is over."""

    def __call__(self, request: HttpRequest) -> Caller:
        # the token, its user's seat and the limits on the primary, also for the GETs that
        # read a replica: a deleted token or an ended login stops working at once
        with reading_primary():
            return self._check(request)

    def _check(self, request: HttpRequest) -> Caller:
        failures = _failures_key(request)
        limit = settings.API_AUTH_FAILURES_PER_ADDRESS_PER_HOUR
        if throttle.spent(key=failures, limit=limit, window=HOUR):
            raise _rate_limited(
                "Too many failed authentications from this address.",
                throttle.retry_after(key=failures, window=HOUR),
            )
        scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
        secret = secret.strip()
        if scheme.lower() != "bearer" or not secret:
            raise unauthorized("A bearer token is required: Authorization: Bearer <token>.")
        caller = self.authenticate(request, secret)
        if caller is None:
            throttle.take(keys=[failures], limit=limit, window=HOUR)
            raise unauthorized("The token is unknown, expired or deleted.")
        spent = throttle.take_each(
            [
                throttle.Allowance(
                    f"api-token:{caller.token.pk}", settings.API_REQUESTS_PER_MINUTE, MINUTE
                ),
                throttle.Allowance(
                    f"api-user:{caller.user.pk}", settings.API_REQUESTS_PER_USER_PER_MINUTE, MINUTE
                ),
            ]
        )
        if spent is not None:
            raise _rate_limited(
                "Too many requests with this token."
                if spent.key.startswith("api-token:")
                else "Too many requests with this person's tokens together.",
                throttle.retry_after(key=spent.key, window=MINUTE),
            )
        note_use(token=caller.token)
        return caller

    def authenticate(self, request: HttpRequest, token: str) -> Caller | None:
        return caller_for(token)


def caller(request: HttpRequest, scope: str) -> Caller:
    """The request's caller, who must hold ``scope`` (403 otherwise: the only 403 the API
    answers; an object the caller may not see is 404)."""
    found: Any = getattr(request, "auth", None)
    if not isinstance(found, Caller):
        raise unauthorized("A bearer token is required.")
    if scope not in found.scopes:
        raise ApiProblem(
            403,
            "insufficient-scope",
            f"This operation needs a token with the '{scope}' scope.",
            headers={
                "WWW-Authenticate": f'Bearer realm="essmon", error="insufficient_scope", '
                f'scope="{scope}"'
            },
        )
    return found
