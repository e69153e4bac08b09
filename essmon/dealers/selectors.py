"""Reads about dealers: their people, links and records, and the pages' lists."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Count, OuterRef, Q, QuerySet, Subquery

from essmon.accounts.models import User
from essmon.core.japanese import format_phone, format_postal_code, to_halfwidth_ascii
from essmon.dealers import access
from essmon.dealers.disclosure import SHARED_ITEMS
from essmon.dealers.models import Dealer, DealerAccess, DealerLink, MaintenanceStaff, SiteViewer
from essmon.gateways.identifiers import normalize_gateway_id
from essmon.gateways.models import Gateway
from essmon.gateways.search import search as fleet_search


def alert_recipients(*, dealer: Dealer) -> list[str]:
    """Confirmed 保守担当者 addresses: the only ones that receive mail about systems."""
    return list(dealer.staff.filter(confirmed_at__isnull=False).values_list("email", flat=True))


def maintenance_staff(*, gateway: Gateway) -> QuerySet[MaintenanceStaff]:
    """The confirmed 保守担当者 of every dealer linked to ``gateway`` now, whose account is
    active: who is mailed about the system (alerts, warranty warnings)."""
    return MaintenanceStaff.objects.filter(
        dealer__links__gateway=gateway,
        dealer__links__ended_at__isnull=True,
        dealer__user__is_active=True,
        confirmed_at__isnull=False,
    )


def acting_as(user: User | None) -> tuple[str, Dealer | None]:
    """Who did something, in the words the audit logs show, written down when it happens so
    that it still reads right after a rename or an unlink: the customer, which dealer and
    which of its people, the operator, or the system; and the dealer, when it was one."""
    if user is None:
        return "システム", None
    if user.role in (User.Role.DEALER, User.Role.DEALER_STAFF):
        dealer = access.dealer_of(user)
        if dealer is not None:
            branch = f" {dealer.branch}" if dealer.branch else ""
            return f"販売店 {dealer.company_name}{branch}({user.name})", dealer
    if user.role == User.Role.CUSTOMER:
        return f"お客様({user.name})", None
    return f"運営({user.name})", None


def gateway_records(gateway: Gateway, *, since: datetime | None = None) -> QuerySet[DealerAccess]:
    """販売店様による閲覧・変更の記録 of one gateway, newest first; from ``since`` on when
    given (名義変更: what the owner before's dealers did is not the new owner's to see)."""
    records = DealerAccess.objects.filter(gateway=gateway)
    if since is not None:
        records = records.filter(at__gte=since)
    return records.select_related("dealer")


def dealer_with_pk(pk: int | None, *, active: bool = False) -> Dealer | None:
    """The dealer with this primary key; with ``active``, only if its account is active."""
    if pk is None:
        return None
    dealers = Dealer.objects.filter(pk=pk)
    if active:
        dealers = dealers.filter(user__is_active=True)
    return dealers.first()


# --- the customer's pages of 保守を任せる販売店様 -------------------------------------


def gateways_with_link_counts(*, user: User, query: str = "") -> QuerySet[Gateway]:
    """The customer's gateways with their number of linked dealers (``linked``), by ID or
    案件名."""
    gateways = access.visible_gateways(user, access.Purpose.MANAGE_LINKS).annotate(
        linked=Count("dealer_links", filter=Q(dealer_links__ended_at__isnull=True))
    )
    if query:
        match = Q(site__name__icontains=query)
        gateway_id = normalize_gateway_id(query)
        if gateway_id:
            match |= Q(gateway_id__icontains=gateway_id)
        gateways = gateways.filter(match)
    return gateways.order_by("gateway_id")


def active_links(*, gateway: Gateway, query: str = "") -> QuerySet[DealerLink]:
    """The dealers maintaining ``gateway`` now, oldest link first; with ``query``, those
    whose 販売店ID, name or branch holds it."""
    links = (
        gateway.dealer_links.filter(ended_at__isnull=True)
        .select_related("dealer")
        .order_by("created_at")
    )
    if query:
        code = to_halfwidth_ascii(query).strip().upper()
        links = links.filter(
            Q(dealer__dealer_code__icontains=code)
            | Q(dealer__company_name__icontains=query)
            | Q(dealer__branch__icontains=query)
        )
    return links


def active_link_count(*, gateway: Gateway) -> int:
    return active_links(gateway=gateway).count()


def any_active_link(*, gateway: Gateway) -> bool:
    return active_links(gateway=gateway).exists()


def active_link_to(*, gateway: Gateway, dealer_code: str) -> DealerLink | None:
    return active_links(gateway=gateway).filter(dealer__dealer_code=dealer_code).first()


def link_history(*, gateway: Gateway, since: datetime | None = None) -> QuerySet[DealerLink]:
    """Every link of ``gateway``, ended ones too, newest first; with ``since`` (名義変更:
    access.history_floor) those made from then on, the owner before's being theirs."""
    links = gateway.dealer_links.select_related("dealer")
    if since is not None:
        links = links.filter(created_at__gte=since)
    return links.order_by("-created_at", "-pk")


