"""The 保証 tab of the モニタリングサイト: the state, the dates form and its audit, and the
certificate. Gateways are looked up through dealers.access like every monitoring page."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from essmon.accounts.http import AuthenticatedRequest
from essmon.dealers.access import Purpose, gateway_or_404
from essmon.dealers.models import DealerAccess
from essmon.dealers.services.records import record_view
from essmon.monitoring.views import gateway_context, login_required_here
from essmon.warranty import selectors, services
from essmon.warranty.certificate import render_certificate
from essmon.warranty.forms import WarrantyDatesForm


@login_required_here
@require_http_methods(["GET", "POST"])
def warranty(request: AuthenticatedRequest, gateway_id: str) -> HttpResponse:
    gateway = gateway_or_404(request.user, gateway_id, Purpose.VIEW_DETAILS)
    form = None
    if request.method == "POST":
        if not selectors.may_change_dates(request.user, gateway):
            # the page exists for this user (an operator), only not the form: 405, not 404
            return HttpResponseNotAllowed(["GET"])
        form = WarrantyDatesForm(request.POST)
        if form.is_valid():
            changes = services.change_dates(
                gateway=gateway,
                user=request.user,
                grid_connection_date=form.cleaned_data["grid_connection_date"],
                received_date=form.cleaned_data["received_date"],
            )
            if changes:
                messages.success(request, "日付を保存しました。保証の状態を更新しました。")
            else:
                messages.info(request, "日付に変更はありませんでした。")
            return redirect("monitoring:warranty", gateway_id=gateway.gateway_id)
    record_view(user=request.user, gateway=gateway, action=DealerAccess.Action.VIEW_WARRANTY)
    tab = selectors.warranty_tab(request.user, gateway)
    context = gateway_context(request, gateway, "warranty")
    context.update(
        state=tab.state,
        policy=tab.policy,
        longest=tab.longest,
        form=(form or WarrantyDatesForm(initial=tab.dates)) if tab.may_edit else None,
        changes=tab.changes,
    )
    # a form here is a refused one: a valid one has been saved and redirected
    return render(request, "warranty/warranty.html", context, status=200 if form is None else 400)


@login_required_here
@require_GET
def certificate(request: AuthenticatedRequest, gateway_id: str) -> HttpResponse:
    gateway = gateway_or_404(request.user, gateway_id, Purpose.VIEW_DETAILS)
    state = selectors.state_of(gateway)
    if not state.can_certify:
        messages.error(
            request,
            "保証期間の終了日が確定していないため、保証書はまだ発行できません。"
            "系統連系日と受取日を入力してください。",
        )
        return redirect("monitoring:warranty", gateway_id=gateway.gateway_id)
    now = timezone.now()
    pdf = render_certificate(gateway, state, issued_at=now, policy=selectors.current_policy())
    record_view(user=request.user, gateway=gateway, action=DealerAccess.Action.VIEW_CERTIFICATE)
    response = HttpResponse(pdf, content_type="application/pdf")
    # inline: opens in the browser's viewer, from where it is printed
    response["Content-Disposition"] = f'inline; filename="warranty_{gateway.gateway_id}.pdf"'
    return response
