"""サポートデスク: the search, an account's and a gateway's page, and the actions, each
asking for a reason. Operators of either role (dealers.access.desk_only); anyone else
finds nothing (404)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from essmon.accounts.http import AuthenticatedRequest
from essmon.accounts.services.expiry import NOT_HELD
from essmon.core.http import client_address
from essmon.core.japanese import format_phone
from essmon.dealers import access
from essmon.dealers.access import Purpose, desk_only
from essmon.gateways.models import Gateway
from essmon.support import selectors, services
from essmon.support.forms import DeskReplacementForm, ReasonForm, SearchForm
from essmon.support.services import SupportError

PAGE_SIZE = 20


@login_required
@desk_only
@require_GET
def search(request: AuthenticatedRequest) -> HttpResponse:
    form = SearchForm(request.GET or None)
    hits: list[selectors.Hit] = []
    searched = False
    if form.is_valid() and form.cleaned_data["q"].strip():
        hits = selectors.search(form.cleaned_data["q"])
        searched = True
    page = Paginator(hits, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "support/search.html",
        {
            "form": form,
            "page": page,
            "searched": searched,
            "capped": len(hits) >= selectors.HITS_MAX,
            "hits_max": selectors.HITS_MAX,
            "administration": access.is_operator(request.user),
        },
        status=400 if form.errors else 200,
    )


@login_required
@desk_only
@require_GET
def person(request: AuthenticatedRequest, user_id: int) -> HttpResponse:
    target = access.desk_person_or_404(request.user, user_id)
    return render(
        request,
        "support/person.html",
        {"view": selectors.person_view(target), "phone": format_phone(target.phone)},
    )


@login_required
@desk_only
@require_GET
def gateway(request: AuthenticatedRequest, gateway_id: str) -> HttpResponse:
    found = access.gateway_or_404(request.user, gateway_id, Purpose.VIEW_CUSTOMER)
    view = selectors.gateway_view(found)
    return render(
        request,
        "support/gateway.html",
        {"view": view, "summaries": [view.summary], "gateway": found},
    )


# the person actions: (service, whether it applies, page title, what it does, why not,
# button, done message)
PERSON_ACTIONS = {
    "resend": (
        services.resend_provisional,
        selectors.may_resend,
        "仮登録メールの再送",
        "仮登録メールを、新しい本登録のURLを付けてもう一度お送りします。"
        "これまでにお送りしたURLは使えなくなり、仮登録の有効期限は今から数え直します。",
        "このアカウントは仮登録中ではないため、仮登録メールはお送りできません。",
        "仮登録メールを再送する",
        "仮登録メールを再送しました。",
    ),
    "unlock": (
        services.unlock,
        selectors.may_unlock,
        "アカウントのロック解除",
        "ログインの失敗が続いてロックされたアカウントを、すぐにログインできる状態に戻します"
        "(ロック解除のURLを開いたときと同じです)。お客様ご本人であることを確認してから"
        "解除してください。",
        "このアカウントはロックされていません。",
        "ロックを解除する",
        "ロックを解除しました。",
    ),
}


def _person_action(request: AuthenticatedRequest, user_id: int, name: str) -> HttpResponse:
    target = access.desk_person_or_404(request.user, user_id)
    service, applies, title, lead, why_not, button, done = PERSON_ACTIONS[name]
    form = ReasonForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            service(operator=request.user, person=target, reason=form.cleaned_data["reason"])
        except SupportError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, done)
            return redirect("support:person", user_id=target.pk)
    return render(
        request,
        "support/action.html",
        {
            "form": form,
            "title": title,
            "lead": lead,
            "button": button,
            "person": target,
            "unavailable": "" if applies(target) else why_not,
        },
        status=400 if form.errors else 200,
    )


@login_required
@desk_only
@require_http_methods(["GET", "POST"])
def resend(request: AuthenticatedRequest, user_id: int) -> HttpResponse:
    return _person_action(request, user_id, "resend")


@login_required
@desk_only
@require_http_methods(["GET", "POST"])
def unlock(request: AuthenticatedRequest, user_id: int) -> HttpResponse:
    return _person_action(request, user_id, "unlock")


@login_required
@desk_only
@require_http_methods(["GET", "POST"])
def release(request: AuthenticatedRequest, gateway_id: str) -> HttpResponse:
    found = access.gateway_or_404(request.user, gateway_id, Purpose.VIEW_CUSTOMER)
    form = ReasonForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.release(
                operator=request.user, gateway=found, reason=form.cleaned_data["reason"]
            )
        except SupportError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(
                request,
                f"{found.gateway_id} の仮登録を解除しました。未登録のゲートウェイに戻りました。",
            )
            return redirect("support:gateway", gateway_id=found.gateway_id)
    return render(
        request,
        "support/action.html",
        {
            "form": form,
            "title": "仮登録中のゲートウェイの解除",
            "lead": "仮登録中のゲートウェイを未登録に戻し、用紙のIDとパスワードで"
            "もう一度登録できるようにします。仮登録したアカウントからは外れ、入力された案件と"
            "系統連系日・受取日も消えます(アカウントそのものは残ります)。",
            "button": "仮登録を解除する",
            "gateway": found,
            "unavailable": "" if found.state == Gateway.State.HELD else NOT_HELD,
        },
        status=400 if form.errors else 200,
    )


@login_required
@desk_only
@require_http_methods(["GET", "POST"])
def replace(request: AuthenticatedRequest, gateway_id: str) -> HttpResponse:
    found = access.gateway_or_404(request.user, gateway_id, Purpose.REPLACE_GATEWAY)
    form = DeskReplacementForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            done = services.replace(
                operator=request.user,
                gateway=found,
                new_gateway_id=form.cleaned_data["gateway_id"],
                new_password=form.cleaned_data["gateway_password"],
                reason=form.cleaned_data["reason"],
                client_address=client_address(request),
            )
        except SupportError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            messages.success(
                request,
                f"ゲートウェイを交換しました({done.old_gateway_id} → {done.new_gateway_id})。"
                "お客様には交換のお知らせをメールでお送りしました。",
            )
            return redirect("support:gateway", gateway_id=done.new_gateway_id)
    return render(
        request,
        "support/replace.html",
        {"form": form, "gateway": found},
        status=400 if form.errors else 200,
    )


@login_required
@desk_only
@require_GET
def actions(request: AuthenticatedRequest) -> HttpResponse:
    page = Paginator(selectors.recent_actions(), 50).get_page(request.GET.get("page"))
    return render(request, "support/actions.html", {"page": page})
