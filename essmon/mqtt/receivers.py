"""The broker's part in what dealers does (essmon/dealers/signals.py)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.dispatch import receiver

from essmon.dealers import signals
from essmon.mqtt.broker import sync_broker_credentials


@receiver(signals.gateway_replaced, dispatch_uid="mqtt.sync_after_replacement")
def _sync_after_replacement(**kwargs: Any) -> None:
    # at once rather than at the next minute's sync-broker-credentials: the old unit's
    # login must stop working now; after the commit, so the files show the committed registry
    transaction.on_commit(sync_broker_credentials)
