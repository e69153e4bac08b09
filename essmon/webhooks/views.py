"""The endpoint pages: the customer's under /menu/webhooks/, the dealer's (its administrator
only) under /dealer/webhooks/; one set of views, each side naming whose endpoints they are.
Another holder's endpoint does not exist here (404)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from essmon.accounts.http import AuthenticatedRequest
from essmon.accounts.models import User
from essmon.dealers.access import customer_only, dealer_admin_of, is_operator
from essmon.webhooks import events, selectors, services
from essmon.webhooks.forms import EndpointForm
from essmon.webhooks.models import Endpoint
from essmon.webhooks.services import Holder, WebhookError

LOG_PAGE_SIZE = 50


@dataclass(frozen=True)
class Side:
    prefix: str  # of the URL names: "" for the customer's, "dealer_" for the dealer's
    back_url: str
    back_label: str

    def name(self, view: str) -> str:
        return f"webhooks:{self.prefix}{view}"

    @property
    def menu_url(self) -> str:
        return reverse(self.name("menu"))

    def url(self, view: str, endpoint: Endpoint) -> str:
        return reverse(self.name(view), kwargs={"endpoint_id": endpoint.pk})

    def urls(self, endpoint: Endpoint) -> dict[str, str]:
        """The endpoint's page and actions, for its template."""
        names = ("endpoint", "rotate", "toggle", "resume", "test", "delete")
        return {name: self.url(name, endpoint) for name in names}


CUSTOMER = Side("", "accounts:menu", "メインメニューに戻る")
DEALER = Side("dealer_", "dealers:menu", "販売店様メニューに戻る")

View = Callable[..., HttpResponseBase]