# --- the dealer's pages -------------------------------------------------------------


def entrusted_gateways(*, user: User, dealer: Dealer, query: str = "") -> QuerySet[Gateway]:
    """The gateways entrusted to the dealer, each with ``linked_at`` of its active link,
    newest link first; with ``query``, those the one search over gateways finds."""
    since = DealerLink.objects.filter(
        gateway=OuterRef("pk"), dealer=dealer, ended_at__isnull=True
    ).values("created_at")[:1]
    gateways = (
        access.visible_gateways(user)
        .annotate(linked_at=Subquery(since))
        .order_by("-linked_at", "gateway_id")
    )
    if query:
        gateways = gateways.filter(fleet_search(query))
    return gateways


def entrusted_count(*, user: User, dealer: Dealer) -> int:
    return entrusted_gateways(user=user, dealer=dealer).count()


def unconfirmed_staff_count(*, dealer: Dealer) -> int:
    return dealer.staff.filter(confirmed_at__isnull=True).count()


def staff_of(*, dealer: Dealer) -> QuerySet[MaintenanceStaff]:
    return dealer.staff.select_related("user", "login_token").order_by("created_at", "pk")


def staff_member(*, dealer: Dealer, staff_id: int) -> MaintenanceStaff | None:
    return dealer.staff.select_related("user", "login_token").filter(pk=staff_id).first()


PERSON_RECORDS_SHOWN = 50


def person_records(*, dealer: Dealer, user: User | None) -> list[DealerAccess]:
    """What one of the dealer's people viewed and changed, newest first (the latest 50):
    the administrator's view of a staff member's part in the customers' records."""
    if user is None:
        return []
    rows = DealerAccess.objects.filter(dealer=dealer, user=user).select_related("gateway")
    return list(rows.order_by("-last_at", "-pk")[:PERSON_RECORDS_SHOWN])


def staff_address_clash(*, user: User, new_email: str) -> bool:
    """Whether ``user``'s address change to ``new_email`` would move a row of its dealer's
    保守担当者 onto another row's address (the dealer's own account moves the rows with its
    old address, a staff member their own row: dealers.receivers)."""
    if user.role == User.Role.DEALER:
        moving = MaintenanceStaff.objects.filter(dealer__user=user, email__iexact=user.email)
    elif user.role == User.Role.DEALER_STAFF:
        moving = MaintenanceStaff.objects.filter(user=user)
    else:
        return False
    return (
        MaintenanceStaff.objects.filter(dealer__in=moving.values("dealer"), email__iexact=new_email)
        .exclude(pk__in=moving.values("pk"))
        .exists()
    )


def has_staff_member(*, dealer: Dealer, staff_id: int) -> bool:
    return dealer.staff.filter(pk=staff_id).exists()


def shared_customer_data(gateway: Gateway) -> list[tuple[str, str]]:
    """The owner's data a linked dealer may see: exactly ``SHARED_ITEMS``, in its order."""
    owner, site = gateway.owner, gateway.site
    assert owner is not None  # an entrusted gateway is registered, so it has an owner
    values = {
        "name": owner.name,
        "furigana": owner.furigana,
        "company_name": owner.company_name or "—",
        "department": owner.department or "—",
        "address": f"〒{format_postal_code(owner.postal_code)} {owner.address}",
        "phone": format_phone(owner.phone),
        "email": owner.email,
        "site": f"{site.name}(〒{format_postal_code(site.postal_code)} {site.address})"
        if site
        else "—",
    }
    # "system" (the storage system's state and settings) is shown by the monitoring site
    return [(label, values[key]) for key, label in SHARED_ITEMS if key in values]


def viewers_of(*, owner: User) -> list[SiteViewer]:
    """The owner's 見守り, each with its gateway: open ones first, newest first."""
    rows = list(
        SiteViewer.objects.filter(invited_by=owner, gateway__owner=owner)
        .select_related("gateway", "token", "viewer", "revoked_by")
        .order_by("-invited_at", "-pk")
    )
    return sorted(rows, key=lambda row: not row.is_open)


def viewer_gateway_choices(*, owner: User) -> list[tuple[str, str]]:
    """The systems an owner may share with a viewer, for the invitation's select."""
    rows = access.visible_gateways(owner, access.Purpose.MANAGE_VIEWERS).order_by("gateway_id")
    return [
        (gateway_id, f"{gateway_id} {site_name}" if site_name else gateway_id)
        for gateway_id, site_name in rows.values_list("gateway_id", "site__name")
    ]
