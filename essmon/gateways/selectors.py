"""Reads of the gateway registry."""

from __future__ import annotations

from collections.abc import Iterable

from essmon.gateways.models import Gateway


def gateway_with_id(gateway_id: str) -> Gateway | None:
    return Gateway.objects.filter(gateway_id=gateway_id).first()


def existing_gateway_ids(gateway_ids: Iterable[str]) -> set[str]:
    """Which of ``gateway_ids`` the registry already holds."""
    return set(
        Gateway.objects.filter(gateway_id__in=list(gateway_ids)).values_list(
            "gateway_id", flat=True
        )
    )
