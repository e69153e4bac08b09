"""名義変更 for a buyer without an account: the transfer code, then the registration's own
steps (利用規約 → お客様情報 → 入力内容確認 → 仮登録完了, accounts.views.steps) without the
gateway sheet: the code stands for the site. The claim is made at the activation
(transfers.receivers). The session keeps the proof the code was verified (the transfer's
id and the code's hash), never the code."""

from __future__ import annotations

import dataclasses

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from essmon.accounts.forms import NewCustomerForm
from essmon.accounts.models import TermsVersion
from essmon.accounts.selectors import current_terms
from essmon.accounts.views import steps
from essmon.core.http import client_address
from essmon.transfers.forms import CodeForm
from essmon.transfers.services import (
    TransferError,
    proven_transfer,
    register_buyer,
    transferable_gateways,
    verify_code_for_registration,
)

PROOF_KEY = "transfer_registration_proof"
ENDED = (
    "名義変更コードが使えなくなりました(取り消し・有効期限切れ・受け取り済みのいずれか)。"
    "譲渡する方またはお問い合わせ窓口にご確認ください。"
)


def _register(request: HttpRequest, form: NewCustomerForm) -> str:
    email = form.cleaned_data["email"]
    register_buyer(
        person=form.person(email),
        proof=request.session.get(PROOF_KEY),
        terms=current_terms(),
        client_address=client_address(request),
    )
    request.session.pop(PROOF_KEY, None)
    return email


def _confirm_extra_for(request: HttpRequest):
    transfer = proven_transfer(request.session.get(PROOF_KEY))
    gateways = transferable_gateways(transfer.site) if transfer and transfer.site else []
    return lambda data: {"transfer": transfer, "gateways": gateways}


FLOW = steps.Flow(
    name="transfer_registration",
    terms=steps.Terms(url="transfers:entry_terms", audience=TermsVersion.Audience.CUSTOMER),
    steps=(
        steps.Step(
            name="form",
            url="transfers:entry_form",
            template="transfers/entry/form.html",
            form=NewCustomerForm,
            postal=("user",),
        ),
    ),
    confirm_url="transfers:entry_confirm",
    confirm_template="transfers/entry/confirm.html",
    register=_register,
    done_url="transfers:entry_done",
    done_template="accounts/entry/done.html",
    done_as="email",
    no_done="transfers:entry",
    steps_header="accounts/entry/_steps.html",
)


def _without_proof(request: HttpRequest) -> HttpResponse | None:
    """Every step needs a verified code whose transfer is still open."""
    if proven_transfer(request.session.get(PROOF_KEY)) is None:
        if request.session.pop(PROOF_KEY, None) is not None:
            messages.error(request, ENDED)
        return redirect("transfers:entry")
    return None


@never_cache
@require_http_methods(["GET", "POST"])
def code(request: HttpRequest) -> HttpResponse:
    """「名義変更で引き継ぐ方」: a buyer with an account logs in and claims from the menu; one
    without types the code here and registers."""
    if request.user.is_authenticated:
        return redirect("transfers:claim")
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            proof = verify_code_for_registration(
                code=form.cleaned_data["code"], client_address=client_address(request)
            )
        except TransferError as exc:
            form.add_error("code", exc.message)
        else:
            request.session[PROOF_KEY] = proof
            return redirect("transfers:entry_terms")
    return render(
        request, "transfers/entry/code.html", {"form": form}, status=400 if form.errors else 200
    )


@require_http_methods(["GET", "POST"])
def terms(request: HttpRequest) -> HttpResponse:
    return _without_proof(request) or FLOW.terms_page(request)


@require_http_methods(["GET", "POST"])
def form(request: HttpRequest) -> HttpResponse:
    return _without_proof(request) or FLOW.input_page(request, FLOW.steps[0])


@require_http_methods(["GET", "POST"])
def confirm(request: HttpRequest) -> HttpResponse:
    refused = _without_proof(request)
    if refused:
        return refused
    flow = dataclasses.replace(FLOW, confirm_extra=_confirm_extra_for(request))
    try:
        return flow.confirm_page(request)
    except TransferError:  # the transfer ended between this page and the press of 「登録」
        request.session.pop(PROOF_KEY, None)
        messages.error(request, ENDED)
        return redirect("transfers:entry")


@require_GET
def done(request: HttpRequest) -> HttpResponse:
    return FLOW.done_page(request)
