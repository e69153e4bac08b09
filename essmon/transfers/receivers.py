"""名義変更's part in what accounts does (essmon/accounts/signals.py): a buyer who registered
from a transfer code claims it at the activation, in the activation's transaction."""

from __future__ import annotations

from django.dispatch import receiver

from essmon.accounts import signals
from essmon.accounts.models import User
from essmon.transfers.services import claim_at_activation


@receiver(signals.account_activated, dispatch_uid="transfers.claim_at_activation")
def _claim_at_activation(*, user: User, client_address: str | None = None, **kwargs) -> str | None:
    return claim_at_activation(user=user, client_address=client_address)
