"""販売店様メニュー: profile, 保守担当者, and the gateways entrusted to the dealer.

Every check goes through ``essmon.dealers.access``; a user who is not a dealer gets 404.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from essmon.accounts.http import AuthenticatedRequest
from essmon.accounts.views.common import apply_postal_lookup
from essmon.core.http import client_address
from essmon.core.japanese import format_phone, format_postal_code
from essmon.dealers import access, selectors
from essmon.dealers.access import Purpose
from essmon.dealers.forms import DealerProfileForm, StaffForm
from essmon.dealers.models import MAX_STAFF_PER_DEALER, Dealer, DealerAccess
from essmon.dealers.services.errors import DealerError
from essmon.dealers.services.records import record_view
from essmon.dealers.services.registration import update_dealer_profile
from essmon.dealers.services.staff import add_staff, confirm_staff, remove_staff
from essmon.notifications.services import MailLimitError


def _dealer_or_404(request: AuthenticatedRequest) -> Dealer:
    """The dealer of its administrator or of a staff member with a login."""
    dealer = access.dealer_of(request.user)
    if dealer is None:
        raise Http404("not a dealer")
    return dealer


def _admin_or_404(request: AuthenticatedRequest) -> Dealer:
    """The dealer, for its administrator only: staff never manage the dealer's profile,
    staff or logins (to them these pages do not exist)."""
    dealer = access.dealer_admin_of(request.user)
    if dealer is None:
        raise Http404("not a dealer's administrator")
    return dealer


@login_required
@require_GET
def menu(request: AuthenticatedRequest) -> HttpResponse:
    seat = access.dealer_seat(request.user)
    if seat is None:
        raise Http404("not a dealer")
    dealer = seat.dealer
    return render(
        request,
        "dealers/menu.html",
        {
            "dealer": dealer,
            "seat": seat,
            "admin": dealer.user,
            "entrusted_count": selectors.entrusted_count(user=request.user, dealer=dealer),
            "pending_staff": selectors.unconfirmed_staff_count(dealer=dealer),
        },
    )


# --- 保守担当者 ------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def profile(request: AuthenticatedRequest) -> HttpResponse:
    """販売店様情報の変更 (the phone number is the one customers link by)."""
    dealer = _admin_or_404(request)
    user = dealer.user
    if request.method == "POST" and request.POST.get("lookup") == "user":
        filled = apply_postal_lookup(request.POST.dict(), "user")
        return render(
            request,
            "dealers/profile.html",
            {"form": DealerProfileForm(initial=filled.data), **filled.context("user")},
        )
    initial = {
        "company_name": dealer.company_name,
        "branch": dealer.branch,
        **{f: getattr(user, f) for f in ("name", "furigana", "prefecture", "city", "address_rest")},
        "postal_code": format_postal_code(user.postal_code),
        "phone": format_phone(user.phone),
    }
    form = DealerProfileForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        update_dealer_profile(
            dealer=dealer,
            person=form.person(user.email),
            company_name=form.cleaned_data["company_name"],
            branch=form.cleaned_data["branch"],
        )
        messages.success(request, "販売店様情報を変更しました。")
        return redirect("dealers:menu")
    return render(request, "dealers/profile.html", {"form": form})


@login_required
@require_http_methods(["GET", "POST"])
def staff(request: AuthenticatedRequest) -> HttpResponse:
    """The list of 保守担当者 with the form that adds one."""
    dealer = _admin_or_404(request)
    form = StaffForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            added = add_staff(
                dealer=dealer, client_address=client_address(request), **form.cleaned_data
            )
        except (DealerError, MailLimitError) as exc:
            form.add_error(exc.field, exc.message)
        else:
            messages.success(
                request,
                f"{added.name} 様を保守担当者に追加しました。{added.email} 宛に確認のメールを"
                "送信しました。メールに記載のURLを開くと確認済みになります。",
            )
            return redirect("dealers:staff")
    staff_list = selectors.staff_of(dealer=dealer)
    return render(
        request,
        "dealers/staff.html",
        {
            "dealer": dealer,
            "form": form,
            "staff_list": staff_list,
            "max_staff": MAX_STAFF_PER_DEALER,
            "can_add": len(staff_list) < MAX_STAFF_PER_DEALER,
        },
    )


@login_required
@require_POST
def staff_remove(request: AuthenticatedRequest, staff_id: int) -> HttpResponse:
    dealer = _admin_or_404(request)
    if not selectors.has_staff_member(dealer=dealer, staff_id=staff_id):
        raise Http404("no such staff member")  # another dealer's staff does not exist here
    try:
        remove_staff(dealer=dealer, staff_id=staff_id)
    except DealerError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "保守担当者を削除しました。")
    return redirect("dealers:staff")


@require_GET
def staff_confirm(request: HttpRequest, token: str) -> HttpResponse:
    """The mailed link: public, since a 保守担当者 has no login of their own."""
    try:
        confirmed = confirm_staff(raw_token=token)
    except DealerError as exc:
        return render(
            request, "accounts/activation/invalid.html", {"message": exc.message}, status=410
        )
    return render(request, "dealers/staff_confirmed.html", {"staff": confirmed})


# --- 保守を任されているゲートウェイ --------------------------------------------------------


GATEWAYS_PAGE_SIZE = 50
SEARCH_MAX = 100


@login_required
@require_GET
def gateways(request: AuthenticatedRequest) -> HttpResponse:
    """The entrusted gateways, newest link first, searched by ID, 案件名, address or the
    customer's name, 50 a page: two queries a page (count and rows), whatever the number."""
    dealer = _dealer_or_404(request)
    query = request.GET.get("q", "").replace("\x00", "").strip()[:SEARCH_MAX]
    rows = selectors.entrusted_gateways(user=request.user, dealer=dealer, query=query)
    page = Paginator(rows, GATEWAYS_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "dealers/gateways.html",
        {"dealer": dealer, "page": page, "query": query},
    )


@login_required
@require_GET
def gateway_customer(request: AuthenticatedRequest, gateway_id: str) -> HttpResponse:
    """お客様情報 (read-only) of one entrusted gateway; each view is logged for the owner."""
    dealer = _dealer_or_404(request)
    gateway = access.gateway_or_404(request.user, gateway_id, Purpose.VIEW_CUSTOMER)
    link = access.active_link(dealer, gateway)
    if link is None:
        raise Http404("not entrusted")
    record_view(user=request.user, gateway=gateway, action=DealerAccess.Action.VIEW_CUSTOMER)
    return render(
        request,
        "dealers/gateway_customer.html",
        {
            "gateway": gateway,
            "link": link,
            "items": selectors.shared_customer_data(gateway),
            "may_replace": access.may(request.user, Purpose.REPLACE_GATEWAY, gateway),
        },
    )
