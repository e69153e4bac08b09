"""異常の履歴 on the monitoring site (with the dealers' acknowledgement), and the
customer's choice of alert mails on the management site."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from essmon.accounts.http import AuthenticatedRequest
from essmon.accounts.models import User
from essmon.alerts import services
from essmon.alerts.forms import AcknowledgeForm, MailPreferencesForm
from essmon.alerts.models import Alert, Kind, MailOptOut
from essmon.dealers.models import DealerAccess
from essmon.dealers.services import record_view
from essmon.gateways.access import dealer_of, gateway_or_404, is_operator
from essmon.monitoring.views import gateway_context, login_required_here


def _may_acknowledge(user: User) -> bool:
    return is_operator(user) or dealer_of(user) is not None


@login_required_here
@require_http_methods(["GET"])
def alerts(request: AuthenticatedRequest, gateway_id: str) -> HttpResponse:
    gateway = gateway_or_404(request.user, gateway_id)
    record_view(user=request.user, gateway=gateway, action=DealerAccess.Action.VIEW_ALERTS)
    context = gateway_context(request, gateway, "alerts")
    context.update(
        alerts=services.gateway_alerts(gateway),
        may_acknowledge=_may_acknowledge(request.user),
        form=AcknowledgeForm(),
    )
    return render(request, "alerts/alerts.html", context)


@login_required_here
@require_POST
def acknowledge(request: AuthenticatedRequest, gateway_id: str, alert_id: int) -> HttpResponse:
    gateway = gateway_or_404(request.user, gateway_id)
    alert = Alert.objects.filter(gateway=gateway, pk=alert_id).first()
    if alert is None or not _may_acknowledge(request.user):
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


@login_required
@require_http_methods(["GET", "POST"])
def mail_preferences(request: AuthenticatedRequest) -> HttpResponse:
    """異常のお知らせメール: the kinds a customer receives (all by default)."""
    if request.user.role != User.Role.CUSTOMER:
        raise Http404("customers only")
    off = set(MailOptOut.objects.filter(user=request.user).values_list("kind", flat=True))
    initial = {"kinds": [k for k in Kind.values if k not in off]}
    form = MailPreferencesForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        wanted = set(form.cleaned_data["kinds"])
        services.set_opt_outs(user=request.user, kinds=[k for k in Kind.values if k not in wanted])
        messages.success(request, "異常のお知らせメールの設定を変更しました。")
        return redirect("alerts:mail_preferences")
    return render(request, "alerts/mail_preferences.html", {"form": form})
