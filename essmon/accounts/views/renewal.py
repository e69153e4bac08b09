"""利用規約の改定: the agreement page the middleware sends people to, and 「同意しない」."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods

from essmon.accounts import selectors
from essmon.accounts.forms import TermsRenewalForm
from essmon.accounts.http import AuthenticatedRequest
from essmon.accounts.models import TermsAcceptance
from essmon.accounts.services.terms import agree_to_terms
from essmon.core.http import client_address


def _next_url(request: AuthenticatedRequest) -> str:
    url = request.POST.get("next") or request.GET.get("next") or ""
    if url and url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return url
    return ""


@login_required
@require_http_methods(["GET", "POST"])
def terms_renewal(request: AuthenticatedRequest) -> HttpResponse:
    next_url = _next_url(request)
    waiting = selectors.terms_to_agree(user=request.user)
    if not waiting:
        return redirect(next_url or "accounts:menu")
    form = TermsRenewalForm(request.POST or None, waiting=waiting)
    if request.method == "POST" and form.is_valid():
        agree_to_terms(
            user=request.user,
            terms=waiting,
            context=TermsAcceptance.Context.RENEWAL,
            client_address=client_address(request),
        )
        messages.success(request, "改定後の利用規約に同意いただきました。ありがとうございます。")
        return redirect(next_url or "accounts:menu")
    return render(
        request,
        "accounts/renewal/terms.html",
        {"form": form, "waiting": waiting, "next": next_url},
    )


@login_required
@require_GET
def terms_declined(request: AuthenticatedRequest) -> HttpResponse:
    if request.user.role not in selectors.AUDIENCE_OF_ROLE:
        return redirect("accounts:menu")  # operators are asked nothing
    return render(request, "accounts/renewal/declined.html")
