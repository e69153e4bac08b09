"""モニタリングサイト: the fleet table, and per gateway the live view, the history and the
remote settings. Every gateway is looked up through dealers.access, so a gateway the user
may not see is a 404 on every page and endpoint."""

from __future__ import annotations

import csv
from datetime import date, datetime, timedelta
from functools import wraps
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    JsonResponse,
)
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods
from django_htmx.http import HttpResponseClientRedirect

from essmon.accounts.http import AuthenticatedRequest, HtmxRequest
from essmon.accounts.views.auth import login_view
from essmon.alerts.models import Alert
from essmon.commands.models import Command
from essmon.core.jst import JST
from essmon.core.spreadsheet import safe_row
from essmon.dealers.access import Purpose, gateway_or_404, is_operator, visible_gateways
from essmon.dealers.models import DealerAccess
from essmon.dealers.services.records import record_view
from essmon.gateways.schema import MODES, Setting, SettingError, schema_for
from essmon.monitoring import services
from essmon.monitoring.fleet import (
    STATUSES,
    FleetQuery,
    fleet_page,
    fleet_rows,
    fleet_summary,
)
from essmon.monitoring.forms import SettingsForm, describe_value
from essmon.telemetry.models import Counter, GatewayLiveState
from essmon.warranty.services import current_policy

