"""販売店様の登録 on the registration site: terms → form → confirmation → completion.

The same steps as the customer's registration; activation then goes through the
customer's /activate/ flow unchanged.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from essmon.accounts.models import TermsVersion
from essmon.accounts.selectors import current_terms
from essmon.accounts.views.common import apply_postal_lookup, forget, keep_post, kept
from essmon.core.http import client_address
from essmon.dealers import services
from essmon.dealers.forms import DealerRegistrationForm
from essmon.notifications.services import MailLimitError

FORM_KEY = "dealer_registration_form"
TERMS_KEY = "dealer_registration_terms_id"
DONE_KEY = "dealer_registration_done_email"
FORM_TEMPLATE = "dealers/entry/form.html"


@require_http_methods(["GET", "POST"])
def terms(request: HttpRequest) -> HttpResponse:
    current = current_terms(TermsVersion.Audience.DEALER)
    if request.method == "POST":
        request.session[TERMS_KEY] = current.pk
        return redirect("dealers:entry_form")
    return render(
        request,
        "accounts/entry/terms.html",
        {"terms": current, "action": request.path, "step": "entry"},
    )


def _terms_agreed(request: HttpRequest) -> bool:
    return request.session.get(TERMS_KEY) == current_terms(TermsVersion.Audience.DEALER).pk


@require_http_methods(["GET", "POST"])
def form(request: HttpRequest) -> HttpResponse:
    if not _terms_agreed(request):
        return redirect("dealers:entry_terms")
    if request.method == "POST":
        if request.POST.get("lookup") == "user":
            # 「住所検索」 without JavaScript: fill the address and show the form again.
            filled = apply_postal_lookup(request.POST.dict(), "user")
            return render(
                request,
                FORM_TEMPLATE,
                {"form": DealerRegistrationForm(initial=filled.data), **filled.context("user")},
            )
        bound = DealerRegistrationForm(request.POST)
        if bound.is_valid():
            keep_post(request, FORM_KEY, bound)
            return redirect("dealers:entry_confirm")
    else:
        bound = DealerRegistrationForm(initial=kept(request, FORM_KEY))
    return render(request, FORM_TEMPLATE, {"form": bound})


@require_http_methods(["GET", "POST"])
def confirm(request: HttpRequest) -> HttpResponse:
    saved = kept(request, FORM_KEY)
    if not _terms_agreed(request) or not saved:
        return redirect("dealers:entry_form")
    bound = DealerRegistrationForm(saved)
    if not bound.is_valid():
        return redirect("dealers:entry_form")
    data = bound.cleaned_data
    if request.method == "POST":
        if "back" in request.POST:
            return redirect("dealers:entry_form")
        try:
            services.register_dealer(
                person=bound.person(data["email"]),
                company_name=data["company_name"],
                branch=data["branch"],
                terms=current_terms(TermsVersion.Audience.DEALER),
                client_address=client_address(request),
            )
        except MailLimitError as exc:
            bound.add_error(None, exc.message)
            return render(request, FORM_TEMPLATE, {"form": bound})
        forget(request, FORM_KEY, TERMS_KEY)
        request.session[DONE_KEY] = data["email"]
        return redirect("dealers:entry_done")
    return render(request, "dealers/entry/confirm.html", {"data": data})


@require_GET
def done(request: HttpRequest) -> HttpResponse:
    email = request.session.get(DONE_KEY)
    if not email:
        return redirect("accounts:landing")
    return render(request, "dealers/entry/done.html", {"email": email})
