"""Who may see and do what: the one place object-level access is decided.

Roles: a customer owns gateways; a dealer sees the gateways it is linked to (and, of
their owners, only ``SHARED_ITEMS``), through its administrator's account or a staff
member's login (``DealerSeat``: 技術担当 or 閲覧のみ); a viewer (見守り) sees the live state and
history of the sites shared with it, and nothing of anyone; an operator sees everything.
Operators have two roles: 管理担当 (``is_operator``: administration, the admin and the
provisioning console) and サポート担当 (``is_support``: the support desk, every gateway's
pages read-only); both use the desk (``is_desk_operator``). Every view and API
that takes a gateway, 案件, account or dealer identifier asks here. An object the user
may not see does not exist for them: 404, never 403, so existence does not leak.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from functools import wraps
from typing import Any

from django.db.models import Exists, OuterRef, QuerySet
from django.http import Http404, HttpResponseBase
from django.shortcuts import redirect

from essmon.accounts.http import AuthenticatedRequest
from essmon.accounts.models import User
from essmon.core.replicas import reading_from_replica, reading_primary
from essmon.dealers.models import Dealer, DealerLink, MaintenanceStaff, SiteViewer
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
    ACKNOWLEDGE_ALERT = "acknowledge_alert"  # 異常の確認: linked dealers and operators


# What a dealer's person may do with a linked gateway, by role. The administrator (the
# dealer's own account) everything a dealer may; a 技術担当 the same work on the systems
# (they are the ones on site: settings, alerts, the dates, 故障交換), every act recorded
# with their name; a 閲覧のみ views only, changes nothing anywhere.
LOOK = frozenset({Purpose.VIEW, Purpose.VIEW_DETAILS, Purpose.VIEW_CUSTOMER})
WORK = LOOK | {
    Purpose.CHANGE_SETTINGS,
    Purpose.ACKNOWLEDGE_ALERT,
    Purpose.WARRANTY_DATES,
    Purpose.REPLACE_GATEWAY,
}
ADMIN = "admin"
DEALER_PURPOSES: dict[str, frozenset[Purpose]] = {
    ADMIN: WORK,
    MaintenanceStaff.LoginRole.TECHNICIAN: WORK,
    MaintenanceStaff.LoginRole.VIEWER: LOOK,
}


@dataclass(frozen=True)
class DealerSeat:
    """Who a dealer-side user is: their dealer, and ``role`` (ADMIN for the dealer's own
    account, else the staff member's ``MaintenanceStaff.LoginRole``)."""

    dealer: Dealer
    role: str
    staff: MaintenanceStaff | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == ADMIN

    @property
    def role_label(self) -> str:
        if self.is_admin:
            return "管理者"
        return MaintenanceStaff.LoginRole(self.role).label

    def may(self, purpose: Purpose) -> bool:
        return purpose in DEALER_PURPOSES.get(self.role, frozenset())


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


View = Callable[..., HttpResponseBase]


def _only(allowed: Callable[[User], bool], what: str) -> Callable[[View], View]:
    """A view decorator: users ``allowed`` gets the page, anyone else finds nothing (404),
    by any method."""

    def decorate(view: View) -> View:
        @wraps(view)
        def wrapper(request: AuthenticatedRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if not allowed(request.user):
                raise Http404(what)
            return view(request, *args, **kwargs)

        return wrapper

    return decorate


# the support desk's pages: operators of either role
desk_only = _only(is_desk_operator, "support desk")
# the provisioning console: 管理担当 only
administration_only = _only(is_operator, "provisioning console")


def is_viewer(user: User) -> bool:
    return user.is_authenticated and user.role == User.Role.VIEWER


@reading_primary()
def dealer_seat(user: User) -> DealerSeat | None:
    """The dealer ``user`` acts for and in which role, or None: one query, made on every
    request, so that ending a login, changing a role, removing the staff member or
    disabling the dealer's own account takes effect on the person's next request."""
    if not user.is_authenticated:
        return None
    if user.role == User.Role.DEALER:
        dealer = Dealer.objects.filter(user=user).first()
        return DealerSeat(dealer, ADMIN) if dealer is not None else None
    if user.role != User.Role.DEALER_STAFF:
        return None
    staff = (
        MaintenanceStaff.objects.select_related("dealer")
        .filter(user=user, login_ended_at__isnull=True, dealer__user__is_active=True)
        .exclude(login_role="")
        .first()
    )
    if staff is None:
        return None
    return DealerSeat(staff.dealer, staff.login_role, staff)


def dealer_of(user: User) -> Dealer | None:
    """The dealer ``user`` works for, as its administrator or a staff member with a login."""
    seat = dealer_seat(user)
    return seat.dealer if seat is not None else None


def dealer_admin_of(user: User) -> Dealer | None:
    """The dealer whose own account ``user`` is: its profile, staff and logins are managed
    by this account only."""
    seat = dealer_seat(user)
    return seat.dealer if seat is not None and seat.is_admin else None


def visible_gateways(user: User, purpose: Purpose = Purpose.VIEW) -> QuerySet[Gateway]:
    """The gateways ``user`` may use for ``purpose``, as a queryset to filter further.

    Who may see what is read on the primary, even where the rest of a page reads a replica
    (essmon/core/replicas.py): there the person's gateways are listed on the primary now,
    and the queryset is those ids, so an unlink, a revocation or a change of owner is not
    undone by the replica's lag. Operators see every gateway: nothing to list."""
    gateways = _visible_gateways(user, purpose)
    if not reading_from_replica() or is_operator(user) or is_support(user):
        return gateways
    with reading_primary():
        ids = list(gateways.values_list("pk", flat=True))
    return Gateway.objects.select_related("site", "owner").filter(pk__in=ids)


def _visible_gateways(user: User, purpose: Purpose) -> QuerySet[Gateway]:
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
        if purpose in (Purpose.REPLACE_GATEWAY, Purpose.ACKNOWLEDGE_ALERT):
            # the new unit is installed by a dealer or the maker; an alert is acknowledged
            # by whoever maintains the system (the owner sees the result)
            return gateways.none()
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
    seat = dealer_seat(user)
    if seat is None or not seat.may(purpose):
        return gateways.none()
    dealer = seat.dealer
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


@reading_primary()
def gateway_or_404(user: User, gateway_id: str, purpose: Purpose = Purpose.VIEW) -> Gateway:
    if "\x00" in gateway_id:  # PostgreSQL refuses NUL in text: no gateway has one
        raise Http404("no such gateway")
    gateway = visible_gateways(user, purpose).filter(gateway_id=gateway_id).first()
    if gateway is None:
        raise Http404("no such gateway")
    return gateway


@reading_primary()
def may(user: User, purpose: Purpose, gateway: Gateway) -> bool:
    """Whether ``user`` may use ``gateway`` for ``purpose`` (a button shown or not)."""
    return visible_gateways(user, purpose).filter(pk=gateway.pk).exists()


@reading_primary()
def active_link(dealer: Dealer, gateway: Gateway) -> DealerLink | None:
    return DealerLink.objects.filter(dealer=dealer, gateway=gateway, ended_at__isnull=True).first()


def is_customer(user: User) -> bool:
    return user.is_authenticated and user.role == User.Role.CUSTOMER and not is_operator(user)


def customer_only(
    view: Callable[..., HttpResponseBase],
) -> Callable[..., HttpResponseBase]:
    """Customer screens: a dealer or an operator is sent to its own menu; anyone else
    finds nothing."""

    @wraps(view)
    def wrapper(request: AuthenticatedRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not is_customer(request.user):
            if dealer_of(request.user) is not None:
                return redirect("dealers:menu")
            if is_desk_operator(request.user):
                return redirect("accounts:menu")
            raise Http404("customer screen")
        return view(request, *args, **kwargs)

    return wrapper


# Customer screens whose pages below answer anyone but the owner 404 (保守を任せる販売店様の
# 管理: each gateway's page asks Purpose.MANAGE_LINKS): the screens above them answer anyone
# but a customer the same, rather than show a dealer's people, an operator or a viewer an
# empty list of their own (other customer screens, customer_only, send some of them on)
customer_only_404 = _only(is_customer, "customer screen")
