"""The public API's writes: making and deleting personal access tokens, and noting their
use (docs/api.md, "Tokens")."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.http import Http404
from django.utils import timezone

from essmon.accounts.models import User
from essmon.api.models import AccessToken
from essmon.api.selectors import TOKEN_PREFIX, digest_of, scopes_for, tokens_of
from essmon.core import throttle
from essmon.core.once import already_made

# a person with more than this many tokens should delete some before making another
TOKENS_PER_USER = 20
# how stale last_used_at may be: at most one write a minute per token, not one per request
LAST_USED_RESOLUTION = timedelta(minutes=1)


class TokenError(Exception):
    """A token that cannot be made; the message is for the person (Japanese)."""


@dataclass(frozen=True)
class NewToken:
    token: AccessToken
    secret: str  # shown once, on the page that made it, and kept nowhere


def create_token(
    *,
    user: User,
    name: str,
    scopes: list[str],
    expires_at: datetime | None,
    form_once: str = "",
    now: datetime | None = None,
) -> NewToken:
    """A new token for ``user`` with ``scopes`` (each one ``scopes_for(user)`` allows).

    The secret is 32 random bytes; only its SHA-256 digest is stored."""
    now = now or timezone.now()
    allowed = scopes_for(user)
    if not allowed:
        raise TokenError("このアカウントではアクセストークンを発行できません。")
    if not scopes or any(scope not in allowed for scope in scopes):
        raise TokenError("選べない権限が含まれています。")
    if expires_at is not None and expires_at <= now:
        raise TokenError("有効期限には今日より後の日付を入力してください。")
    if not throttle.take(
        keys=[f"api-token-create:{user.pk}"],
        limit=settings.API_TOKENS_PER_USER_PER_DAY,
        window=timedelta(days=1),
    ):
        raise TokenError(
            "アクセストークンの発行が多すぎるため、しばらく発行できません。"
            "明日以降にもう一度お試しください。"
        )
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        # the user's row locked: two pages submitted at once cannot both pass the count
        User.objects.select_for_update().filter(pk=user.pk).first()
        if already_made(AccessToken.objects.filter(user=user), form_once):
            raise TokenError(
                "この発行は済んでいます(同じ画面から2回送信されました)。"
                "トークンは発行した画面に一度だけ表示されます。"
                "控えていない場合は、一覧から削除して発行し直してください。"
            )
        if tokens_of(user).count() >= TOKENS_PER_USER:
            raise TokenError(
                f"アクセストークンは{TOKENS_PER_USER}個までです。使わないものを削除してください。"
            )
        token = AccessToken.objects.create(
            user=user,
            name=name,
            prefix=secret[: len(TOKEN_PREFIX) + 4],
            digest=digest_of(secret),
            scopes=[scope for scope in allowed if scope in scopes],
            created_at=now,
            expires_at=expires_at,
            form_once=form_once,
        )
    return NewToken(token=token, secret=secret)


def revoke_token(*, user: User, token_id: int, now: datetime | None = None) -> AccessToken:
    """Delete one of ``user``'s tokens: it answers 401 from the next request on. Another
    person's token does not exist for ``user`` (404)."""
    token = tokens_of(user).filter(pk=token_id).first()
    if token is None:
        raise Http404("no such token")
    token.revoked_at = now or timezone.now()
    token.save(update_fields=["revoked_at"])
    return token


def note_use(*, token: AccessToken, now: datetime | None = None) -> None:
    """``last_used_at`` moved on, at most once per LAST_USED_RESOLUTION: a conditional
    UPDATE that writes nothing while the time kept is recent enough."""
    now = now or timezone.now()
    if token.last_used_at is not None and token.last_used_at > now - LAST_USED_RESOLUTION:
        return
    AccessToken.objects.filter(pk=token.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lte=now - LAST_USED_RESOLUTION)
    ).update(last_used_at=now)
    token.last_used_at = now
