"""Installation sites (案件)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from essmon.gateways.models import Site

if TYPE_CHECKING:  # an owner is an account, one layer up: named, never imported
    from essmon.accounts.models import User


def create_site(
    *, owner: User, name: str, postal_code: str, prefecture: str, city: str, address_rest: str
) -> Site:
    return Site.objects.create(
        owner=owner,
        name=name,
        postal_code=postal_code,
        prefecture=prefecture,
        city=city,
        address_rest=address_rest,
    )
