"""Secrets the service must read back later, kept encrypted at rest (Fernet).

The key is derived from the secret key, one key per purpose (so text sealed for one use
never opens as another's). Changing ``ESSMON_SECRET_KEY`` makes everything sealed before
unreadable: ``unseal`` raises InvalidToken, and each caller says what that means for it.
Used for the outbox's bodies until delivery (notifications), the sheet passwords until
the gateway is claimed (gateways.services.sheets) and the webhooks' signing secrets
(webhooks.services)."""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings

__all__ = ["InvalidToken", "seal", "unseal"]


def _fernet(purpose: str) -> Fernet:
    # the secret key is long and random: one hash of it, named for this use, is the key
    label = f"essmon {purpose} seal:".encode()
    digest = hashlib.sha256(label + settings.SECRET_KEY.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def seal(text: str, *, purpose: str) -> str:
    return _fernet(purpose).encrypt(text.encode()).decode()


def unseal(sealed: str, *, purpose: str) -> str:
    """The sealed text; InvalidToken when the secret key changed since it was sealed."""
    return _fernet(purpose).decrypt(sealed.encode()).decode()
