"""What the monitoring pages show, in their words: the labels, the fleet table's headings,
the power-flow diagram's edges, and the context the live, history and settings templates
(and the charts' JSON) read, made from what ``selectors`` reads."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from django.utils import timezone

from essmon.commands.models import Command
from essmon.gateways.models import Gateway
from essmon.gateways.schema import MODES, Setting
from essmon.monitoring import selectors
from essmon.monitoring.forms import EARLIEST, describe_value, shift
from essmon.telemetry.models import Counter, GatewayLiveState

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
HISTORY_VIEWS = [("day", "日"), ("month", "月"), ("year", "年"), ("lifetime", "通算")]
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
# How long after a change is 反映済み the page keeps asking for the gateway's report of
# the settings in force (the protocol has it send one after applying a command).
SETTLE_WINDOW = timedelta(minutes=10)


# --- the fleet table ----------------------------------------------------------------------


def fleet_columns(*, show_owner: bool) -> list[tuple[str, str]]:
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


def sort_choices() -> list[tuple[str, str]]:
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


# --- live ---------------------------------------------------------------------------------


def live_panel(gateway: Gateway, *, now: datetime, since: datetime | None = None) -> dict[str, Any]:
    snapshot = selectors.live_snapshot(gateway, now=now, since=since)
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
        "stale_after": int(selectors.STALE_AFTER.total_seconds()),
        "edges": edges(snapshot.values, flows),
        "mode_label": MODES.get(snapshot.values.get("pcs_mode", ""), "—"),
        "today": [(LABELS[k], v, COUNTER_FLOWS.get(k, "")) for k, v in snapshot.today_kwh.items()],
        "refresh": LIVE_REFRESH_SECONDS,
        "flows": FLOWS,
    }


def edges(values: dict[str, Any], flows: dict[tuple[str, str], float]) -> list[dict[str, Any]]:
    """The diagram's four edges, each with its direction, watts (0 when idle) and flow."""
    result = []
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
        result.append(
            {
                "node": node,
                "label": label,
                "watts": watts,
                "inbound": inbound,
                "flow": flow,
                "verb": verb if watts > 0 else "停止中",
            }
        )
    return result


# --- history ------------------------------------------------------------------------------


def history_page(
    gateway: Gateway, view: str, anchor: date, *, today: date, since: datetime | None = None
) -> dict[str, Any]:
    """The history page: the charts' data, the totals and the links to the neighbours."""
    data = history_data(gateway, view, anchor, since=since)
    prev_anchor, next_anchor = shift(view, anchor, -1), shift(view, anchor, 1)
    return {
        "view": view,
        "anchor": anchor,
        "views": HISTORY_VIEWS,
        "prev": prev_anchor if view != "lifetime" and prev_anchor >= EARLIEST else None,
        "next": next_anchor if view != "lifetime" and next_anchor <= today else None,
        "today": today,
        "data": data,
        "totals": [
            (key, label, data["totals"][key], COUNTER_FLOWS.get(key, ""))
            for key, label in LABELS.items()
        ],
    }


def history_data(
    gateway: Gateway, view: str, anchor: date, *, since: datetime | None = None
) -> dict[str, Any]:
    """The charts' data (the page embeds it, the data endpoint answers it as JSON)."""
    result = selectors.energy_history(gateway, view=view, anchor=anchor, since=since)
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
        data["curve"] = selectors.day_curve(gateway, day=anchor, since=since)
        data["curve_labels"] = CURVE_LABELS
    return data


# --- settings -----------------------------------------------------------------------------


def progress(
    gateway: Gateway, live_state: GatewayLiveState | None, *, since: datetime | None = None
) -> dict[str, Any]:
    """The changes' progress and 現在の設定: the page refreshes both while a change is on
    its way, or applied but not yet in the gateway's latest report of its settings."""
    log = selectors.setting_log(gateway, since=since)
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
