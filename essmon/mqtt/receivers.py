"""The broker's part in what dealers does (essmon/dealers/signals.py)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.dispatch import receiver

from essmon.dealers import signals
from essmon.mqtt.broker import sync_broker_credentials
from essmon.mqtt.certificates import revoke_certificates
from essmon.mqtt.models import GatewayCertificate


@receiver(signals.gateway_replaced, dispatch_uid="mqtt.sync_after_replacement")
def _sync_after_replacement(*, replacement: Any, **kwargs: Any) -> None:
    # the old unit's certificates too: its key may still be in the failed unit
    revoke_certificates(
        gateway_ids=[replacement.old_gateway_id], reason=GatewayCertificate.Reason.REPLACED
    )
    # at once rather than at the next minute's sync-broker-credentials: the old unit's
    # login must stop working now; after the commit, so the files show the committed registry
    transaction.on_commit(sync_broker_credentials)
