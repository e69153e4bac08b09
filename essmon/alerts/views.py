"""The customer's choice of alert mails on the management site (the 異常の履歴 tab of the
monitoring site is essmon/monitoring/tabs/alerts.py)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from essmon.accounts.http import AuthenticatedRequest
from essmon.accounts.models import User
from essmon.alerts import services
from essmon.alerts.forms import MailPreferencesForm
from essmon.alerts.models import Kind, MailOptOut


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