LOGIN = "monitoring:login"
# The switcher lists this many gateways; a bigger fleet is chosen from the table instead.
SWITCHER_MAX = 100
LIVE_REFRESH_SECONDS = 5
PROGRESS_REFRESH_SECONDS = 3
LABELS = dict(Counter.choices)
CURVE_LABELS = {
    "pv_w": "発電 (W)",
    "load_w": "消費 (W)",
    "grid_w": "系統 (W, +買電/−売電)",
    "battery_w": "蓄電池 (W, +放電/−充電)",
    "soc_pct": "蓄電残量 (%)",
}


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
def index(request: AuthenticatedRequest) -> HttpResponse:
    """Dealers and operators: every gateway they may watch, in one sortable, searchable
    table with its summary. Owners: their own sites, simply."""
    if not _is_fleet(request):
        return _owner_sites(request)
    now = timezone.now()
    query = FleetQuery.from_params(request.GET)
    page = fleet_page(request.user, query, request.GET.get("page"), now=now)
    policy = current_policy()
    return render(
        request,
        "monitoring/index.html",
        {
            "page": page,
            "query": query,
            "statuses": STATUSES,
            "summary": fleet_summary(request.user, now=now),
            "offline_minutes": int(policy.offline_after.total_seconds() // 60),
            "at_risk_days": policy.at_risk_after.days,
            "lapse_days": policy.lapse_days,
            "columns": _columns(show_owner=True),
            "sort_choices": _sort_choices(),
            "show_owner": True,
            "operator": is_operator(request.user),
        },
    )


def _owner_sites(request: AuthenticatedRequest) -> HttpResponse:
    """An owner's sites, each with its state and a link to its live view; a household with
    one storage system goes straight to it."""
    page_number = request.GET.get("page")
    page = fleet_page(request.user, FleetQuery(sort="site"), page_number, now=timezone.now())
    if page.paginator.count == 1 and not page_number:
        return redirect("monitoring:live", gateway_id=page[0].gateway_id)
    return render(request, "monitoring/sites.html", {"page": page})


FLEET_CSV_HEADER = [
    "ゲートウェイID",
    "案件名",
    "お客様",
    "設置先住所",
    "状態",
    "最終受信",
    "蓄電残量(%)",
    "本日の発電量(kWh)",
    "未復旧の異常(件)",
    "保証",
]


@login_required_here
@require_GET
def fleet_csv(request: AuthenticatedRequest) -> HttpResponse:
    """The fleet table as CSV: every gateway the table's search and filter select, in its
    order (UTF-8 with BOM and Japanese headers, for spreadsheet software)."""
    if not _is_fleet(request):
        raise Http404("the fleet table is for dealers and operators")
    now = timezone.now()
    query = FleetQuery.from_params(request.GET)
    name = f"gateways_{timezone.localtime(now, JST):%Y%m%d_%H%M}.csv"
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response.write("\ufeff")
    writer = csv.writer(response)
    writer.writerow(FLEET_CSV_HEADER)
    for gw in fleet_rows(request.user, query, now=now):
        writer.writerow(safe_row(_fleet_csv_row(gw)))
    return response


def _fleet_csv_row(gw) -> list:
    status = "オンライン" if gw.online else "オフライン" if gw.last_seen else "未接続"
    last_seen = timezone.localtime(gw.last_seen, JST) if gw.last_seen else None
    return [
        gw.gateway_id,
        gw.site.name if gw.site else "",
        gw.owner.name if gw.owner else "",
        gw.site.address if gw.site else "",
        status,
        f"{last_seen:%Y-%m-%d %H:%M}" if last_seen else "",
        "" if gw.soc is None else round(gw.soc),
        "" if gw.pv_today is None else round(gw.pv_today, 1),
        gw.open_alerts,
        gw.warranty.column_text if gw.warranty else "",
    ]


def _columns(*, show_owner: bool) -> list[tuple[str, str]]:
    """The table's headings, each with its ?sort= key ("" when not sortable)."""
    columns = [("gateway_id", "ゲートウェイID"), ("site", "案件名")]
    if show_owner:
        columns.append(("", "お客様"))
    columns += [
        ("status", "状態"),
        ("last_seen", "最終受信"),
        ("soc", "蓄電残量"),
        ("pv_today", "本日の発電量"),
        ("alerts", "未復旧の異常"),
        ("", "保証"),
    ]
    return columns


def _sort_choices() -> list[tuple[str, str]]:
    """The same orders as the headings, for phones, where the table has no heading row."""
    return [
        ("gateway_id", "ゲートウェイID順"),
        ("site", "案件名順"),
        ("-status", "オンラインを先に"),
        ("status", "オフラインを先に"),
        ("-last_seen", "最終受信の新しい順"),
        ("last_seen", "最終受信の古い順"),
        ("soc", "蓄電残量の少ない順"),
        ("-soc", "蓄電残量の多い順"),
        ("-pv_today", "本日の発電量の多い順"),
        ("pv_today", "本日の発電量の少ない順"),
        ("-alerts", "未復旧の異常の多い順"),
    ]


def _is_fleet(request: AuthenticatedRequest) -> bool:
    return is_operator(request.user) or request.user.role == request.user.Role.DEALER


@login_required_here
@require_GET
def switch(request: AuthenticatedRequest) -> HttpResponse:
    gateway = gateway_or_404(request.user, request.GET.get("gateway", ""))
    return redirect("monitoring:live", gateway_id=gateway.gateway_id)


def gateway_context(request: AuthenticatedRequest, gateway, tab: str) -> dict:
    visible = visible_gateways(request.user).order_by("gateway_id")
    switcher = list(visible.values_list("gateway_id", "site__name")[: SWITCHER_MAX + 1])
    return {
        "gateway": gateway,
        "tab": tab,
        "switcher": switcher if len(switcher) <= SWITCHER_MAX else None,
        "schema": schema_for(gateway.model),
        "may_change": visible_gateways(request.user, Purpose.CHANGE_SETTINGS)
        .filter(pk=gateway.pk)
        .exists(),
        "open_alert_count": Alert.objects.filter(gateway=gateway, closed_at__isnull=True).count(),
    }


@login_required_here
@require_GET
def live(request: AuthenticatedRequest, gateway_id: str) -> HttpResponse:
    gateway = gateway_or_404(request.user, gateway_id)
    record_view(user=request.user, gateway=gateway, action=DealerAccess.Action.VIEW_LIVE)
    context = gateway_context(request, gateway, "live")
    context.update(_live_context(gateway))
    return render(request, "monitoring/live.html", context)


@login_required_here
@require_GET
def live_fragment(request: AuthenticatedRequest, gateway_id: str) -> HttpResponse:
    """The live panel alone, fetched by the page every few seconds (htmx)."""
    gateway = gateway_or_404(request.user, gateway_id)
    record_view(
        user=request.user, gateway=gateway, action=DealerAccess.Action.VIEW_LIVE, refresh=True
    )
    return render(request, "monitoring/_live.html", {"gateway": gateway, **_live_context(gateway)})


def _live_context(gateway) -> dict:
    now = timezone.now()
    snapshot = services.live_snapshot(gateway, now=now)
    flows = {(f.source, f.target): f.watts for f in snapshot.flows}
    return {
        "snap": snapshot,
        "now": now,
        "age_minutes": int((now - snapshot.sample_ts).total_seconds() // 60)
        if snapshot.sample_ts
        else None,
        "sample_age": int((now - snapshot.sample_ts).total_seconds())
        if snapshot.sample_ts
        else None,
        "stale_after": int(services.STALE_AFTER.total_seconds()),
        "edges": _edges(snapshot.values, flows),
        "mode_label": MODES.get(snapshot.values.get("pcs_mode", ""), "—"),
        "today": [(LABELS[k], v, COUNTER_FLOWS.get(k, "")) for k, v in snapshot.today_kwh.items()],
        "refresh": LIVE_REFRESH_SECONDS,
        "flows": FLOWS,
    }


# One colour per flow (the stylesheet's --flow-* properties, its .f-* classes): the live
# legend, the diagram and the history charts all name flows with these words.
FLOWS = ("pv", "load", "charge", "discharge", "buy", "sell")
COUNTER_FLOWS = {
    "pv_kwh": "pv",
    "load_kwh": "load",
    "charge_kwh": "charge",
    "discharge_kwh": "discharge",
    "grid_import_kwh": "buy",
    "grid_export_kwh": "sell",
}


def _edges(values: dict, flows: dict) -> list[dict]:
    """The diagram's four edges, each with its direction, watts (0 when idle) and flow."""
    edges = []
    for node, label in (("pv", "発電"), ("home", "消費"), ("battery", "蓄電池"), ("grid", "系統")):
        if (node, "pcs") in flows:
            watts, inbound = flows[(node, "pcs")], True
        elif ("pcs", node) in flows:
            watts, inbound = flows[("pcs", node)], False
        else:
            watts, inbound = 0.0, node != "home"
        verb, flow = {
            "pv": ("発電中", "pv"),
            "home": ("消費中", "load"),
            "battery": ("放電中", "discharge") if inbound else ("充電中", "charge"),
            "grid": ("買電中", "buy") if inbound else ("売電中", "sell"),
        }[node]
        edges.append(
            {
                "node": node,
                "label": label,
                "watts": watts,
                "inbound": inbound,
                "flow": flow,
                "verb": verb if watts > 0 else "停止中",
            }
        )
    return edges


@login_required_here
@require_GET
def history(request: AuthenticatedRequest, gateway_id: str) -> HttpResponse:
    gateway = gateway_or_404(request.user, gateway_id)
    today = services.today_jst()
    try:
        view, anchor = services.parse_history(
            request.GET.get("view"), request.GET.get("date"), today=today
        )
    except ValueError:
        messages.error(request, "表示する期間が正しくないため、今日の表示に戻しました。")
        return redirect("monitoring:history", gateway_id=gateway.gateway_id)
    record_view(user=request.user, gateway=gateway, action=DealerAccess.Action.VIEW_HISTORY)
    context = gateway_context(request, gateway, "history")
    data = _history_data(gateway, view, anchor)
    prev_anchor, next_anchor = services.shift(view, anchor, -1), services.shift(view, anchor, 1)
    context.update(
        view=view,
        anchor=anchor,
        views=[("day", "日"), ("month", "月"), ("year", "年"), ("lifetime", "通算")],
        prev=prev_anchor if view != "lifetime" and prev_anchor >= services.EARLIEST else None,
        next=next_anchor if view != "lifetime" and next_anchor <= today else None,
        today=today,
        data=data,
        totals=[
            (key, label, data["totals"][key], COUNTER_FLOWS.get(key, ""))
            for key, label in LABELS.items()
        ],
    )
    return render(request, "monitoring/history.html", context)


def _history_data(gateway, view: str, anchor: date) -> dict:
    result = services.energy_history(gateway, view=view, anchor=anchor)
    data = {
        "view": view,
        "date": anchor.isoformat(),
        "x": [int(b.start.timestamp()) for b in result.buckets],
        "energy": {name: [b.kwh[name] for b in result.buckets] for name in LABELS},
        # per bar: "" or 補完 / 欠測 where the counters could not be used as they were
        "marks": [b.mark for b in result.buckets],
        "totals": result.totals,
        "self_consumption": result.self_consumption,
        "self_sufficiency": result.self_sufficiency,
        "labels": LABELS,
        "flows": COUNTER_FLOWS,
    }
    if view == "day":
        data["curve"] = services.day_curve(gateway, day=anchor)
        data["curve_labels"] = CURVE_LABELS
    return data


def _history_request(request: AuthenticatedRequest, gateway_id: str):
    gateway = gateway_or_404(request.user, gateway_id)
    view, anchor = services.parse_history(
        request.GET.get("view"), request.GET.get("date"), today=services.today_jst()
    )
    return gateway, view, anchor


@login_required_here
@require_GET
def history_data(request: AuthenticatedRequest, gateway_id: str) -> HttpResponse:
    """The charts' data as JSON: energy per bucket, and the raw power curve on the day view."""
    try:
        gateway, view, anchor = _history_request(request, gateway_id)
    except ValueError as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    record_view(user=request.user, gateway=gateway, action=DealerAccess.Action.VIEW_HISTORY)
    return JsonResponse(_history_data(gateway, view, anchor))


@login_required_here
@require_GET
def history_csv(request: AuthenticatedRequest, gateway_id: str) -> HttpResponse:
    """The history's data as CSV (UTF-8 with BOM, so spreadsheet software reads the
    Japanese headers): the day's samples on the day view, the bars' energy otherwise."""
    try:
        gateway, view, anchor = _history_request(request, gateway_id)
    except ValueError as exc:
        return HttpResponseBadRequest(str(exc), content_type="text/plain; charset=utf-8")
    record_view(
        user=request.user,
        gateway=gateway,
        action=DealerAccess.Action.DOWNLOAD_CSV,
        detail=period_label(view, anchor),
    )
    name = f"{gateway.gateway_id}_{view}_{anchor:%Y%m%d}.csv"
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response.write("\ufeff")
    writer = csv.writer(response)
    if view == "day":
        curve = services.day_curve(gateway, day=anchor)
        writer.writerow(["日時", *CURVE_LABELS.values()])
        for index, ts in enumerate(curve["ts"]):
            when = datetime.fromtimestamp(ts, tz=JST)
            writer.writerow(
                [when.strftime("%Y-%m-%d %H:%M:%S"), *(curve[n][index] for n in CURVE_LABELS)]
            )
        writer.writerow([])
    result = services.energy_history(gateway, view=view, anchor=anchor)
    fmt = {"day": "%Y-%m-%d %H:00", "month": "%Y-%m-%d", "year": "%Y-%m", "lifetime": "%Y"}[view]
    writer.writerow(["期間", *(f"{label} (kWh)" for label in LABELS.values()), "欠測/補完"])
    for bucket in result.buckets:
        writer.writerow([bucket.start.strftime(fmt), *(bucket.kwh[n] for n in LABELS), bucket.mark])
    writer.writerow(["合計", *(result.totals[n] for n in LABELS)])
    writer.writerow([])
    for label, share in (
        ("自家消費率 (%)", result.self_consumption),
        ("自給率 (%)", result.self_sufficiency),
    ):
        writer.writerow([label, "" if share is None else round(share * 100, 1)])
    return response


def period_label(view: str, anchor: date) -> str:
    """The history's period as the record of a download names it."""
    return {
        "day": f"{anchor.year}年{anchor.month}月{anchor.day}日の1日分",
        "month": f"{anchor.year}年{anchor.month}月分",
        "year": f"{anchor.year}年分",
        "lifetime": "通算",
    }[view]


@login_required_here
@require_http_methods(["GET", "POST"])
def settings_page(request: AuthenticatedRequest, gateway_id: str) -> HttpResponse:
    gateway = gateway_or_404(request.user, gateway_id)
    context = gateway_context(request, gateway, "settings")
    live_state = GatewayLiveState.objects.filter(gateway=gateway).first()
    in_force = (live_state.settings_in_force if live_state else None) or {}
    on_the_way = services.settings_on_the_way(gateway)
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
        gateway_or_404(request.user, gateway_id, Purpose.CHANGE_SETTINGS)
    context.update(
        form=form,
        on_the_way=bool(on_the_way),
        **_progress_context(gateway, live_state),
    )
    record_view(user=request.user, gateway=gateway, action=DealerAccess.Action.VIEW_SETTINGS)
    return render(
        request, "monitoring/settings.html", context, status=400 if form and form.errors else 200
    )


@login_required_here
@require_GET
def settings_progress(request: AuthenticatedRequest, gateway_id: str) -> HttpResponse:
    """The commands' progress and the audit log, fetched again while any is on its way."""
    gateway = gateway_or_404(request.user, gateway_id)
    live_state = GatewayLiveState.objects.filter(gateway=gateway).first()
    record_view(
        user=request.user, gateway=gateway, action=DealerAccess.Action.VIEW_SETTINGS, refresh=True
    )
    return render(
        request,
        "monitoring/_progress_refresh.html",
        {"gateway": gateway, **_progress_context(gateway, live_state)},
    )


# How long after a change is 反映済み the page keeps asking for the gateway's report of
# the settings in force (the protocol has it send one after applying a command).
SETTLE_WINDOW = timedelta(minutes=10)


def _progress_context(gateway, live_state: GatewayLiveState | None) -> dict:
    """The changes' progress and 現在の設定: the page refreshes both while a change is on
    its way, or applied but not yet in the gateway's latest report of its settings."""
    log = services.setting_log(gateway)
    setting_labels = dict(Setting.choices)
    in_force = (live_state.settings_in_force if live_state else None) or {}
    status_ts = live_state.status_ts if live_state else None
    recent = timezone.now() - SETTLE_WINDOW
    settling = any(
        c.status == Command.Status.APPLIED
        and c.answered_at is not None
        and c.answered_at >= recent
        and (status_ts is None or (c.result_ts is not None and c.result_ts > status_ts))
        for c in log
    )
    waiting = any(c.status in Command.OPEN for c in log)
    return {
        "in_force": [
            (label, describe_value(key, in_force.get(key))) for key, label in Setting.choices
        ],
        "status_ts": status_ts,
        "firmware": live_state.firmware if live_state else "",
        "settling": settling,
        "refreshing": waiting or settling,
        "log": [
            {
                "command": c,
                "setting": setting_labels.get(c.setting, c.setting),
                "before": describe_value(c.setting, c.previous_value),
                "after": describe_value(c.setting, c.value),
                "open": c.status in Command.OPEN,
            }
            for c in log
        ],
        "waiting": waiting,
        "progress_refresh": PROGRESS_REFRESH_SECONDS,
    }
