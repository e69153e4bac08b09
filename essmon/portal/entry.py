"""登録サイト: landing, terms, the input form, confirmation and completion."""

from __future__ import annotations

import segno
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from essmon.accounts.selectors import current_terms
from essmon.accounts.services.registration import register_customer
from essmon.accounts.views.common import (
    POSTAL_TARGETS,
    apply_postal_lookup,
    forget,
    keep_post,
    kept,
    postal_notes,
    show_gateway_error,
    verified_gateway_id,
    verify_gateway_step,
)
from essmon.core.http import client_address
from essmon.core.japanese import (
    InputError,
    format_postal_code,
    lookup_postal_code,
    normalize_postal_code,
)
from essmon.gateways.services import GatewayError
from essmon.notifications.services import MailLimitError
from essmon.portal.forms import RegistrationForm
from essmon.warranty.outlook import warranty_outlook

FORM_KEY = "registration_form"
TERMS_KEY = "registration_terms_id"
GATEWAY_KEY = "registration_gateway_verified"
JAPANESE = {"ensure_ascii": False}  # JSON as the page shows it


@require_GET
def landing(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/entry/landing.html")


@require_http_methods(["GET", "POST"])
def terms(request: HttpRequest) -> HttpResponse:
    current = current_terms()
    if request.method == "POST":
        request.session[TERMS_KEY] = current.pk
        return redirect("accounts:entry_form")
    return render(
        request,
        "accounts/entry/terms.html",
        {"terms": current, "action": request.path, "step": "entry"},
    )


def _terms_agreed(request: HttpRequest) -> bool:
    return request.session.get(TERMS_KEY) == current_terms().pk


@require_http_methods(["GET", "POST"])
def form(request: HttpRequest) -> HttpResponse:
    if not _terms_agreed(request):
        return redirect("accounts:entry_terms")
    if request.method == "POST":
        lookup = request.POST.get("lookup")
        if lookup in POSTAL_TARGETS:
            # 「住所検索」 without JavaScript: fill the address and show the form again.
            filled = apply_postal_lookup(request.POST.dict(), lookup)
            bound = RegistrationForm(initial=filled.data, verified_gateway_id=_verified(request))
            return render(
                request,
                "accounts/entry/form.html",
                {"form": bound, **filled.context(lookup)},
            )
        bound = RegistrationForm(request.POST, verified_gateway_id=_verified(request))
        if bound.is_valid() and verify_gateway_step(request, bound, GATEWAY_KEY):
            keep_post(request, FORM_KEY, bound)
            return redirect("accounts:entry_confirm")
    else:
        bound = RegistrationForm(
            initial=kept(request, FORM_KEY), verified_gateway_id=_verified(request)
        )
    return render(request, "accounts/entry/form.html", {"form": bound})


def _verified(request: HttpRequest) -> str | None:
    return verified_gateway_id(request, GATEWAY_KEY)


@require_http_methods(["GET", "POST"])
def confirm(request: HttpRequest) -> HttpResponse:
    saved = kept(request, FORM_KEY)
    if not _terms_agreed(request) or not saved:
        return redirect("accounts:entry_form")
    bound = RegistrationForm(saved, verified_gateway_id=_verified(request))
    if not bound.is_valid():
        return redirect("accounts:entry_form")
    if request.method == "POST":
        if "back" in request.POST:
            return redirect("accounts:entry_form")
        try:
            register_customer(
                person=bound.person(bound.cleaned_data["email"]),
                gateway_id=bound.cleaned_data["gateway_id"],
                verified=request.session.get(GATEWAY_KEY),
                site=bound.site(),
                terms=current_terms(),
                client_address=client_address(request),
                grid_connection_date=bound.cleaned_data["grid_connection_date"],
                received_date=bound.cleaned_data["received_date"],
            )
        except GatewayError as exc:
            show_gateway_error(request, bound, exc, GATEWAY_KEY)
            return render(request, "accounts/entry/form.html", {"form": bound})
        except MailLimitError as exc:
            bound.add_error(None, exc.message)  # not an input error: said at the top
            return render(request, "accounts/entry/form.html", {"form": bound})
        forget(request, FORM_KEY, TERMS_KEY, GATEWAY_KEY)
        request.session["registration_done_email"] = bound.cleaned_data["email"]
        return redirect("accounts:entry_done")
    outlook = warranty_outlook(bound.cleaned_data, at_once=False)
    return render(
        request,
        "accounts/entry/confirm.html",
        {"form": bound, "data": bound.cleaned_data, "warranty_outlook": outlook},
    )


@require_GET
def done(request: HttpRequest) -> HttpResponse:
    email = request.session.get("registration_done_email")
    if not email:
        return redirect("accounts:landing")
    return render(request, "accounts/entry/done.html", {"email": email})


@require_GET
def sample_sheet(request: HttpRequest) -> HttpResponse:
    """サンプル画像: where the sheet prints the gateway ID and password (our own drawing)."""
    entry_url = request.build_absolute_uri(reverse("accounts:landing"))
    qr = segno.make(entry_url, error="m")
    qr_svg = qr.svg_inline(scale=3, border=0, omitsize=False)
    return render(
        request, "accounts/entry/sample_sheet.html", {"entry_url": entry_url, "qr_svg": qr_svg}
    )


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
