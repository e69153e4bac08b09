"""モニタリングサイト: the fleet table, and per gateway the live view, the history and the
remote settings. Every gateway is looked up through dealers.access, so a gateway the user
may not see is a 404 on every page and endpoint."""

from __future__ import annotations

from datetime import date
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseNotAllowed,
    JsonResponse,
)
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods
from django_htmx.http import HttpResponseClientRedirect

from essmon.accounts.http import AuthenticatedRequest, HtmxRequest
from essmon.accounts.views.auth import login_view
from essmon.core.replicas import reading_replica
from essmon.dealers.access import (
    Purpose,
    dealer_of,
    gateway_or_404,
    history_floor,
    is_desk_operator,
    is_viewer,
)
from essmon.dealers.models import DealerAccess
from essmon.dealers.services.records import record_view
from essmon.gateways.models import Gateway
from essmon.gateways.schema import SettingError, schema_for
from essmon.monitoring import display, export, selectors, services
from essmon.monitoring.fleet import (
    STATUSES,
    FleetQuery,
    fleet_page,
    fleet_view,
)
from essmon.monitoring.forms import SettingsForm, parse_history

LOGIN = "monitoring:login"


def login_required_here(view):
    """login_required with this site's login page; for a panel refreshing itself (htmx) the
    whole page goes to the login, to come back to the page, not to the panel."""

    @wraps(view)
    def wrapped(request: HtmxRequest, *args, **kwargs) -> HttpResponse:
        if request.user.is_authenticated:
            return view(request, *args, **kwargs)
        if request.htmx:
            page = request.htmx.current_url_abs_path or reverse("monitoring:index")
            return HttpResponseClientRedirect(f"{reverse(LOGIN)}?{urlencode({'next': page})}")
        return redirect_to_login(request.get_full_path(), reverse(LOGIN))

    return wrapped


def login(request: HttpRequest) -> HttpResponse:
    """The monitoring site's own login page (same account as the management site)."""
    return login_view(
        request, template="monitoring/login.html", default_next=reverse("monitoring:index")
    )


