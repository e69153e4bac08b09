"""故障交換: a linked dealer or an operator puts a new provisioned gateway in the place of
a customer's failed one (essmon.dealers.services.replacement). Anyone else gets 404."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from essmon.accounts.http import AuthenticatedRequest
from essmon.core.http import client_address
from essmon.dealers import access
from essmon.dealers.access import Purpose
from essmon.dealers.forms import ReplacementForm
from essmon.dealers.services.errors import DealerError
from essmon.dealers.services.replacement import replace_gateway


@login_required
@require_http_methods(["GET", "POST"])
def replace(request: AuthenticatedRequest, gateway_id: str) -> HttpResponse:
    gateway = access.gateway_or_404(request.user, gateway_id, Purpose.REPLACE_GATEWAY)
    if access.is_desk_operator(request.user):
        # operators replace at the support desk, where the reason is asked and recorded
        return redirect("support:replace", gateway_id=gateway.gateway_id)
    form = ReplacementForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            done = replace_gateway(
                gateway=gateway,
                new_gateway_id=form.cleaned_data["gateway_id"],
                new_password=form.cleaned_data["gateway_password"],
                reason=form.cleaned_data["reason"],
                user=request.user,
                client_address=client_address(request),
            )
        except DealerError as exc:
            form.add_error(exc.field, exc.message)
        else:
            messages.success(
                request,
                f"ゲートウェイを交換しました({done.old_gateway_id} → {done.new_gateway_id})。"
                "履歴・設定・保証・販売店様の登録は新しいゲートウェイIDに引き継がれ、"
                "お客様には交換のお知らせをメールでお送りしました。",
            )
            return redirect("monitoring:live", gateway_id=done.new_gateway_id)
    return render(
        request,
        "dealers/replace.html",
        {"gateway": gateway, "form": form},
    )
