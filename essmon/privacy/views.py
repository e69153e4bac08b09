"""お客様データのダウンロード and 退会, reached from 「アカウント情報」."""

from __future__ import annotations

from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from essmon.accounts.http import AuthenticatedRequest
from essmon.dealers.access import customer_only, is_viewer
from essmon.privacy import export, services
from essmon.privacy.forms import ReauthenticateForm, WithdrawForm

DONE_KEY = "privacy_withdrawn"


@login_required
@customer_only
@require_http_methods(["GET", "POST"])
def data_export(request: AuthenticatedRequest) -> HttpResponseBase:
    form = ReauthenticateForm(request.POST or None, request=request)
    if request.method == "POST" and form.is_valid():
        export.record_export(user=request.user)
        response = StreamingHttpResponse(
            export.export_chunks(user=request.user), content_type="application/json; charset=utf-8"
        )
        response["Content-Disposition"] = f'attachment; filename="{export.export_filename()}"'
        return response
    return render(request, "privacy/data_export.html", {"form": form})


@login_required
@require_http_methods(["GET", "POST"])
def withdraw(request: AuthenticatedRequest) -> HttpResponseBase:
    """退会: an owner's (with everything it registered), or a family viewer's own account."""
    if is_viewer(request.user):
        return _withdraw_viewer(request)
    return _withdraw_customer(request)


def _withdraw_viewer(request: AuthenticatedRequest) -> HttpResponse:
    form = WithdrawForm(request.POST or None, request=request)
    if request.method == "POST" and form.is_valid():
        watched = services.withdraw_viewer(user=request.user)
        logout(request)
        request.session[DONE_KEY] = {"viewer": True, "watched": watched}
        return redirect("privacy:withdrawn")
    return render(request, "privacy/withdraw_viewer.html", {"form": form})


@customer_only
def _withdraw_customer(request: AuthenticatedRequest) -> HttpResponse:
    plan = services.plan_withdrawal(user=request.user)
    form = WithdrawForm(request.POST or None, request=request)
    if request.method == "POST" and form.is_valid():
        plan = services.withdraw_customer(user=request.user)
        logout(request)
        # the completion page shows only what cannot name anyone
        request.session[DONE_KEY] = {
            "gateways": len(plan.gateways),
            "links": len(plan.links),
            "kept": plan.provision_records,
            "years": services.provision_record_years(),
        }
        return redirect("privacy:withdrawn")
    return render(
        request,
        "privacy/withdraw.html",
        {"form": form, "plan": plan, "years": services.provision_record_years()},
    )


@require_GET
def withdrawn(request: HttpRequest) -> HttpResponse:
    done = request.session.pop(DONE_KEY, None)
    if done is None:
        return redirect("accounts:landing")
    return render(request, "privacy/withdrawn.html", {"done": done})
