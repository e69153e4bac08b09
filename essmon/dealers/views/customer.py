"""管理・登録サイト: 保守を任せる販売店様の管理 (the customer links and unlinks dealers).

Every gateway comes from ``access`` with ``Purpose.MANAGE_LINKS``: the owner only, and
404 for anyone else; every screen, those without a gateway too, answers 404 to anyone but a
customer (``access.customer_only_404``). The rules (pair check, five per gateway, consent record, mails) are
the services'; these views only carry the input between the screens.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from essmon.accounts.http import AuthenticatedRequest
from essmon.core.http import client_address
from essmon.dealers import access, selectors
from essmon.dealers.disclosure import (
    CONSENT_LEAD,
    CONSENT_TAIL,
    RECORDED_ACTIVITIES,
    SHARED_ITEMS,
    record_retention_text,
)
from essmon.dealers.forms_links import (
    ConsentForm,
    DealerPairForm,
    DealerSearchForm,
    GatewaySearchForm,
)
from essmon.dealers.models import MAX_DEALERS_PER_GATEWAY, Dealer
from essmon.dealers.services.errors import DealerError
from essmon.dealers.services.links import check_can_link, find_dealer, link_dealer, unlink_dealer
from essmon.dealers.services.records import ACCESS_COLLAPSE_WINDOW
from essmon.gateways.models import Gateway

PENDING_KEY = "dealer_link_pending"  # the pair found for a gateway, until 「登録」
LINKED_KEY = "dealer_link_done"
UNLINKED_KEY = "dealer_unlink_done"
ACCESS_LOG_PAGE = 50


# --- what the screens share ---------------------------------------------------------


def _gateway(request: AuthenticatedRequest, gateway_id: str) -> Gateway:
    return access.gateway_or_404(request.user, gateway_id, access.Purpose.MANAGE_LINKS)


def _finished(request: HttpRequest, key: str, gateway: Gateway) -> Dealer | None:
    """The dealer a just-finished link or unlink named (once: a reload goes to the menu)."""
    done = request.session.pop(key, None)
    if not done or done.get("gateway_id") != gateway.gateway_id:
        return None
    return selectors.dealer_with_pk(done.get("dealer_id"))


# --- 保守を任せる販売店様の管理メニュー ---------------------------------------------


@login_required
@access.customer_only_404
@require_GET
def menu(request: AuthenticatedRequest) -> HttpResponse:
    return render(
        request,
        "dealers/links/menu.html",
        {
            "gateways": selectors.gateways_with_link_counts(user=request.user),
            "max_dealers": MAX_DEALERS_PER_GATEWAY,
        },
    )


@login_required
@access.customer_only_404
@require_GET
def gateway(request: AuthenticatedRequest, gateway_id: str) -> HttpResponse:
    """One gateway: the dealers maintaining it, what they did, and the link history."""
    gateway = _gateway(request, gateway_id)
    since = access.history_floor(request.user, gateway)
    page = Paginator(selectors.gateway_records(gateway, since=since), ACCESS_LOG_PAGE).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "dealers/links/gateway.html",
        {
            "gateway": gateway,
            "links": selectors.active_links(gateway=gateway),
            "history": selectors.link_history(gateway=gateway, since=since),
            "accesses": page,
            "recorded_activities": RECORDED_ACTIVITIES,
            "record_retention": record_retention_text(),
            "collapse_minutes": int(ACCESS_COLLAPSE_WINDOW.total_seconds() // 60),
            "shared_items": [label for _, label in SHARED_ITEMS],
            "max_dealers": MAX_DEALERS_PER_GATEWAY,
        },
    )


def _gateway_search(request: AuthenticatedRequest, *, flow: str) -> HttpResponse:
    """The gateway search both flows start with; ``flow`` decides where a gateway ID leads."""
    form = GatewaySearchForm(request.GET)
    return render(
        request,
        "dealers/links/gateway_search.html",
        {
            "flow": flow,
            "form": form,
            "gateways": selectors.gateways_with_link_counts(user=request.user, query=form.query()),
            "max_dealers": MAX_DEALERS_PER_GATEWAY,
        },
    )


# --- 保守を任せる販売店様登録: search → 販売店ID and phone → confirmation → completion --


@login_required
@access.customer_only_404
@require_GET
def link_search(request: AuthenticatedRequest) -> HttpResponse:
    return _gateway_search(request, flow="link")


@login_required
@access.customer_only_404
@require_http_methods(["GET", "POST"])
def link_form(request: AuthenticatedRequest, gateway_id: str) -> HttpResponse:
    gateway = _gateway(request, gateway_id)
    if request.method == "POST":
        form = DealerPairForm(request.POST)
        if form.is_valid():
            try:
                dealer = find_dealer(
                    customer=request.user,
                    dealer_code=form.cleaned_data["dealer_code"],
                    phone=form.cleaned_data["phone"],
                )
                check_can_link(gateway=gateway, dealer=dealer)
            except DealerError as exc:
                form.add_error(exc.field, exc.message)
            else:
                request.session[PENDING_KEY] = {
                    "gateway_id": gateway.gateway_id,
                    "dealer_id": dealer.pk,
                    "dealer_code": form.cleaned_data["dealer_code"],
                    "phone": form.cleaned_data["phone"],
                }
                return redirect("links:link_confirm", gateway_id=gateway.gateway_id)
    else:
        pending = request.session.get(PENDING_KEY) or {}
        initial = pending if pending.get("gateway_id") == gateway.gateway_id else {}
        form = DealerPairForm(initial={k: initial.get(k, "") for k in ("dealer_code", "phone")})
    linked = selectors.active_link_count(gateway=gateway)
    return render(
        request,
        "dealers/links/link_form.html",
        {
            "gateway": gateway,
            "form": form,
            "linked": linked,
            "full": linked >= MAX_DEALERS_PER_GATEWAY,
            "max_dealers": MAX_DEALERS_PER_GATEWAY,
        },
    )


@login_required
@access.customer_only_404
@require_http_methods(["GET", "POST"])
def link_confirm(request: AuthenticatedRequest, gateway_id: str) -> HttpResponse:
    gateway = _gateway(request, gateway_id)
    pending = request.session.get(PENDING_KEY) or {}
    dealer = None
    dealer_id = pending.get("dealer_id")
    if pending.get("gateway_id") == gateway.gateway_id and dealer_id is not None:
        dealer = selectors.dealer_with_pk(dealer_id, active=True)
    if dealer is None or (request.method == "POST" and "back" in request.POST):
        return redirect("links:link_form", gateway_id=gateway.gateway_id)
    form = ConsentForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            link_dealer(
                customer=request.user,
                gateway=gateway,
                dealer=dealer,
                client_address=client_address(request),
            )
        except DealerError as exc:
            form.add_error(None, exc.message)
        else:
            request.session.pop(PENDING_KEY, None)
            request.session[LINKED_KEY] = {"gateway_id": gateway.gateway_id, "dealer_id": dealer.pk}
            return redirect("links:link_done", gateway_id=gateway.gateway_id)
    return render(
        request,
        "dealers/links/link_confirm.html",
        {
            "gateway": gateway,
            "dealer": dealer,
            "form": form,
            "shared_items": [label for _, label in SHARED_ITEMS],
            "consent_lead": CONSENT_LEAD,
            "consent_tail": CONSENT_TAIL,
            "recorded_activities": RECORDED_ACTIVITIES,
            "record_retention": record_retention_text(),
        },
    )


@login_required
@access.customer_only_404
@require_GET
def link_done(request: AuthenticatedRequest, gateway_id: str) -> HttpResponse:
    gateway = _gateway(request, gateway_id)
    dealer = _finished(request, LINKED_KEY, gateway)
    if dealer is None:
        return redirect("links:menu")
    return render(request, "dealers/links/link_done.html", {"gateway": gateway, "dealer": dealer})


# --- 保守している販売店様解除: search → the linked dealers → confirmation → completion --


@login_required
@access.customer_only_404
@require_GET
def unlink_search(request: AuthenticatedRequest) -> HttpResponse:
    return _gateway_search(request, flow="unlink")


@login_required
@access.customer_only_404
@require_GET
def unlink_dealers(request: AuthenticatedRequest, gateway_id: str) -> HttpResponse:
    gateway = _gateway(request, gateway_id)
    form = DealerSearchForm(request.GET)
    query = form.query()
    return render(
        request,
        "dealers/links/unlink_dealers.html",
        {
            "gateway": gateway,
            "form": form,
            "query": query,
            "links": selectors.active_links(gateway=gateway, query=query),
            "any_linked": selectors.any_active_link(gateway=gateway),
        },
    )


@login_required
@access.customer_only_404
@require_http_methods(["GET", "POST"])
def unlink_confirm(
    request: AuthenticatedRequest, gateway_id: str, dealer_code: str
) -> HttpResponse:
    gateway = _gateway(request, gateway_id)
    link = selectors.active_link_to(gateway=gateway, dealer_code=dealer_code)
    if link is None:
        raise Http404("no such link")
    if request.method == "POST":
        if "back" in request.POST:
            return redirect("links:unlink_dealers", gateway_id=gateway.gateway_id)
        try:
            unlink_dealer(customer=request.user, gateway=gateway, dealer=link.dealer)
        except DealerError as exc:
            messages.error(request, exc.message)
            return redirect("links:unlink_dealers", gateway_id=gateway.gateway_id)
        request.session[UNLINKED_KEY] = {
            "gateway_id": gateway.gateway_id,
            "dealer_id": link.dealer_id,
        }
        return redirect("links:unlink_done", gateway_id=gateway.gateway_id)
    return render(
        request,
        "dealers/links/unlink_confirm.html",
        {"gateway": gateway, "link": link, "dealer": link.dealer},
    )


@login_required
@access.customer_only_404
@require_GET
def unlink_done(request: AuthenticatedRequest, gateway_id: str) -> HttpResponse:
    gateway = _gateway(request, gateway_id)
    dealer = _finished(request, UNLINKED_KEY, gateway)
    if dealer is None:
        return redirect("links:menu")
    return render(request, "dealers/links/unlink_done.html", {"gateway": gateway, "dealer": dealer})
