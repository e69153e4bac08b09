"""アクセストークン: the pages where a customer (/menu/api/tokens/) and a dealer's person
(/dealer/api/tokens/) make, list and delete their own tokens for the public API. A new
token is shown once, in the answer to the form that made it: it is in no session, message
or log, and essmon keeps only its digest (docs/api.md, "Tokens")."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from essmon.accounts.http import AuthenticatedRequest
from essmon.api.forms import TokenForm
from essmon.api.selectors import scopes_for, tokens_of
from essmon.api.services import TOKENS_PER_USER, TokenError, create_token, revoke_token
from essmon.core.jst import JST
from essmon.dealers.access import customer_only, dealer_of
from essmon.monitoring.selectors import today_jst

CUSTOMER = "api_tokens"
DEALER = "dealer_api_tokens"


@login_required
@customer_only
@require_http_methods(["GET", "POST"])
def customer_tokens(request: AuthenticatedRequest) -> HttpResponse:
    return _tokens(request, CUSTOMER, back=("accounts:menu", "メインメニューに戻る"))


@login_required
@require_http_methods(["GET", "POST"])
def dealer_tokens(request: AuthenticatedRequest) -> HttpResponse:
    if dealer_of(request.user) is None:
        raise Http404("not a dealer")
    return _tokens(request, DEALER, back=("dealers:menu", "販売店様メニューに戻る"))


@login_required
@require_POST
def customer_revoke(request: AuthenticatedRequest, token_id: int) -> HttpResponse:
    return _revoke(request, token_id, CUSTOMER)


@login_required
@require_POST
def dealer_revoke(request: AuthenticatedRequest, token_id: int) -> HttpResponse:
    return _revoke(request, token_id, DEALER)


def _tokens(
    request: AuthenticatedRequest, namespace: str, *, back: tuple[str, str]
) -> HttpResponse:
    allowed = scopes_for(request.user)
    if not allowed:
        raise Http404("no tokens for this account")
    today = today_jst()
    form = TokenForm(
        request.POST or None, scopes=allowed, today=today, initial={"scopes": [allowed[0]]}
    )
    secret = None
    if request.method == "POST" and form.is_valid():
        expires_on = form.cleaned_data["expires_on"]
        expires_at = (
            datetime.combine(expires_on + timedelta(days=1), time.min, tzinfo=JST)
            if expires_on is not None
            else None
        )
        try:
            made = create_token(
                user=request.user,
                name=form.cleaned_data["name"],
                scopes=form.cleaned_data["scopes"],
                expires_at=expires_at,
                form_once=form.cleaned_data["once"],
            )
        except TokenError as exc:
            form.add_error(None, str(exc))
        else:
            secret = made.secret
            form = TokenForm(scopes=allowed, today=today, initial={"scopes": [allowed[0]]})
    return render(
        request,
        "api/tokens.html",
        {
            "form": form,
            "secret": secret,
            "tokens": tokens_of(request.user),
            "now": timezone.now(),
            "namespace": namespace,
            "back_url": back[0],
            "back_label": back[1],
            "max_tokens": TOKENS_PER_USER,
        },
        status=400 if form.errors else 200,
    )


def _revoke(request: AuthenticatedRequest, token_id: int, namespace: str) -> HttpResponse:
    """Another person's token does not exist here (404), whoever asks."""
    token = revoke_token(user=request.user, token_id=token_id)
    messages.success(request, f"アクセストークン「{token.name}」を削除しました。")
    return redirect(f"{namespace}:menu")