def _customer(view: View) -> View:
    """The customer's pages: the list sends a dealer or an operator to its own menu (as
    every customer screen does); an endpoint's pages are not found for anyone else."""

    @wraps(view)
    def wrapper(request: AuthenticatedRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if request.user.role != User.Role.CUSTOMER or is_operator(request.user):
            raise Http404("the customer's page")
        return view(request, CUSTOMER, Holder(owner=request.user), *args, **kwargs)

    if view is menu:
        return login_required(customer_only(wrapper))
    return login_required(wrapper)


def _dealer(view: View) -> View:
    @login_required
    @wraps(view)
    def wrapper(request: AuthenticatedRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        dealer = dealer_admin_of(request.user)
        if dealer is None:  # the dealer's staff logins and everyone else
            raise Http404("the dealer's administrator's page")
        return view(request, DEALER, Holder(dealer=dealer), *args, **kwargs)

    return wrapper


def _endpoint_or_404(holder: Holder, endpoint_id: int) -> Endpoint:
    endpoint = holder.endpoints().filter(pk=endpoint_id).first()
    if endpoint is None:
        raise Http404("no such webhook endpoint")
    return endpoint


def _types(endpoint: Endpoint) -> list[str]:
    return [events.EVENT_TYPES[t] for t in endpoint.event_types if t in events.EVENT_TYPES]


@require_http_methods(["GET", "POST"])
def menu(request: AuthenticatedRequest, side: Side, holder: Holder) -> HttpResponse:
    """The holder's endpoints and the form that adds one; the new secret is shown once, in
    the answer to the POST (never stored in plain text, not even in the session)."""
    form = EndpointForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            endpoint, secret = services.create_endpoint(
                holder=holder,
                url=form.cleaned_data["url"],
                event_types=form.cleaned_data["event_types"],
                description=form.cleaned_data["description"],
                form_once=form.cleaned_data["once"],
            )
        except WebhookError as exc:
            form.add_error(exc.field, exc.message)
        else:
            return _with_secret(request, side, endpoint, secret, created=True)
    endpoints = list(selectors.endpoints_of(holder.endpoints()))
    for endpoint in endpoints:
        endpoint.type_labels = _types(endpoint)  # type: ignore[attr-defined]
        endpoint.page_url = side.url("endpoint", endpoint)  # type: ignore[attr-defined]
    return render(
        request,
        "webhooks/menu.html",
        {
            "side": side,
            "form": form,
            "endpoints": endpoints,
            "max_endpoints": services.MAX_ENDPOINTS,
            "can_add": len(endpoints) < services.MAX_ENDPOINTS,
            "is_dealer": holder.dealer is not None,
        },
        status=400 if form.errors else 200,
    )


def _with_secret(
    request: AuthenticatedRequest, side: Side, endpoint: Endpoint, secret: str, *, created: bool
) -> HttpResponse:
    return render(
        request,
        "webhooks/secret.html",
        {
            "side": side,
            "endpoint": endpoint,
            "secret": secret,
            "created": created,
            "urls": side.urls(endpoint),
        },
    )


@require_http_methods(["GET"])
def endpoint(
    request: AuthenticatedRequest, side: Side, holder: Holder, endpoint_id: int
) -> HttpResponse:
    """One endpoint: its settings, actions and delivery log (newest first, paginated)."""
    found = _endpoint_or_404(holder, endpoint_id)
    page = Paginator(selectors.delivery_log(found), LOG_PAGE_SIZE).get_page(request.GET.get("page"))
    for delivery in page:
        delivery.type_label = events.LABELS.get(delivery.event.type, delivery.event.type)  # type: ignore[attr-defined]
    return render(
        request,
        "webhooks/endpoint.html",
        {
            "side": side,
            "endpoint": found,
            "type_labels": _types(found),
            "urls": side.urls(found),
            "page": page,
            "pause_hours": settings.WEBHOOK_PAUSE_AFTER_HOURS,
            "retention_days": settings.WEBHOOK_LOG_RETENTION_DAYS,
        },
    )


@require_POST
def rotate(
    request: AuthenticatedRequest, side: Side, holder: Holder, endpoint_id: int
) -> HttpResponse:
    found = _endpoint_or_404(holder, endpoint_id)
    secret = services.rotate_secret(endpoint=found)
    return _with_secret(request, side, found, secret, created=False)


@require_POST
def toggle(
    request: AuthenticatedRequest, side: Side, holder: Holder, endpoint_id: int
) -> HttpResponse:
    found = _endpoint_or_404(holder, endpoint_id)
    services.set_enabled(endpoint=found, enabled=not found.enabled)
    if found.enabled:
        messages.success(
            request, "送信先を無効にしました。無効の間に起きたイベントは送信しません。"
        )
    else:
        messages.success(request, "送信先を有効にしました。")
    return redirect(side.name("endpoint"), endpoint_id=found.pk)


@require_POST
def resume(
    request: AuthenticatedRequest, side: Side, holder: Holder, endpoint_id: int
) -> HttpResponse:
    found = _endpoint_or_404(holder, endpoint_id)
    held = services.resume_endpoint(endpoint=found)
    messages.success(request, f"送信を再開しました。保留していた{held}件を順に送信します。")
    return redirect(side.name("endpoint"), endpoint_id=found.pk)


@require_POST
def test(
    request: AuthenticatedRequest, side: Side, holder: Holder, endpoint_id: int
) -> HttpResponse:
    found = _endpoint_or_404(holder, endpoint_id)
    try:
        services.send_test(endpoint=found)
    except WebhookError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request, "テストイベントを送信待ちにしました。結果は下の送信履歴に表示されます。"
        )
    return redirect(side.name("endpoint"), endpoint_id=found.pk)


@require_POST
def delete(
    request: AuthenticatedRequest, side: Side, holder: Holder, endpoint_id: int
) -> HttpResponse:
    found = _endpoint_or_404(holder, endpoint_id)
    services.delete_endpoint(endpoint=found)
    messages.success(request, f"送信先 {found.url} を削除しました。送信履歴も削除されました。")
    return redirect(side.name("menu"))


VIEWS: dict[str, View] = {
    "menu": menu,
    "endpoint": endpoint,
    "rotate": rotate,
    "toggle": toggle,
    "resume": resume,
    "test": test,
    "delete": delete,
}
customer_views = {name: _customer(view) for name, view in VIEWS.items()}
dealer_views = {name: _dealer(view) for name, view in VIEWS.items()}
