"""名義変更: the seller's pages under /menu/transfers/ (start with the password, the code
shown once, cancel), the buyer's 「名義変更の受け取り」, and the operator's start page."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from essmon.accounts.http import AuthenticatedRequest
from essmon.accounts.models import User
from essmon.core.http import client_address
from essmon.dealers.access import customer_only, is_desk_operator, is_operator
from essmon.gateways.models import Gateway, Site
from essmon.transfers import selectors
from essmon.transfers.forms import (
    ClaimForm,
    CodeForm,
    OperatorCancelForm,
    OperatorStartForm,
    StartForm,
)
from essmon.transfers.models import OwnershipTransfer
from essmon.transfers.services import (
    TransferError,
    cancel_transfer,
    claim_transfer,
    code_lifetime,
    find_open_transfer,
    start_transfer,
    terms_in_force,
    transferable_gateways,
)

CLAIMED_KEY = "transfer_claimed"


def _own_site(user: User, site_id: int) -> Site:
    """The customer's own site; anything else (any role) does not exist: 404."""
    if user.role != User.Role.CUSTOMER or is_operator(user):
        raise Http404("no such site")
    site = Site.objects.filter(pk=site_id, owner=user).first()
    if site is None:
        raise Http404("no such site")
    return site


@login_required
@customer_only
@require_GET
def menu(request: AuthenticatedRequest) -> HttpResponse:
    """The customer's sites with their transfer, and the transfers given and received."""
    return render(
        request,
        "transfers/menu.html",
        {
            "sites": selectors.sites_of(owner=request.user),
            "history": selectors.transfers_of(user=request.user),
            "days": code_lifetime().days,
        },
    )


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def start(request: AuthenticatedRequest, site_id: int) -> HttpResponse:
    site = _own_site(request.user, site_id)
    gateways = transferable_gateways(site)
    pending = selectors.open_transfer_of(site)
    form = StartForm(request.POST or None, request=request)
    if request.method == "POST" and form.is_valid() and pending is None:
        try:
            started = start_transfer(site=site, actor=request.user)
        except TransferError as exc:
            messages.error(request, exc.message)
            return redirect("transfers:menu")
        return _code_page(request, started.transfer, started.code, gateways)
    return render(
        request,
        "transfers/start.html",
        {
            "site": site,
            "gateways": gateways,
            "pending": pending,
            "form": form,
            "days": code_lifetime().days,
        },
        status=400 if form.errors else 200,
    )


def _code_page(request, transfer, code: str, gateways: list[Gateway]) -> HttpResponse:
    """The code, once: it is in this response only (never cached, never stored plainly)."""
    return render(
        request,
        "transfers/code.html",
        {"transfer": transfer, "code": code, "gateways": gateways},
    )


@login_required
@require_POST
def cancel(request: AuthenticatedRequest, transfer_id: int) -> HttpResponse:
    """The seller's 取り消し; anyone else finds no such transfer (404)."""
    transfer = selectors.given_transfer(user=request.user, transfer_id=transfer_id)
    if transfer is None:
        raise Http404("no such transfer")
    try:
        cancel_transfer(transfer=transfer, actor=request.user)
    except TransferError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            f"「{transfer.site_name}」の名義変更を取り消しました。コードは使えなくなりました。",
        )
    return redirect("transfers:menu")


@login_required
@customer_only
@never_cache
@require_http_methods(["GET", "POST"])
def claim(request: AuthenticatedRequest) -> HttpResponse:
    """「名義変更の受け取り」: the code, then what it brings and the terms, then the claim
    (the confirmation page posts ``step=confirm`` with the code and the agreement)."""
    terms = terms_in_force()
    if request.method == "POST" and request.POST.get("step") == "confirm":
        return _claim_confirm(request, terms)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        transfer = _find(request, form, form.cleaned_data["code"])
        if transfer is not None:
            confirm = ClaimForm(initial={"code": form.cleaned_data["code"]})
            return _confirm_page(request, transfer, confirm, terms)
    return _code_page_again(request, form)


def _find(request: AuthenticatedRequest, form: CodeForm, code: str):
    try:
        return find_open_transfer(
            buyer=request.user, code=code, client_address=client_address(request)
        )
    except TransferError as exc:
        form.add_error("code", exc.message)
        return None


