"""The 異常の履歴 tab of the モニタリングサイト, with the dealers' and operators'
acknowledgement. Gateways are looked up through dealers.access like every monitoring page."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from essmon.accounts.http import AuthenticatedRequest
from essmon.alerts import selectors, services
from essmon.alerts.forms import AcknowledgeForm
from essmon.dealers.access import Purpose, gateway_or_404, history_floor, may
from essmon.dealers.models import DealerAccess
from essmon.dealers.services.records import record_view
from essmon.monitoring.views import gateway_context, login_required_here


@login_required_here
@require_http_methods(["GET"])
def alerts(request: AuthenticatedRequest, gateway_id: str) -> HttpResponse:
    gateway = gateway_or_404(request.user, gateway_id, Purpose.VIEW_DETAILS)
    record_view(user=request.user, gateway=gateway, action=DealerAccess.Action.VIEW_ALERTS)
    context = gateway_context(request, gateway, "alerts")
    context.update(
        alerts=selectors.gateway_alerts(gateway, since=history_floor(request.user, gateway)),
        may_acknowledge=may(request.user, Purpose.ACKNOWLEDGE_ALERT, gateway),
        form=AcknowledgeForm(),
    )
    return render(request, "alerts/alerts.html", context)


@login_required_here
@require_POST
def acknowledge(request: AuthenticatedRequest, gateway_id: str, alert_id: int) -> HttpResponse:
    # linked dealers (not their 閲覧のみ staff) and operators; anyone else finds nothing
    gateway = gateway_or_404(request.user, gateway_id, Purpose.ACKNOWLEDGE_ALERT)
    alert = selectors.gateway_alert(gateway=gateway, alert_id=alert_id)
    if alert is None:
        raise Http404("no such alert")
    form = AcknowledgeForm(request.POST)
    if form.is_valid():
        try:
            services.acknowledge(
                alert=alert, user=request.user, comment=form.cleaned_data["comment"]
            )
        except services.AlertError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, "異常を確認済みにしました。")
    else:
        messages.error(request, " ".join(str(e) for errors in form.errors.values() for e in errors))
    return redirect("monitoring:alerts", gateway_id=gateway.gateway_id)
