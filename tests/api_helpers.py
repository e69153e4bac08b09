"""The public API in tests: a token for a user, and a client that calls with it.

token = make_token(user)                       # read scope, or scopes=[...]
api = ApiClient(token)                         # django.test.Client with the bearer
response = api.get("/gateways")                # paths below /api/public/v1
problem(response, 404)                         # asserts an RFC 9457 problem, returns it
"""

from __future__ import annotations

import json
from typing import Any

from django.test import Client

from essmon.api.services import create_token

PREFIX = "/api/public/v1"
PROBLEM = "application/problem+json"


def make_token(user, *, scopes: list[str] | None = None, name: str = "テスト", **fields) -> str:
    """A new token of ``user`` (its secret); ``scopes`` default to every one the user may
    hold."""
    from essmon.api.selectors import scopes_for

    made = create_token(
        user=user,
        name=name,
        scopes=list(scopes_for(user)) if scopes is None else scopes,
        expires_at=fields.pop("expires_at", None),
    )
    return made.secret


def reporting(gateway) -> None:
    """``gateway`` provisioned and owned since yesterday, with a sample of a minute ago
    (the owner's, past its history floor), so that it is online with live values."""
    from datetime import timedelta

    from django.utils import timezone

    from essmon.gateways.models import Gateway
    from essmon.telemetry.ingest import ingest_samples
    from tests import factories

    yesterday = timezone.now() - timedelta(days=1)
    Gateway.objects.filter(pk=gateway.pk).update(provisioned_at=yesterday, owner_since=yesterday)
    gateway.refresh_from_db()
    result = ingest_samples(gateway=gateway, samples=[factories.sample(1, minutes_ago=1)])
    assert result.accepted == 1, result.rejected


def unmade_token(user, *, scopes: tuple[str, ...] = ("read", "settings", "alerts")) -> str:
    """A token written straight to the database for a user the pages give none (a viewer,
    an operator): what must still answer 401."""
    import secrets

    from essmon.api.models import AccessToken
    from essmon.api.selectors import TOKEN_PREFIX, digest_of

    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    AccessToken.objects.create(
        user=user, name="裏口", prefix=secret[:15], digest=digest_of(secret), scopes=list(scopes)
    )
    return secret


class ApiClient:
    """Calls the public API with a bearer token (``None``: no header at all)."""

    def __init__(self, token: str | None, *, client: Client | None = None) -> None:
        self.token = token
        self.client = client or Client()

    def _headers(self, headers: dict[str, str] | None) -> dict[str, str]:
        merged = dict(headers or {})
        if self.token is not None:
            merged.setdefault("Authorization", f"Bearer {self.token}")
        return merged

    def get(self, path: str, *, headers: dict[str, str] | None = None, **query: Any):
        return self.client.get(PREFIX + path, query or None, headers=self._headers(headers))

    def request(self, method: str, path: str, body: Any = None, **kwargs: Any):
        data = json.dumps(body) if body is not None else None
        return getattr(self.client, method.lower())(
            PREFIX + path,
            data=data,
            content_type="application/json",
            headers=self._headers(kwargs.pop("headers", None)),
            **kwargs,
        )

    def post(self, path: str, body: Any = None, **kwargs: Any):
        return self.request("post", path, body, **kwargs)


def problem(response, status: int) -> dict[str, Any]:
    """The response's problem details, asserted to be one with ``status``."""
    assert response.status_code == status, (response.status_code, response.content[:500])
    assert response["Content-Type"] == PROBLEM, response["Content-Type"]
    body = json.loads(response.content)
    assert body["status"] == status
    assert body["type"].startswith("urn:essmon:api:problem:")
    for key in ("title", "detail", "instance"):
        assert isinstance(body[key], str) and body[key], key
    return body