def _code_page_again(request: AuthenticatedRequest, form: CodeForm) -> HttpResponse:
    return render(
        request, "transfers/claim.html", {"form": form}, status=400 if form.errors else 200
    )


def _confirm_page(request, transfer, form: ClaimForm, terms, status: int = 200) -> HttpResponse:
    return render(
        request,
        "transfers/claim_confirm.html",
        {
            "transfer": transfer,
            "gateways": transferable_gateways(transfer.site) if transfer.site else [],
            "form": form,
            "terms": terms,
        },
        status=status,
    )


def _claim_confirm(request: AuthenticatedRequest, terms) -> HttpResponse:
    form = ClaimForm(request.POST)
    code_form = CodeForm({"code": request.POST.get("code", "")})
    if not code_form.is_valid():
        return _code_page_again(request, code_form)
    transfer = _find(request, code_form, code_form.cleaned_data["code"])
    if transfer is None:
        return _code_page_again(request, code_form)
    if not form.is_valid():
        return _confirm_page(request, transfer, form, terms, status=400)
    try:
        claimed = claim_transfer(
            buyer=request.user,
            code=form.cleaned_data["code"],
            terms=terms,
            client_address=client_address(request),
        )
    except TransferError as exc:
        code_form.add_error("code", exc.message)
        return _code_page_again(request, code_form)
    request.session[CLAIMED_KEY] = claimed.pk
    return redirect("transfers:claim_done")


@login_required
@customer_only
@require_GET
def claim_done(request: AuthenticatedRequest) -> HttpResponse:
    transfer = selectors.received_transfer(
        user=request.user, transfer_id=request.session.pop(CLAIMED_KEY, None)
    )
    if transfer is None:
        return redirect("transfers:menu")
    return render(
        request,
        "transfers/claim_done.html",
        {"transfer": transfer, "gateway_ids": selectors.gateway_codes(transfer)},
    )


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def operator_start(request: AuthenticatedRequest, gateway_id: str) -> HttpResponse:
    """The operator's start, by the gateway the support desk found; staff only (404)."""
    if not is_desk_operator(request.user) or "\x00" in gateway_id:
        raise Http404("operators only")
    gateway = (
        Gateway.objects.select_related("site", "owner")
        .filter(gateway_id=gateway_id, state=Gateway.State.CLAIMED, site__isnull=False)
        .first()
    )
    if gateway is None or gateway.site is None:
        raise Http404("no such gateway")
    site = gateway.site
    gateways = transferable_gateways(site)
    pending = selectors.open_transfer_of(site)
    form = OperatorStartForm(request.POST or None)
    if request.method == "POST" and form.is_valid() and pending is None:
        try:
            started = start_transfer(
                site=site, actor=request.user, reason=form.cleaned_data["reason"]
            )
        except TransferError as exc:
            form.add_error("reason", exc.message)
        else:
            return _code_page(request, started.transfer, started.code, gateways)
    return render(
        request,
        "transfers/operator_start.html",
        {
            "gateway": gateway,
            "site": site,
            "gateways": gateways,
            "pending": pending,
            "form": form,
            "days": code_lifetime().days,
        },
        status=400 if form.errors else 200,
    )


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def operator_cancel(request: AuthenticatedRequest, transfer_id: int) -> HttpResponse:
    """The operator's 取り消し of an open transfer, with a reason; staff only (404), and a
    transfer no longer open is not found either."""
    if not is_desk_operator(request.user):
        raise Http404("operators only")
    transfer = (
        OwnershipTransfer.objects.select_related("site", "from_owner")
        .filter(pk=transfer_id)
        .first()
    )
    if transfer is None or not transfer.is_open():
        raise Http404("no open transfer")
    form = OperatorCancelForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            cancel_transfer(
                transfer=transfer, actor=request.user, reason=form.cleaned_data["reason"]
            )
        except TransferError as exc:
            form.add_error("reason", exc.message)
        else:
            messages.success(
                request,
                f"「{transfer.site_name}」の名義変更を取り消しました。"
                "コードは使えなくなり、所有者の方に取り消しのお知らせをメールでお送りしました。",
            )
            return redirect("accounts:menu")
    return render(
        request,
        "transfers/operator_cancel.html",
        {
            "transfer": transfer,
            "gateways": transferable_gateways(transfer.site) if transfer.site else [],
            "form": form,
        },
        status=400 if form.errors else 200,
    )
