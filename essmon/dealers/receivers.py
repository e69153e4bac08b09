"""Dealers' part in what accounts does (essmon/accounts/signals.py): a dealer's person in
charge is the account's own address, proved by activation or by an address change."""

from __future__ import annotations

from django.dispatch import receiver

from essmon.accounts import signals
from essmon.accounts.models import User
from essmon.accounts.services.errors import AccountError
from essmon.dealers import selectors
from essmon.dealers.models import MaintenanceStaff
from essmon.dealers.services.registration import confirm_person_in_charge


@receiver(signals.account_activated, dispatch_uid="dealers.person_in_charge_confirmed")
def _confirm_person_in_charge(*, user: User, **kwargs) -> None:
    if user.role == User.Role.DEALER:
        confirm_person_in_charge(user=user)


# the one list of 保守担当者 holds each address once (dealers_staff_unique_email)
ADDRESS_OF_ANOTHER_STAFF: dict[str, str] = {
    User.Role.DEALER: (
        "このメールアドレスは保守担当者の一覧にほかの方として登録されているため、"
        "販売店様のメールアドレスにできません。「保守担当者」でそのアドレスの登録を削除してから、"
        "もう一度お試しください。"
    ),
    User.Role.DEALER_STAFF: (
        "このメールアドレスは販売店様の保守担当者の一覧にほかの方として登録されているため、"
        "変更できません。別のメールアドレスをご入力いただくか、販売店様の管理者にご相談ください。"
    ),
}


@receiver(signals.email_change_checked, dispatch_uid="dealers.staff_address_free")
def _refuse_address_of_another_staff(*, user: User, new_email: str, **kwargs) -> None:
    if selectors.staff_address_clash(user=user, new_email=new_email):
        raise AccountError(ADDRESS_OF_ANOTHER_STAFF[user.role], field="email")


@receiver(signals.email_changed, dispatch_uid="dealers.person_in_charge_address")
def _follow_address(*, user: User, old_email: str, **kwargs) -> None:
    if user.role == User.Role.DEALER:
        # the link just proved the new address: it keeps receiving the dealer's mails
        MaintenanceStaff.objects.filter(dealer__user=user, email=old_email).update(email=user.email)
    elif user.role == User.Role.DEALER_STAFF:
        # a staff member's login and alert address are one row: it follows the proved address
        MaintenanceStaff.objects.filter(user=user).update(email=user.email)
