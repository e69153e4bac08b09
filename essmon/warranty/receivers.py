"""Warranty's part in what accounts does (essmon/accounts/signals.py): the dates typed at
registration are recorded, and forgotten with a provisional registration given up."""

from __future__ import annotations

from django.dispatch import receiver

from essmon.accounts import signals
from essmon.warranty.services import forget_dates, record_registration_dates


@receiver(signals.registration_dates_typed, dispatch_uid="warranty.registration_dates")
def _record_dates(*, gateway, user, grid_connection_date, received_date, **kwargs) -> None:
    record_registration_dates(
        gateway=gateway,
        user=user,
        grid_connection_date=grid_connection_date,
        received_date=received_date,
    )


@receiver(signals.provisional_discarded, dispatch_uid="warranty.forget_dates")
def _forget_dates(*, gateways, **kwargs) -> None:
    forget_dates(gateways=gateways)