@login_required_here
@require_GET
@reading_replica()
def index(request: AuthenticatedRequest) -> HttpResponse:
    """Dealers and operators: every gateway they may watch, in one sortable, searchable
    table with its summary. Owners: their own sites, simply."""
    if not _is_fleet(request):
        return _owner_sites(request)
    query = FleetQuery.from_params(request.GET)
    fleet = fleet_view(request.user, query, request.GET.get("page"), now=timezone.now())
    return render(
        request,
        "monitoring/index.html",
        {
            "page": fleet.page,
            "query": query,
            "statuses": STATUSES,
            "summary": fleet.summary,
            "offline_minutes": int(fleet.policy.offline_after.total_seconds() // 60),
            "at_risk_days": fleet.policy.at_risk_after.days,
            "lapse_days": fleet.policy.lapse_days,
            "columns": display.fleet_columns(show_owner=True),
            "sort_choices": display.sort_choices(),
            "show_owner": True,
            "operator": is_desk_operator(request.user),
        },
    )


def _owner_sites(request: AuthenticatedRequest) -> HttpResponse:
    """An owner's sites, each with its state and a link to its live view; a household with
    one storage system goes straight to it."""
    page_number = request.GET.get("page")
    page = fleet_page(
        request.user, FleetQuery(sort="site"), page_number, now=timezone.now(), owned=True
    )
    if page.paginator.count == 1 and not page_number:
        return redirect("monitoring:live", gateway_id=page[0].gateway_id)
    return render(
        request, "monitoring/sites.html", {"page": page, "viewer": is_viewer(request.user)}
    )


@login_required_here
@require_GET
@reading_replica()
def fleet_csv(request: AuthenticatedRequest) -> HttpResponse:
    """The fleet table as CSV: every gateway the table's search and filter select, in its
    order."""
    if not _is_fleet(request):
        raise Http404("the fleet table is for dealers and operators")
    query = FleetQuery.from_params(request.GET)
    return export.fleet_csv(request.user, query, now=timezone.now())


def _is_fleet(request: AuthenticatedRequest) -> bool:
    return is_desk_operator(request.user) or dealer_of(request.user) is not None


@login_required_here
@require_GET
def switch(request: AuthenticatedRequest) -> HttpResponse:
    gateway = gateway_or_404(request.user, request.GET.get("gateway", ""))
    return redirect("monitoring:live", gateway_id=gateway.gateway_id)


def gateway_context(request: AuthenticatedRequest, gateway: Gateway, tab: str) -> dict[str, Any]:
    """What every tab of one gateway renders above its own part."""
    header = selectors.gateway_header(request.user, gateway)
    return {
        "gateway": gateway,
        "tab": tab,
        "switcher": header.switcher,
        "schema": schema_for(gateway.model),
        "may_change": header.may_change,
        "open_alert_count": header.open_alert_count,
        "viewer": header.viewer,
    }


@login_required_here
@require_GET
@reading_replica()
def live(request: AuthenticatedRequest, gateway_id: str) -> HttpResponse:
    gateway = gateway_or_404(request.user, gateway_id)
    record_view(user=request.user, gateway=gateway, action=DealerAccess.Action.VIEW_LIVE)
    context = gateway_context(request, gateway, "live")
    context.update(
        display.live_panel(gateway, now=timezone.now(), since=history_floor(request.user, gateway))
    )
    return render(request, "monitoring/live.html", context)


@login_required_here
@require_GET
@reading_replica()
def live_fragment(request: AuthenticatedRequest, gateway_id: str) -> HttpResponse:
    """The live panel alone, fetched by the page every few seconds (htmx)."""
    gateway = gateway_or_404(request.user, gateway_id)
    record_view(
        user=request.user, gateway=gateway, action=DealerAccess.Action.VIEW_LIVE, refresh=True
    )
    panel = display.live_panel(
        gateway, now=timezone.now(), since=history_floor(request.user, gateway)
    )
    return render(request, "monitoring/_live.html", {"gateway": gateway, **panel})


@login_required_here
@require_GET
@reading_replica()
def history(request: AuthenticatedRequest, gateway_id: str) -> HttpResponse:
    gateway = gateway_or_404(request.user, gateway_id)
    today = selectors.today_jst()
    try:
        view, anchor = parse_history(request.GET.get("view"), request.GET.get("date"), today=today)
    except ValueError:
        messages.error(request, "表示する期間が正しくないため、今日の表示に戻しました。")
        return redirect("monitoring:history", gateway_id=gateway.gateway_id)
    record_view(user=request.user, gateway=gateway, action=DealerAccess.Action.VIEW_HISTORY)
    context = gateway_context(request, gateway, "history")
    since = history_floor(request.user, gateway)
    context.update(display.history_page(gateway, view, anchor, today=today, since=since))
    live = selectors.live_state(gateway)
    context.update(
        waiting=selectors.awaiting_first_data(gateway, live, since=since),
        last_seen=live.last_seen_at if live else None,
    )
    return render(request, "monitoring/history.html", context)


def _history_request(request: AuthenticatedRequest, gateway_id: str) -> tuple[Gateway, str, date]:
    gateway = gateway_or_404(request.user, gateway_id)
    view, anchor = parse_history(
        request.GET.get("view"), request.GET.get("date"), today=selectors.today_jst()
    )
    return gateway, view, anchor


@login_required_here
@require_GET
@reading_replica()
def history_data(request: AuthenticatedRequest, gateway_id: str) -> HttpResponse:
    """The charts' data as JSON: energy per bucket, and the raw power curve on the day view."""
    try:
        gateway, view, anchor = _history_request(request, gateway_id)
    except ValueError as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    record_view(user=request.user, gateway=gateway, action=DealerAccess.Action.VIEW_HISTORY)
    return JsonResponse(
        display.history_data(gateway, view, anchor, since=history_floor(request.user, gateway))
    )


@login_required_here
@require_GET
@reading_replica()
def history_csv(request: AuthenticatedRequest, gateway_id: str) -> HttpResponse:
    """The history's data as CSV: the day's samples on the day view, the bars' energy
    otherwise."""
    try:
        gateway, view, anchor = _history_request(request, gateway_id)
    except ValueError as exc:
        return HttpResponseBadRequest(str(exc), content_type="text/plain; charset=utf-8")
    record_view(
        user=request.user,
        gateway=gateway,
        action=DealerAccess.Action.DOWNLOAD_CSV,
        detail=export.period_label(view, anchor),
    )
    return export.history_csv(gateway, view, anchor, since=history_floor(request.user, gateway))


@login_required_here
@require_http_methods(["GET", "POST"])
def settings_page(request: AuthenticatedRequest, gateway_id: str) -> HttpResponse:
    gateway = gateway_or_404(request.user, gateway_id, Purpose.VIEW_DETAILS)
    context = gateway_context(request, gateway, "settings")
    live_state = selectors.live_state(gateway)
    in_force = (live_state.settings_in_force if live_state else None) or {}
    on_the_way = selectors.settings_on_the_way(gateway)
    form = None
    if context["may_change"]:
        form = SettingsForm(
            request.POST if request.method == "POST" else None,
            model=gateway.model,
            shown={**in_force, **on_the_way},
        )
        if request.method == "POST" and form.is_valid():
            try:
                services.change_settings(gateway=gateway, changes=form.changes, user=request.user)
            except SettingError as exc:  # the schema changed between the form and here
                form.add_error(None, str(exc))
            else:
                messages.success(
                    request,
                    "設定の変更を受け付けました。ゲートウェイに届き次第、反映されます。",
                )
                return redirect("monitoring:settings", gateway_id=gateway.gateway_id)
    elif request.method == "POST":
        # the page exists for this user (a support operator reads it), only not the form:
        # 405, not 404, as the warranty tab answers
        return HttpResponseNotAllowed(["GET"])
    context.update(
        form=form,
        on_the_way=bool(on_the_way),
        **display.progress(gateway, live_state, since=history_floor(request.user, gateway)),
    )
    record_view(user=request.user, gateway=gateway, action=DealerAccess.Action.VIEW_SETTINGS)
    return render(
        request, "monitoring/settings.html", context, status=400 if form and form.errors else 200
    )


@login_required_here
@require_GET
def settings_progress(request: AuthenticatedRequest, gateway_id: str) -> HttpResponse:
    """The commands' progress and the audit log, fetched again while any is on its way."""
    gateway = gateway_or_404(request.user, gateway_id, Purpose.VIEW_DETAILS)
    live_state = selectors.live_state(gateway)
    record_view(
        user=request.user, gateway=gateway, action=DealerAccess.Action.VIEW_SETTINGS, refresh=True
    )
    return render(
        request,
        "monitoring/_progress_refresh.html",
        {
            "gateway": gateway,
            **display.progress(gateway, live_state, since=history_floor(request.user, gateway)),
        },
    )
