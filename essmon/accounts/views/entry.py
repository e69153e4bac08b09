"""登録サイト: landing, terms, the input form, confirmation and completion."""

from __future__ import annotations

import segno
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from essmon.accounts import services
from essmon.accounts.forms import RegistrationForm
from essmon.accounts.views.common import (
    POSTAL_TARGETS,
    apply_postal_lookup,
    forget,
    keep_post,
    kept,
    show_gateway_error,
    verified_gateway_id,
    verify_gateway_step,
    warranty_outlook,
)
from essmon.core.http import client_address
from essmon.gateways.services import GatewayError
from essmon.notifications.services import MailLimitError

FORM_KEY = "registration_form"
TERMS_KEY = "registration_terms_id"
GATEWAY_KEY = "registration_gateway_verified"


@require_GET
def landing(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/entry/landing.html")


@require_http_methods(["GET", "POST"])
def terms(request: HttpRequest) -> HttpResponse:
    current = services.current_terms()
    if request.method == "POST":
        request.session[TERMS_KEY] = current.pk
        return redirect("accounts:entry_form")
    return render(
        request,
        "accounts/entry/terms.html",
        {"terms": current, "action": request.path, "step": "entry"},
    )


def _terms_agreed(request: HttpRequest) -> bool:
    return request.session.get(TERMS_KEY) == services.current_terms().pk


@require_http_methods(["GET", "POST"])
def form(request: HttpRequest) -> HttpResponse:
    if not _terms_agreed(request):
        return redirect("accounts:entry_terms")
    if request.method == "POST":
        lookup = request.POST.get("lookup")
        if lookup in POSTAL_TARGETS:
            # 「住所検索」 without JavaScript: fill the address and show the form again.
            data, error = apply_postal_lookup(request.POST.dict(), lookup)
            bound = RegistrationForm(initial=data, verified_gateway_id=_verified(request))
            return render(
                request,
                "accounts/entry/form.html",
                {"form": bound, "postal_errors": {lookup: error}},
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
            services.register_customer(
                person=bound.person(bound.cleaned_data["email"]),
                gateway_id=bound.cleaned_data["gateway_id"],
                verified=request.session.get(GATEWAY_KEY),
                site=bound.site(),
                terms=services.current_terms(),
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


@require_POST
def postal_lookup(request: HttpRequest) -> HttpResponse:
    """htmx: fill the address fields of one block from its postal code (out-of-band swaps)."""
    target = request.POST.get("target", "")
    if target not in POSTAL_TARGETS:
        return HttpResponse("target must be user or site", status=400)
    data, error = apply_postal_lookup(request.POST.dict(), target)
    bound = RegistrationForm(initial=data)
    names = POSTAL_TARGETS[target]
    fields = [bound[names["prefecture"]]]
    if names["city"]:
        fields.append(bound[names["city"]])
    # Only swap in what the look-up filled: replacing an input the person has typed in
    # since the request left would throw their typing away.
    if names["rest"] and not request.POST.get(names["rest"]):
        fields.append(bound[names["rest"]])
    return render(
        request,
        "accounts/entry/_postal_result.html",
        {"fields": fields, "error": error, "target": target},
    )
