"""Commands' part in what dealers does (essmon/dealers/signals.py)."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from essmon.commands.services import expire_open_commands
from essmon.dealers import signals
from essmon.gateways.models import Gateway


@receiver(signals.gateway_replaced, dispatch_uid="commands.expire_for_replaced_unit")
def _expire_for_replaced_unit(*, gateway: Gateway, **kwargs: Any) -> None:
    expire_open_commands(gateway=gateway)
