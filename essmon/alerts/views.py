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
from essmon.alerts import selectors, services
from essmon.alerts.forms import MailPreferencesForm


@login_required
@require_http_methods(["GET", "POST"])
def mail_preferences(request: AuthenticatedRequest) -> HttpResponse:
    """異常のお知らせメール: the kinds a customer receives (all by default)."""
    if request.user.role != User.Role.CUSTOMER:
        raise Http404("customers only")
    initial = {"kinds": selectors.mail_kinds_wanted(request.user)}
    form = MailPreferencesForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        services.set_mail_kinds(user=request.user, wanted=form.cleaned_data["kinds"])
        messages.success(request, "異常のお知らせメールの設定を変更しました。")
        return redirect("alerts:mail_preferences")
    return render(request, "alerts/mail_preferences.html", {"form": form})
