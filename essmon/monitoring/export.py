"""The monitoring site's CSV downloads: the fleet table and one gateway's history, UTF-8
with a BOM and Japanese headers, so that spreadsheet software reads them as they are."""

from __future__ import annotations

import csv
from datetime import date, datetime
from typing import Any

from django.http import HttpResponse
from django.utils import timezone

from essmon.accounts.models import User
from essmon.core.jst import JST
from essmon.core.spreadsheet import safe_row
from essmon.gateways.models import Gateway
from essmon.monitoring import selectors
from essmon.monitoring.display import CURVE_LABELS, LABELS
from essmon.monitoring.fleet import FleetQuery, fleet_rows

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
BUCKET_FORMATS = {"day": "%Y-%m-%d %H:00", "month": "%Y-%m-%d", "year": "%Y-%m", "lifetime": "%Y"}


def csv_response(name: str) -> HttpResponse:
    """An empty CSV download named ``name``, its byte order mark written."""
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response.write("\ufeff")
    return response


def fleet_csv(user: User, query: FleetQuery, *, now: datetime) -> HttpResponse:
    """Every gateway the table's search and filter select, in its order."""
    response = csv_response(f"gateways_{timezone.localtime(now, JST):%Y%m%d_%H%M}.csv")
    writer = csv.writer(response)
    writer.writerow(FLEET_CSV_HEADER)
    for gw in fleet_rows(user, query, now=now):
        writer.writerow(safe_row(fleet_csv_row(gw)))
    return response


def fleet_csv_row(gw: Any) -> list[Any]:
    """One row; ``gw`` carries the table's columns (``fleet.with_columns``), which the
    model's type does not know."""
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


def history_csv(
    gateway: Gateway, view: str, anchor: date, *, since: datetime | None = None
) -> HttpResponse:
    """The day's samples on the day view, then the bars' energy, the totals and the
    ratios; from ``since`` on when given (dealers.access.history_floor)."""
    response = csv_response(f"{gateway.gateway_id}_{view}_{anchor:%Y%m%d}.csv")
    writer = csv.writer(response)
    if view == "day":
        curve = selectors.day_curve(gateway, day=anchor, since=since)
        writer.writerow(["日時", *CURVE_LABELS.values()])
        for index, ts in enumerate(curve["ts"]):
            when = datetime.fromtimestamp(ts, tz=JST)
            writer.writerow(
                [when.strftime("%Y-%m-%d %H:%M:%S"), *(curve[n][index] for n in CURVE_LABELS)]
            )
        writer.writerow([])
    result = selectors.energy_history(gateway, view=view, anchor=anchor, since=since)
    fmt = BUCKET_FORMATS[view]
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
