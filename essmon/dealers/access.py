"""Who may see and do what: the one place object-level access is decided.

Roles: a customer owns gateways; a dealer sees the gateways it is linked to (and, of
their owners, only ``SHARED_ITEMS``); a viewer (見守り) sees the live state and history of
the sites shared with it, and nothing of anyone; an operator sees everything. Operators have
two roles: 管理担当 (``is_operator``: administration, the admin and the provisioning console)
and サポート担当 (``is_support``: the support desk, every gateway's pages read-only); both
use the desk (``is_desk_operator``). Every view and API
that takes a gateway, 案件, account or dealer identifier asks here. An object the user
may not see does not exist for them: 404, never 403, so existence does not leak.
"""

from __future__ import annotations

from collections.abc import Callable
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


def is_support(user: User) -> bool:
    """サポート担当: the support desk and every gateway's pages to read, nothing else."""
    return user.is_authenticated and user.role == User.Role.SUPPORT and not user.is_superuser


def is_desk_operator(user: User) -> bool:
    """Either operator role: the support desk (essmon.support) is theirs."""
    return is_operator(user) or is_support(user)


# what a support operator may do with any gateway: read, and 故障交換 from the desk
SUPPORT_PURPOSES = frozenset(
    {Purpose.VIEW, Purpose.VIEW_DETAILS, Purpose.VIEW_CUSTOMER, Purpose.REPLACE_GATEWAY}
)
# the accounts the desk shows and acts on: the service's users, never an operator's
DESK_ROLES = (User.Role.CUSTOMER, User.Role.DEALER, User.Role.VIEWER)


def desk_person_or_404(user: User, user_id: int) -> User:
    """An account the desk shows to ``user`` (an operator of either role), or 404."""
    if not is_desk_operator(user):
        raise Http404("the support desk is for operators")
    person = User.objects.filter(pk=user_id, role__in=DESK_ROLES, is_superuser=False).first()
    if person is None:
        raise Http404("no such account")
    return person


def desk_only(
    view: Callable[..., HttpResponseBase],
) -> Callable[..., HttpResponseBase]:
    """The support desk's pages: operators of either role; anyone else finds nothing."""

    @wraps(view)
    def wrapper(request: AuthenticatedRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not is_desk_operator(request.user):
            raise Http404("support desk")
        return view(request, *args, **kwargs)

    return wrapper


def administration_only(
    view: Callable[..., HttpResponseBase],
) -> Callable[..., HttpResponseBase]:
    """The provisioning console: 管理担当 only; anyone else finds nothing."""

    @wraps(view)
    def wrapper(request: AuthenticatedRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not is_operator(request.user):
            raise Http404("provisioning console")
        return view(request, *args, **kwargs)

    return wrapper


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
    if is_support(user):
        return gateways if purpose in SUPPORT_PURPOSES else gateways.none()
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
            if is_desk_operator(request.user):
                return redirect("accounts:menu")
            raise Http404("customer screen")
        return view(request, *args, **kwargs)

    return wrapper
