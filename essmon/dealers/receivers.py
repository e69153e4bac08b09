"""Dealers' part in what accounts does (essmon/accounts/signals.py): a dealer's person in
charge is the account's own address, proved by activation or by an address change."""

from __future__ import annotations

from django.dispatch import receiver

from essmon.accounts import signals
from essmon.accounts.models import User
from essmon.dealers.models import MaintenanceStaff
from essmon.dealers.services.registration import confirm_person_in_charge


@receiver(signals.account_activated, dispatch_uid="dealers.person_in_charge_confirmed")
def _confirm_person_in_charge(*, user: User, **kwargs) -> None:
    if user.role == User.Role.DEALER:
        confirm_person_in_charge(user=user)


@receiver(signals.email_changed, dispatch_uid="dealers.person_in_charge_address")
def _follow_address(*, user: User, old_email: str, **kwargs) -> None:
    if user.role == User.Role.DEALER:
        # the link just proved the new address: it keeps receiving the dealer's mails
        MaintenanceStaff.objects.filter(dealer__user=user, email=old_email).update(email=user.email)
    elif user.role == User.Role.DEALER_STAFF:
        # a staff member's login and alert address are one row: it follows the proved address
        MaintenanceStaff.objects.filter(user=user).update(email=user.email)
