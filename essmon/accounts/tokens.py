"""Single-use mail links: 256 random bits in the URL, only their SHA-256 in the database."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.utils import timezone

from essmon.accounts.models import AccountToken, User


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def issue_token(
    *, user: User, purpose: str, lifetime: timedelta, new_email: str = ""
) -> tuple[str, AccountToken]:
    raw = secrets.token_urlsafe(32)
    token = AccountToken.objects.create(
        user=user,
        purpose=purpose,
        token_hash=hash_token(raw),
        expires_at=timezone.now() + lifetime,
        new_email=new_email,
    )
    return raw, token


def find_token(*, raw: str, purpose: str) -> AccountToken | None:
    if not raw or len(raw) > 100:
        return None
    return (
        AccountToken.objects.select_related("user")
        .filter(token_hash=hash_token(raw), purpose=purpose)
        .first()
    )
