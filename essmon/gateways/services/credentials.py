"""The secrets a gateway is known by: the sheet's password (registration) and the device
secret (what the gateway itself authenticates with, over HTTPS and MQTT)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets

from django.contrib.auth.hashers import make_password

from essmon.core import sealing
from essmon.gateways.models import Gateway

# The sheet's passwords are lowercase letters and digits (e.g. abcedfghijk12); letters
# and digits that read alike on paper (l/1, o/0) are left out.
PASSWORD_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"
PASSWORD_LENGTH = 13
DEVICE_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{24,64}\Z")


def generate_password() -> str:
    while True:
        password = "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(PASSWORD_LENGTH))
        # the sheet's kind: letters with some digits
        if any(c.isdigit() for c in password) and any(c.isalpha() for c in password):
            return password


def hash_gateway_password(password: str) -> str:
    return make_password(password, hasher="argon2")


# The sheet's password is also kept sealed until the gateway is claimed, so that its sheet
# can be printed (and printed again) from the batch: see docs/architecture.md "Tokens and
# secrets". Claiming empties it (claims.take_gateway, claims.confirm_held_gateways).
SHEET_SEAL = "sheet password"


def seal_sheet_password(password: str) -> str:
    return sealing.seal(password, purpose=SHEET_SEAL)


def unseal_sheet_password(sealed: str) -> str:
    """InvalidToken (essmon.core.sealing) when the secret key changed since provisioning."""
    return sealing.unseal(sealed, purpose=SHEET_SEAL)


def generate_device_secret() -> str:
    return secrets.token_urlsafe(24)  # 192 bits, 32 characters


# Mosquitto's password-file format ($7$: PBKDF2-HMAC-SHA512), so the broker's password
# file is generated from these very hashes and the secret is never stored anywhere. The
# 101 iterations are Mosquitto's default: the secret is 192 random bits, so a slow hash
# would add nothing but cost to every request a gateway makes.
BROKER_HASH_ITERATIONS = 101


def hash_device_secret(secret: str, *, salt: bytes | None = None) -> str:
    salt = salt if salt is not None else os.urandom(12)
    digest = hashlib.pbkdf2_hmac("sha512", secret.encode(), salt, BROKER_HASH_ITERATIONS)
    encoded_salt, encoded_digest = (
        base64.b64encode(salt).decode(),
        base64.b64encode(digest).decode(),
    )
    return f"$7${BROKER_HASH_ITERATIONS}${encoded_salt}${encoded_digest}"


def device_secret_matches(gateway: Gateway, secret: str) -> bool:
    parts = gateway.device_secret_hash.split("$")
    if len(parts) != 5 or parts[1] != "7" or not parts[2].isdigit():
        return False
    try:
        salt = base64.b64decode(parts[3], validate=True)
        expected = base64.b64decode(parts[4], validate=True)
    except ValueError:
        return False
    digest = hashlib.pbkdf2_hmac("sha512", secret.encode(), salt, int(parts[2]))
    return hmac.compare_digest(digest, expected)


def rotate_device_secret(*, gateway: Gateway) -> str:
    """A new device secret for ``gateway``; the old one stops working at once."""
    secret = generate_device_secret()
    Gateway.objects.filter(pk=gateway.pk).update(device_secret_hash=hash_device_secret(secret))
    return secret
