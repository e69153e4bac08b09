"""The 保証 tab of the モニタリングサイト: the state, the dates form and its audit, and the
certificate. Gateways are looked up through dealers.access like every monitoring page."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from essmon.accounts.http import AuthenticatedRequest
from essmon.dealers.access import Purpose, gateway_or_404, visible_gateways
from essmon.dealers.models import DealerAccess
from essmon.dealers.services.records import record_view
from essmon.monitoring.views import gateway_context, login_required_here
from essmon.warranty import services
from essmon.warranty.certificate import render_certificate
from essmon.warranty.forms import WarrantyDatesForm
from essmon.warranty.models import WarrantyDates
from essmon.warranty.rules import describe_duration


@login_required_here
@require_http_methods(["GET", "POST"])
def warranty(request: AuthenticatedRequest, gateway_id: str) -> HttpResponse:
    gateway = gateway_or_404(request.user, gateway_id)
    may_edit = visible_gateways(request.user, Purpose.WARRANTY_DATES).filter(pk=gateway.pk).exists()
    if request.method == "POST" and not may_edit:
        # the page exists for this user (an operator), only not the form: 405, not 404
        return HttpResponseNotAllowed(["GET"])
    dates = WarrantyDates.objects.filter(gateway=gateway).first()
    initial = {
        "grid_connection_date": dates.grid_connection_date if dates else None,
        "received_date": dates.received_date if dates else None,
    }
    form = WarrantyDatesForm(request.POST if request.method == "POST" else None, initial=initial)
    if request.method == "POST" and form.is_valid():
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
    context = gateway_context(request, gateway, "warranty")
    state, policy = services.state_of(gateway), services.current_policy()
    longest = state.longest_offline.length(state.now) if state.longest_offline else None
    context.update(
        state=state,
        policy=policy,
        # a restart's few minutes are not worth a line
        longest=describe_duration(longest) if longest and longest > policy.offline_after else None,
        form=form if may_edit else None,
        changes=services.date_changes(gateway),
    )
    return render(request, "warranty/warranty.html", context, status=400 if form.errors else 200)


@login_required_here
@require_GET
def certificate(request: AuthenticatedRequest, gateway_id: str) -> HttpResponse:
    gateway = gateway_or_404(request.user, gateway_id)
    state = services.state_of(gateway)
    if not state.can_certify:
        messages.error(
            request,
            "保証期間の終了日が確定していないため、保証書はまだ発行できません。"
            "系統連系日と受取日を入力してください。",
        )
        return redirect("monitoring:warranty", gateway_id=gateway.gateway_id)
    now = timezone.now()
    pdf = render_certificate(gateway, state, issued_at=now, policy=services.current_policy())
    record_view(user=request.user, gateway=gateway, action=DealerAccess.Action.VIEW_CERTIFICATE)
    response = HttpResponse(pdf, content_type="application/pdf")
    # inline: opens in the browser's viewer, from where it is printed
    response["Content-Disposition"] = f'inline; filename="warranty_{gateway.gateway_id}.pdf"'
    return response
