"""Setting changes asked for through the public API: the settings form's checks on the
values (monitoring.forms.SettingsForm: each value valid for the gateway's model, and a
command only for a value that differs from what is in force or on its way), the page's
service for the rest (monitoring.services.change_settings: the commands, the superseding,
the dealer's record), and the ``Idempotency-Key`` a client may send so that a retried
request makes no second change (docs/api.md, "Idempotency")."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from essmon.accounts.models import User
from essmon.api.models import IdempotentRequest
from essmon.commands.models import Command
from essmon.gateways.models import Gateway
from essmon.gateways.schema import SettingError, validate_setting
from essmon.monitoring.selectors import live_state, settings_on_the_way
from essmon.monitoring.services import change_settings

# how long a key answers with its first request's changes; a change not applied by then
# has expired anyway (commands.services.COMMAND_LIFETIME is shorter)
IDEMPOTENCY_WINDOW = timedelta(hours=24)
KEY_MAX_LENGTH = 255


class SettingsInvalid(ValueError):
    """Values the gateway's model refuses: each setting's message (Japanese, the form's)."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("invalid settings")
        self.errors = errors


class NothingToChange(ValueError):
    """Every value given is already in force or on its way."""


class KeyReused(ValueError):
    """The key was sent before with another request."""


def requested_changes(gateway: Gateway, values: dict[str, object]) -> dict[str, object]:
    """The changes ``values`` ask of ``gateway``: each value in the form sent to the
    gateway, those equal to what it will have anyway left out."""
    state = live_state(gateway)
    shown = {**((state.settings_in_force if state else None) or {}), **settings_on_the_way(gateway)}
    errors: dict[str, str] = {}
    changes: dict[str, object] = {}
    for setting, value in values.items():
        try:
            clean = validate_setting(gateway.model, setting, value)
        except SettingError as exc:
            errors[setting] = str(exc)
            continue
        if shown.get(setting) != clean:
            changes[setting] = clean
    if errors:
        raise SettingsInvalid(errors)
    if not changes:
        raise NothingToChange("変更された設定はありません。")
    return changes


def fingerprint_of(gateway: Gateway, values: dict[str, object]) -> str:
    asked = {"gateway": gateway.gateway_id, "values": values}
    return hashlib.sha256(json.dumps(asked, sort_keys=True).encode()).hexdigest()


def change_settings_once(
    *,
    user: User,
    gateway: Gateway,
    values: dict[str, object],
    key: str | None,
    now: datetime | None = None,
) -> tuple[list[Command], bool]:
    """The commands ``values`` make, and whether they are an earlier request's (the same
    ``key`` and request within IDEMPOTENCY_WINDOW: nothing new is made). Raises
    SettingsInvalid, NothingToChange, KeyReused."""
    if key is None:
        changes = requested_changes(gateway, values)
        return change_settings(gateway=gateway, changes=changes, user=user), False
    now = now or timezone.now()
    fingerprint = fingerprint_of(gateway, values)
    with transaction.atomic():
        # the user's row locked: the same key sent twice at once is made once, the second
        # waiting for the first and then finding it
        User.objects.select_for_update().filter(pk=user.pk).first()
        # bounded: keys older than the window go as new ones come (an index range)
        IdempotentRequest.objects.filter(created_at__lt=now - IDEMPOTENCY_WINDOW).delete()
        earlier = IdempotentRequest.objects.filter(user=user, key=key).first()
        if earlier is not None:
            if earlier.fingerprint != fingerprint:
                raise KeyReused(key)
            return list(Command.objects.filter(pk__in=earlier.command_ids).order_by("pk")), True
        changes = requested_changes(gateway, values)
        commands = change_settings(gateway=gateway, changes=changes, user=user)
        IdempotentRequest.objects.create(
            user=user,
            key=key,
            fingerprint=fingerprint,
            command_ids=[command.pk for command in commands],
            created_at=now,
        )
        return commands, False
