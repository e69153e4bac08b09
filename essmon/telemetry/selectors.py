"""Telemetry, read: the gateway a request over HTTPS speaks for."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import cache
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models.expressions import Col

from essmon.gateways.models import Gateway
from essmon.gateways.services.credentials import device_secret_matches, hash_device_secret

# Device secrets already proven right in this process, each as a digest of the gateway's
# stored hash and the secret, never the secret itself. The stored hash is read on every
# request, so a rotated secret (a new hash) fails at once, as before; what is saved is the
# PBKDF2 of a secret that was just checked against that very hash. Bounded: when full it
# starts again, and the gateways prove their secrets once more.
_PROVEN: set[bytes] = set()
PROVEN_MAX = 100_000


def gateway_with_secret(gateway_id: str, secret: str) -> Gateway | None:
    """The gateway ``gateway_id`` if ``secret`` is its device secret, else None."""
    gateway = _gateway(gateway_id)
    if gateway is None:
        hash_device_secret(secret)  # same work as a real check
        return None
    proof = hashlib.sha256(f"{gateway.device_secret_hash}\0{secret}".encode()).digest()
    if proof in _PROVEN:
        return gateway
    if not device_secret_matches(gateway, secret):
        return None
    if len(_PROVEN) >= PROVEN_MAX:
        _PROVEN.clear()
    _PROVEN.add(proof)
    return gateway


def _gateway(gateway_id: str) -> Gateway | None:
    # One statement composed once: the ORM composing it cost several times the query
    # itself, on every request of every gateway (docs/performance.md). The values go
    # through the converters the ORM would apply (SQLite's datetimes are text).
    db = connections[DEFAULT_DB_ALIAS]  # this thread's: the cache below is per connection
    with db.cursor() as cursor:
        cursor.execute(_select_sql(db), [gateway_id])
        row = cursor.fetchone()
    if row is None:
        return None
    values = list(row)
    for index, converters, column in _converters(db):
        for convert in converters:
            values[index] = convert(values[index], column, db)
    return Gateway.from_db(db.alias, _attnames(), values)


@cache
def _attnames() -> list[str]:
    return [field.attname for field in Gateway._meta.concrete_fields]


@cache
def _select_sql(db: BaseDatabaseWrapper) -> str:
    quote = db.ops.quote_name
    columns = ", ".join(quote(str(field.column)) for field in Gateway._meta.concrete_fields)
    return f"SELECT {columns} FROM {quote(Gateway._meta.db_table)} WHERE gateway_id = %s"


@cache
def _converters(db: BaseDatabaseWrapper) -> list[tuple[int, list[Callable[..., Any]], Col]]:
    """What the ORM would do to each column's value as it comes from this connection."""
    found = []
    for index, field in enumerate(Gateway._meta.concrete_fields):
        column = field.get_col(Gateway._meta.db_table)
        converters = db.ops.get_db_converters(column) + field.get_db_converters(db)
        if converters:
            found.append((index, converters, column))
    return found
