"""Commands: made by a person, handed to the gateway (HTTPS poll or MQTT), answered by it.

pending → sent → applied / rejected, or expired when not answered in time; a newer change
of the same setting supersedes one not handed out yet.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from essmon.accounts.models import User
from essmon.commands import signals
from essmon.commands.models import Command
from essmon.dealers.selectors import acting_as
from essmon.gateways.models import Gateway
from essmon.gateways.schema import validate_setting
from essmon.telemetry.connectivity import record_contacts
from essmon.telemetry.ingest import (
    IngestResult,
    SampleError,
    check_choice,
    check_timestamp,
    check_whole_number,
    partition_items,
)
from essmon.telemetry.models import GatewayLiveState

logger = logging.getLogger(__name__)

COMMAND_LIFETIME = timedelta(hours=24)
# An MQTT command not answered after this long is published again: the first publish may
# have died with the worker before it reached the broker. Gateways apply an id only once.
RESEND_AFTER = timedelta(minutes=5)
MAX_RESULTS_PER_REQUEST = 100
REASON_MAX = 200


def request_setting_change(
    *,
    gateway: Gateway,
    setting: str,
    value: object,
    requested_by: User | None,
    now: datetime | None = None,
) -> Command:
    """A command to change one setting; SettingError (Japanese) when the model refuses it."""
    now = now or timezone.now()
    clean = validate_setting(gateway.model, setting, value)
    with transaction.atomic():
        # one change at a time per gateway, so two people's changes supersede in order
        Gateway.objects.select_for_update().filter(pk=gateway.pk).first()
        in_force = (
            GatewayLiveState.objects.filter(gateway=gateway)
            .values_list("settings_in_force", flat=True)
            .first()
        ) or {}
        Command.objects.filter(
            gateway=gateway, setting=setting, status=Command.Status.PENDING
        ).update(status=Command.Status.SUPERSEDED, answered_at=now)
        command = Command.objects.create(
            gateway=gateway,
            setting=setting,
            value=clean,
            requested_by=requested_by,
            requested_as=acting_as(requested_by)[0],
            requested_at=now,
            previous_value=in_force.get(setting),
            expires_at=now + COMMAND_LIFETIME,
        )
    logger.info(
        "command %s for %s: %s=%r by %s",
        command.pk,
        gateway.gateway_id,
        setting,
        clean,
        requested_by.pk if requested_by else "system",
    )
    return command


def as_message(command: Command) -> dict[str, Any]:
    """The command as the protocol sends it (section 2.5)."""
    return {
        "id": command.pk,
        "setting": command.setting,
        "value": command.value,
        "issued_at": timezone.localtime(command.requested_at).isoformat(),
        "expires_at": timezone.localtime(command.expires_at).isoformat(),
    }


def hand_out(gateway: Gateway, *, now: datetime | None = None) -> list[Command]:
    """The gateway's unanswered commands, oldest first; pending ones become sent. Sent ones
    come again until answered, so a lost answer to the gateway loses no command."""
    now = now or timezone.now()
    with transaction.atomic():
        record_contacts([gateway.pk], now=now)  # asking for commands is being heard from
        commands = list(
            Command.objects.select_for_update()
            .filter(gateway=gateway, status__in=Command.OPEN, expires_at__gt=now)
            .order_by("requested_at", "pk")
        )
        fresh = [c.pk for c in commands if c.status == Command.Status.PENDING]
        if fresh:
            Command.objects.filter(pk__in=fresh).update(status=Command.Status.SENT, sent_at=now)
    return commands


def claim_for_broker(*, now: datetime | None = None, limit: int = 500) -> list[Command]:
    """Commands to publish on MQTT for gateways last heard over MQTT: new ones, and sent
    ones unanswered for RESEND_AFTER.
    SKIP LOCKED lets several ingest workers share the work without publishing twice."""
    now = now or timezone.now()
    with transaction.atomic():
        commands = list(
            # of=self: the joined gateway rows are not locked against ingest and new commands
            Command.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("gateway")
            # only gateways heard over MQTT: an HTTPS gateway's commands wait for its poll,
            # so they stay pending (and supersedable) until it really takes them
            .filter(expires_at__gt=now, gateway__live__transport="mqtt")
            .filter(
                Q(status=Command.Status.PENDING)
                | Q(status=Command.Status.SENT, sent_at__lte=now - RESEND_AFTER)
            )
            .order_by("requested_at", "pk")[:limit]
        )
        if commands:
            Command.objects.filter(pk__in=[c.pk for c in commands]).update(
                status=Command.Status.SENT, sent_at=now
            )
    return commands


def expire_commands(*, now: datetime | None = None) -> int:
    """Periodic job: commands not answered in time expire."""
    now = now or timezone.now()
    return Command.objects.filter(status__in=Command.OPEN, expires_at__lte=now).update(
        status=Command.Status.EXPIRED, answered_at=now
    )


def expire_open_commands(*, gateway: Gateway, now: datetime | None = None) -> int:
    """The unit these commands were for was replaced (故障交換): they expire rather than go
    to the new unit, which starts from its own settings; whoever asked sees them 期限切れ
    and can ask the new unit again."""
    now = now or timezone.now()
    return Command.objects.filter(gateway=gateway, status__in=Command.OPEN).update(
        status=Command.Status.EXPIRED, answered_at=now
    )


def validate_result(raw: object, *, gateway: Gateway, now: datetime) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise SampleError("result: expected a JSON object")
    missing = [n for n in ("command_id", "status", "ts") if n not in raw]
    if missing:
        raise SampleError(f"missing field(s): {', '.join(missing)}")
    command_id = check_whole_number("command_id", raw["command_id"], low=1)
    status = check_choice("status", raw["status"], ("applied", "rejected"))
    reason = raw.get("reason", "")
    if not isinstance(reason, str) or len(reason) > REASON_MAX:
        raise SampleError(f"reason: expected a string of at most {REASON_MAX} characters")
    if status == "rejected" and not reason.strip():
        raise SampleError("reason: required when status is rejected")
    ts = check_timestamp(raw["ts"], gateway=gateway, now=now)
    return {"command_id": command_id, "status": status, "ts": ts, "reason": reason}


def record_results(
    *, gateway: Gateway, results: list[Any], now: datetime | None = None
) -> IngestResult:
    """Store the gateway's answers to its commands; a repeat is a duplicate, an answer to a
    command that is not open (or not this gateway's) is refused with the reason."""
    now = now or timezone.now()
    outcome, valid = partition_items(
        results,
        lambda raw: validate_result(raw, gateway=gateway, now=now),
        lambda c: c["command_id"],
    )
    index_of: dict[int, int] = {}
    for index, raw in enumerate(results):
        # a refused result's command_id may be a list or an object: not a key to look up
        command_id = raw.get("command_id") if isinstance(raw, dict) else None
        if type(command_id) is int and command_id in valid:
            index_of.setdefault(command_id, index)
    with transaction.atomic():
        # the live state first, then the commands: hand_out's order, so the two never deadlock
        record_contacts([gateway.pk], now=now)
        commands = {
            c.pk: c
            for c in Command.objects.select_for_update().filter(gateway=gateway, pk__in=list(valid))
        }
        for command_id, result in valid.items():
            refusal = _answer(commands.get(command_id), result, now=now)
            if refusal == "duplicate":
                outcome.duplicates += 1
            elif refusal:
                outcome.rejected.append({"index": index_of[command_id], "reason": refusal})
            else:
                outcome.accepted += 1
    outcome.rejected.sort(key=lambda r: r["index"])
    return outcome


def _answer(command: Command | None, result: dict[str, Any], *, now: datetime) -> str:
    """Store one answer; '' when stored, 'duplicate', or why it was refused."""
    command_id = result["command_id"]
    if command is None:
        return f"command_id: {command_id} is not a command for this gateway"
    if command.status in (Command.Status.APPLIED, Command.Status.REJECTED):
        if command.status == result["status"]:
            return "duplicate"
        return f"command_id: {command_id} was already answered as {command.status}"
    if command.status in (Command.Status.EXPIRED, Command.Status.SUPERSEDED):
        return f"command_id: {command_id} is {command.status}; it must not be applied"
    command.status = result["status"]
    command.result_ts = result["ts"]
    command.reason = result["reason"]
    command.answered_at = now
    command.save(update_fields=["status", "result_ts", "reason", "answered_at"])
    signals.command_answered.send(sender=Command, command=command)
    return ""
