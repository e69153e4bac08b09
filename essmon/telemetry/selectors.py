"""Telemetry, read: the gateway a request over HTTPS speaks for."""

from __future__ import annotations

from essmon.gateways.models import Gateway
from essmon.gateways.services.credentials import device_secret_matches, hash_device_secret


def gateway_with_secret(gateway_id: str, secret: str) -> Gateway | None:
    """The gateway ``gateway_id`` if ``secret`` is its device secret, else None."""
    gateway = Gateway.objects.filter(gateway_id=gateway_id).first()
    if gateway is None:
        hash_device_secret(secret)  # same work as a real check
        return None
    return gateway if device_secret_matches(gateway, secret) else None
