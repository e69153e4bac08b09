"""見守り: the owner's page under /menu/viewers/ (invite, list, revoke), and the invited
family member's mailed link (create a viewer account, or accept with the one it has)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from essmon.accounts import selectors as account_selectors
from essmon.accounts.http import AuthenticatedRequest
from essmon.accounts.models import AccountToken
from essmon.accounts.tokens import find_token
from essmon.core.http import client_address
from essmon.dealers import access, selectors
from essmon.dealers.access import customer_only
from essmon.dealers.forms import ViewerAccountForm, ViewerInviteForm
from essmon.dealers.models import MAX_VIEWERS_PER_GATEWAY
from essmon.dealers.services.errors import DealerError
from essmon.dealers.services.viewers import (
    accept_invitation,
    existing_viewer,
    invitation_for,
    invite_viewer,
    revoke_viewer,
)
from essmon.notifications.services import MailLimitError


@login_required
@customer_only
@require_http_methods(["GET", "POST"])
def menu(request: AuthenticatedRequest) -> HttpResponse:
    """Who may watch which system (invited, watching, ended), and the invitation form."""
    choices = selectors.viewer_gateway_choices(owner=request.user)
    form = ViewerInviteForm(request.POST or None, gateways=choices)
    if request.method == "POST" and form.is_valid():
        gateway = access.gateway_or_404(
            request.user, form.cleaned_data["gateway"], access.Purpose.MANAGE_VIEWERS
        )
        try:
            invited = invite_viewer(
                owner=request.user,
                gateway=gateway,
                email=form.cleaned_data["email"],
                client_address=client_address(request),
            )
        except (DealerError, MailLimitError) as exc:
            form.add_error(exc.field, exc.message)
        else:
            messages.success(
                request,
                f"{invited.email} 宛に見守りの招待メールを送りました。"
                "招待された方がメールのURLから承諾すると「閲覧中」になります。",
            )
            return redirect("viewers:menu")
    return render(
        request,
        "dealers/viewers/menu.html",
        {
            "form": form,
            "has_gateways": bool(choices),
            "rows": selectors.viewers_of(owner=request.user),
            "max_viewers": MAX_VIEWERS_PER_GATEWAY,
        },
        status=400 if form.errors else 200,
    )


@login_required
@require_POST
def revoke(request: AuthenticatedRequest, viewer_id: int) -> HttpResponse:
    """Anyone but the inviting owner finds no such 見守り (404), whatever its role."""
    try:
        row = revoke_viewer(owner=request.user, viewer_id=viewer_id)
    except DealerError as exc:
        raise Http404(exc.message) from exc
    messages.success(request, f"{row.email} の見守りを解除しました。すぐに見られなくなります。")
    return redirect("viewers:menu")


@require_http_methods(["GET", "POST"])
def accept(request: HttpRequest, token: str) -> HttpResponse:
    """The invitation's link: public, since the invited person may have no account yet."""
    found: AccountToken | None = find_token(
        raw=token, purpose=AccountToken.Purpose.VIEWER_INVITATION
    )
    try:
        invitation = invitation_for(found)
        account = existing_viewer(invitation)
    except DealerError as exc:
        return render(
            request, "accounts/activation/invalid.html", {"message": exc.message}, status=410
        )
    form = None if account is not None else ViewerAccountForm(request.POST or None)
    if request.method == "POST" and (form is None or form.is_valid()):
        fields = form.cleaned_data if form is not None else {}
        try:
            viewer = accept_invitation(
                token=found,
                name=fields.get("name", ""),
                password=fields.get("password", ""),
                client_address=client_address(request),
            )
        except DealerError as exc:
            return render(
                request, "accounts/activation/invalid.html", {"message": exc.message}, status=410
            )
        if account is None:
            login(request, viewer, backend="essmon.accounts.backends.LimitedEmailBackend")
            messages.success(request, "見守り用のアカウントを作成しました。")
            return redirect("monitoring:index")
        messages.success(request, "見守りを承諾しました。ログインするとご覧になれます。")
        if request.user.is_authenticated and request.user.pk == viewer.pk:
            return redirect("monitoring:index")
        return redirect("monitoring:login")
    return render(
        request,
        "dealers/viewers/accept.html",
        {
            "form": form,
            "account": account,
            "email": invitation.email,
            "terms": None if account is not None else account_selectors.current_terms(),
        },
        status=400 if form is not None and form.errors else 200,
    )
