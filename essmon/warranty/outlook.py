"""What the warranty dates typed in a registration mean, for its confirmation page."""

from __future__ import annotations

from django.utils import timezone

from essmon.core.jst import JST
from essmon.gateways.models import Gateway
from essmon.warranty.catalogue import term_for
from essmon.warranty.rules import registration_outlook


def warranty_outlook(data: dict, *, at_once: bool) -> str:
    """What the warranty dates typed in a registration mean, for its confirmation page: the
    deadline of the extended warranty, or what applies once it has passed."""
    model = (
        Gateway.objects.filter(gateway_id=data.get("gateway_id", ""))
        .values_list("model", flat=True)
        .first()
    )
    return registration_outlook(
        grid_connection_date=data.get("grid_connection_date"),
        received_date=data.get("received_date"),
        today=timezone.localtime(timezone.now(), JST).date(),
        term=term_for(model or ""),
        at_once=at_once,
    )
