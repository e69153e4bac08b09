"""Reads of 名義変更 for the pages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q
from django.utils import timezone

from essmon.accounts.models import User
from essmon.gateways.models import Gateway, Site
from essmon.transfers.models import OwnershipTransfer


@dataclass(frozen=True)
class SiteRow:
    site: Site
    gateways: list[Gateway]
    pending: OwnershipTransfer | None


def open_transfer_of(site: Site, *, now: datetime | None = None) -> OwnershipTransfer | None:
    """The site's transfer that can still be claimed, if any."""
    return (
        OwnershipTransfer.objects.filter(
            site=site,
            claimed_at__isnull=True,
            cancelled_at__isnull=True,
            expires_at__gt=now or timezone.now(),
        )
        .order_by("-started_at")
        .first()
    )


def sites_of(*, owner: User) -> list[SiteRow]:
    """The owner's sites with registered gateways, each with its open transfer."""
    rows = []
    for site in Site.objects.filter(owner=owner).order_by("pk"):
        gateways = list(
            site.gateways.filter(owner=owner, state=Gateway.State.CLAIMED).order_by("gateway_id")
        )
        if gateways:
            rows.append(SiteRow(site=site, gateways=gateways, pending=open_transfer_of(site)))
    return rows


def transfers_of(*, user: User) -> list[OwnershipTransfer]:
    """Every transfer ``user`` gives or received, newest first."""
    return list(
        OwnershipTransfer.objects.filter(Q(from_owner=user) | Q(to_owner=user))
        .prefetch_related("gateways")
        .order_by("-started_at", "-pk")[:50]
    )


def given_transfer(*, user: User, transfer_id: int) -> OwnershipTransfer | None:
    return OwnershipTransfer.objects.filter(pk=transfer_id, from_owner=user).first()


def received_transfer(*, user: User, transfer_id: object) -> OwnershipTransfer | None:
    if not isinstance(transfer_id, int):
        return None
    return OwnershipTransfer.objects.filter(pk=transfer_id, to_owner=user).first()


def gateway_codes(transfer: OwnershipTransfer) -> list[str]:
    return list(transfer.gateways.order_by("gateway_code").values_list("gateway_code", flat=True))


def pending_count(*, owner: User) -> int:
    """How many of ``owner``'s transfers wait to be claimed (the main menu says so)."""
    return OwnershipTransfer.objects.filter(
        from_owner=owner,
        claimed_at__isnull=True,
        cancelled_at__isnull=True,
        expires_at__gt=timezone.now(),
    ).count()
