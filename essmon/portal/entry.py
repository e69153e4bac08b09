"""登録サイト: landing, terms, the input form, confirmation and completion."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_http_methods

from essmon.accounts.models import TermsVersion
from essmon.accounts.selectors import current_terms
from essmon.accounts.services.registration import register_customer
from essmon.accounts.views import steps
from essmon.accounts.views.common import postal_notes
from essmon.core.http import client_address
from essmon.core.japanese import (
    InputError,
    format_postal_code,
    lookup_postal_code,
    normalize_postal_code,
)
from essmon.gateways.services.sheets import sample_sheet as sample_sheet_data
from essmon.gateways.sheet_layout import a4_page, to_svg
from essmon.portal.forms import RegistrationForm
from essmon.warranty.outlook import warranty_outlook

JAPANESE = {"ensure_ascii": False}  # JSON as the page shows it


@require_GET
def landing(request: HttpRequest) -> HttpResponse:
    """The 登録サイト's top page; ``?gw=<ID>`` (the sheet's QR code) fills the gateway ID in
    the form that follows. A malformed ID is ignored without a word."""
    sheet_gateway_id = steps.remember_sheet_gateway(request, request.GET.get("gw", ""))
    return render(request, "accounts/entry/landing.html", {"sheet_gateway_id": sheet_gateway_id})


def _register(request: HttpRequest, form: RegistrationForm) -> str:
    data = form.cleaned_data
    register_customer(
        person=form.person(data["email"]),
        gateway_id=data["gateway_id"],
        verified=request.session.get(FLOW.verified_key),
        site=form.site(),
        terms=current_terms(),
        client_address=client_address(request),
        grid_connection_date=data["grid_connection_date"],
        received_date=data["received_date"],
    )
    return data["email"]


FLOW = steps.Flow(
    name="registration",
    terms=steps.Terms(url="accounts:entry_terms", audience=TermsVersion.Audience.CUSTOMER),
    steps=(
        steps.Step(
            name="form",
            url="accounts:entry_form",
            template="accounts/entry/form.html",
            form=RegistrationForm,
            postal=("user", "site"),
            gateway=True,
        ),
    ),
    confirm_url="accounts:entry_confirm",
    confirm_template="accounts/entry/confirm.html",
    confirm_extra=lambda data: {"warranty_outlook": warranty_outlook(data, at_once=False)},
    register=_register,
    done_url="accounts:entry_done",
    done_template="accounts/entry/done.html",
    done_as="email",
    no_done="accounts:landing",
    steps_header="accounts/entry/_steps.html",
)


@require_http_methods(["GET", "POST"])
def terms(request: HttpRequest) -> HttpResponse:
    return FLOW.terms_page(request)


@require_http_methods(["GET", "POST"])
def form(request: HttpRequest) -> HttpResponse:
    return FLOW.input_page(request, FLOW.steps[0])


@require_http_methods(["GET", "POST"])
def confirm(request: HttpRequest) -> HttpResponse:
    return FLOW.confirm_page(request)


@require_GET
def done(request: HttpRequest) -> HttpResponse:
    return FLOW.done_page(request)


@require_GET
def sample_sheet(request: HttpRequest) -> HttpResponse:
    """サンプル画像: the printed sheet's own layout (gateways.sheet_layout) with the guide's
    sample values, the frame around the gateway ID and password marked."""
    page = a4_page(sample_sheet_data())
    svg = to_svg(page, highlight="credentials", title="「ご登録にあたって」用紙の見本")
    return render(request, "accounts/entry/sample_sheet.html", {"sheet_svg": svg})


@require_GET
def postal_lookup(request: HttpRequest) -> JsonResponse:
    """「住所検索」 with JavaScript: what a postal code says, as JSON for static/js/postal.js,
    which decides field by field what it may fill (never what the person typed meanwhile).

    ``{"postal_code", "prefecture", "city", "town", "note_filled", "note_kept"}``, or
    ``{"error"}`` with status 400 (malformed) or 404 (unknown)."""
    try:
        normalized = normalize_postal_code(request.GET.get("code", ""))
    except InputError as exc:
        return JsonResponse({"error": str(exc)}, status=400, json_dumps_params=JAPANESE)
    try:
        found = lookup_postal_code(normalized)
    except InputError as exc:
        return JsonResponse({"error": str(exc)}, status=404, json_dumps_params=JAPANESE)
    note_filled, note_kept = postal_notes(found)
    return JsonResponse(
        {
            "postal_code": format_postal_code(normalized),
            "prefecture": found.prefecture,
            "city": found.city,
            "town": found.town,
            "note_filled": note_filled,
            "note_kept": note_kept,
        },
        json_dumps_params=JAPANESE,
    )
