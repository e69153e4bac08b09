"""What the monitoring site changes: the remote settings, as commands to the gateway
(reads are in ``selectors.py``)."""

from __future__ import annotations

from django.db import transaction

from essmon.accounts.models import User
from essmon.commands.models import Command
from essmon.commands.services import request_setting_change
from essmon.dealers.models import DealerAccess
from essmon.dealers.services.records import record_change
from essmon.gateways.models import Gateway
from essmon.gateways.schema import Setting
from essmon.monitoring.forms import describe_value


def change_settings(*, gateway: Gateway, changes: dict[str, object], user: User) -> list[Command]:
    """One command per changed setting, all or none; a dealer's change is also written in
    the owner's 販売店様による閲覧・変更の記録, in the same transaction."""
    with transaction.atomic():
        commands = [
            request_setting_change(gateway=gateway, setting=setting, value=value, requested_by=user)
            for setting, value in changes.items()
        ]
        for command in commands:
            before = describe_value(command.setting, command.previous_value)
            after = describe_value(command.setting, command.value)
            record_change(
                user=user,
                gateway=gateway,
                action=DealerAccess.Action.CHANGE_SETTINGS,
                detail=f"{Setting(command.setting).label}: {before} → {after}",
                now=command.requested_at,
            )
        return commands
