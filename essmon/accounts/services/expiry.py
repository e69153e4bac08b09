"""Provisional registrations that end without 本登録: their link lapsed (the periodic
job), or too many wrong phone numbers voided it."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from essmon.accounts import selectors, signals
from essmon.accounts.models import User
from essmon.accounts.services.errors import AccountError
from essmon.gateways.models import Gateway, Site
from essmon.gateways.services.claims import release_expired_reservations, release_held_gateways

logger = logging.getLogger(__name__)


def discard_provisional(user: User) -> None:
    """Delete a provisional account and give its gateways back to the unclaimed pool,
    without the warranty dates it typed."""
    # warranty builds on accounts: it forgets the dates (essmon/warranty/receivers.py)
    signals.provisional_discarded.send(
        sender=User, gateways=Gateway.objects.filter(owner=user, state=Gateway.State.HELD)
    )
    release_held_gateways(owner=user)
    user.delete()  # its 案件 go with it


def release_expired_registrations() -> int:
    """Periodic job: provisional registrations whose link expired free their gateways, and
    so do the holds of registrations with an address that had an account (at the same
    age: see registration.register_customer)."""
    now = timezone.now()
    release_expired_reservations(older_than=timedelta(days=settings.ACTIVATION_DAYS))
    count = 0
    for user_id in selectors.lapsed_registrations(now=now):
        try:
            with transaction.atomic():
                user = User.objects.select_for_update().get(pk=user_id, activated_at__isnull=True)
                discard_provisional(user)
                count += 1
        except User.DoesNotExist:
            continue
        except Exception:  # one bad row must not stop the sweep
            logger.exception("could not release provisional registration of user %s", user_id)
    return count


NOT_HELD = "このゲートウェイは仮登録中ではありません。"


def release_hold(*, gateway: Gateway) -> Gateway:
    """An operator gives a held (仮登録中) gateway back to the unclaimed pool at once, as
    the lapse of its registration would: held by a provisional account, the gateway leaves
    it with its 案件 (when no other gateway is there) and the warranty dates typed; held
    for an existing account (a reservation), the reservation ends. The account itself
    stays: a provisional one may still activate and then register a gateway."""
    with transaction.atomic():
        held = Gateway.objects.select_for_update().filter(pk=gateway.pk).first()
        if held is None or held.state != Gateway.State.HELD:
            raise AccountError(NOT_HELD)
        site_id = held.site_id
        if held.owner_id is not None:
            signals.provisional_discarded.send(
                sender=User, gateways=Gateway.objects.filter(pk=held.pk)
            )
        Gateway.objects.filter(pk=held.pk).update(
            state=Gateway.State.UNCLAIMED, owner=None, site=None, held_at=None, reserved_for=None
        )
        if site_id is not None:
            Site.objects.filter(pk=site_id, gateways__isnull=True).delete()
    held.refresh_from_db()
    return held
