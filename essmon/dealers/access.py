"""Who may see and do what: the one place object-level access is decided.

Roles: a customer owns gateways; a dealer sees the gateways it is linked to (and, of
their owners, only ``SHARED_ITEMS``); a viewer (見守り) sees the live state and history of
the sites shared with it, and nothing of anyone; an operator sees everything. Every view and API
that takes a gateway, 案件, account or dealer identifier asks here. An object the user
may not see does not exist for them: 404, never 403, so existence does not leak.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from enum import Enum
from functools import wraps
from typing import Any

from django.db.models import Exists, OuterRef, QuerySet
from django.http import Http404, HttpResponseBase
from django.shortcuts import redirect

from essmon.accounts.http import AuthenticatedRequest
from essmon.accounts.models import User
from essmon.dealers.models import Dealer, DealerLink, SiteViewer
from essmon.gateways.models import Gateway


class Purpose(Enum):
    VIEW = "view"  # live state and history: owner, linked dealer, operator, viewer
    # settings, warranty, alerts: as VIEW, but never a viewer (they carry personal data)
    VIEW_DETAILS = "view_details"
    VIEW_CUSTOMER = "view_customer"  # the owner's registration data (policy fields for dealers)
    CHANGE_SETTINGS = "change_settings"  # the storage system's settings
    MANAGE_LINKS = "manage_links"  # link or unlink dealers: the owner only
    MANAGE_VIEWERS = "manage_viewers"  # invite or revoke viewers: the owner only
    WARRANTY_DATES = "warranty_dates"  # 系統連系日/受取日: the owner and linked dealers
    REPLACE_GATEWAY = "replace_gateway"  # 故障交換: linked dealers and operators, not the owner


def is_operator(user: User) -> bool:
    return user.is_authenticated and (user.role == User.Role.OPERATOR or user.is_superuser)


def is_viewer(user: User) -> bool:
    return user.is_authenticated and user.role == User.Role.VIEWER


def dealer_of(user: User) -> Dealer | None:
    if not user.is_authenticated or user.role != User.Role.DEALER:
        return None
    return Dealer.objects.filter(user=user).first()


def visible_gateways(user: User, purpose: Purpose = Purpose.VIEW) -> QuerySet[Gateway]:
    """The gateways ``user`` may use for ``purpose``, as a queryset to filter further."""
    gateways = Gateway.objects.select_related("site", "owner")
    if not user.is_authenticated:
        return gateways.none()
    if is_operator(user):
        # operators correct nothing here: the warranty dates are the customer's statement
        owner_side = (Purpose.MANAGE_LINKS, Purpose.MANAGE_VIEWERS, Purpose.WARRANTY_DATES)
        return gateways if purpose not in owner_side else gateways.none()
    if user.role == User.Role.CUSTOMER:
        if purpose == Purpose.REPLACE_GATEWAY:
            return gateways.none()  # the new unit is installed by a dealer or the maker
        return gateways.filter(owner=user, state=Gateway.State.CLAIMED)
    if user.role == User.Role.VIEWER:
        if purpose != Purpose.VIEW:
            return gateways.none()
        # per request, so a revocation takes effect at once; the inviter must still own the
        # gateway, so a change of owner ends every viewer the former owner invited
        return gateways.filter(
            Exists(
                SiteViewer.objects.filter(
                    gateway=OuterRef("pk"),
                    invited_by=OuterRef("owner"),
                    viewer=user,
                    accepted_at__isnull=False,
                    revoked_at__isnull=True,
                )
            ),
            state=Gateway.State.CLAIMED,
        )
    dealer = dealer_of(user)
    if dealer is None or purpose in (Purpose.MANAGE_LINKS, Purpose.MANAGE_VIEWERS):
        return gateways.none()
    # evaluated per request, so an unlink takes effect on the dealer's very next request;
    # EXISTS rather than a join, so no DISTINCT gets in the way of sorting large fleets
    return gateways.filter(
        Exists(
            DealerLink.objects.filter(gateway=OuterRef("pk"), dealer=dealer, ended_at__isnull=True)
        )
    )


def history_floor(user: User, gateway: Gateway) -> datetime | None:
    """名義変更: the oldest moment ``user`` may see of ``gateway``'s history (its samples,
    rollups, alerts, settings log, warranty date changes, data export), or None for all of
    it. The owner, and the viewers the owner invited, see the owner's time only
    (``Gateway.owner_since``); dealers and operators look after the equipment and see its
    whole history (docs/transfers.md)."""
    if not user.is_authenticated or is_operator(user):
        return None
    if user.role in (User.Role.CUSTOMER, User.Role.VIEWER):
        return gateway.owner_since
    return None


def gateway_or_404(user: User, gateway_id: str, purpose: Purpose = Purpose.VIEW) -> Gateway:
    if "\x00" in gateway_id:  # PostgreSQL refuses NUL in text: no gateway has one
        raise Http404("no such gateway")
    gateway = visible_gateways(user, purpose).filter(gateway_id=gateway_id).first()
    if gateway is None:
        raise Http404("no such gateway")
    return gateway


def active_link(dealer: Dealer, gateway: Gateway) -> DealerLink | None:
    return DealerLink.objects.filter(dealer=dealer, gateway=gateway, ended_at__isnull=True).first()


def customer_only(
    view: Callable[..., HttpResponseBase],
) -> Callable[..., HttpResponseBase]:
    """Customer screens: a dealer or an operator is sent to its own menu; anyone else
    finds nothing."""

    @wraps(view)
    def wrapper(request: AuthenticatedRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if request.user.role != User.Role.CUSTOMER or is_operator(request.user):
            if dealer_of(request.user) is not None:
                return redirect("dealers:menu")
            if is_operator(request.user):
                return redirect("accounts:menu")
            raise Http404("customer screen")
        return view(request, *args, **kwargs)

    return wrapper
