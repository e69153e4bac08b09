"""History: one gateway's energies by day, month, year and lifetime (the history charts'
bars, from the rollups) and the raw samples of one JST day, a page at a time. The same
reads, bounds and 名義変更 floor as the history page (monitoring.views.history_data), the
same record of a dealer's view, and an ETag on every answer."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Schema
from ninja.decorators import decorate_view
from pydantic import Field

from essmon.api.endpoints.acting import gateway_for
from essmon.api.endpoints.common import Page, responses
from essmon.api.endpoints.gateways import RECORD_DETAIL, LiveValues
from essmon.api.etags import with_etag
from essmon.api.history import day_samples
from essmon.api.models import AccessToken
from essmon.api.pagination import context_of, decode_cursor, next_cursor
from essmon.api.problems import invalid, not_found
from essmon.core.replicas import reading_replica
from essmon.dealers.access import Purpose, history_floor
from essmon.dealers.models import DealerAccess
from essmon.dealers.services.records import record_view
from essmon.monitoring.forms import parse_history
from essmon.monitoring.selectors import energy_history, today_jst

router = Router(tags=["history"])
READ = AccessToken.Scope.READ
Period = Literal["day", "month", "year", "lifetime"]
DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"


def _date_parameter() -> Any:
    return Query(
        None,
        description="YYYY-MM-DD, 2000-01-01 to today (JST); default today",
        pattern=DATE_PATTERN,
    )


SAMPLES_DEFAULT_LIMIT = 500
# a whole day of one-minute samples in one page
SAMPLES_MAX_LIMIT = 1440


class Energies(Schema):
    pv_kwh: float = Field(description="generation (発電量)")
    load_kwh: float = Field(description="consumption (消費量)")
    grid_import_kwh: float = Field(description="purchase (買電量)")
    grid_export_kwh: float = Field(description="sale (売電量)")
    charge_kwh: float = Field(description="battery charge (充電量)")
    discharge_kwh: float = Field(description="battery discharge (放電量)")


class EnergyBucket(Energies):
    start: dt.datetime = Field(description="the bar's start, in JST")
    filled: int = Field(
        description="intervals whose counters were impossible, their energy taken from the "
        "powers (補完)"
    )
    missing: int = Field(
        description="such intervals across a gap too long to fill, their energy left out (欠測)"
    )


class EnergyOut(Schema):
    gateway_id: str
    period: Period
    date: dt.date = Field(description="the day asked for (its month or year for those periods)")
    since: dt.datetime | None = Field(
        description="after a 名義変更, the owner's history starts here; null: all of it"
    )
    buckets: list[EnergyBucket] = Field(
        description="day: hours; month: days; year: months; lifetime: years (JST)"
    )
    totals: Energies
    self_consumption: float | None = Field(
        description="自家消費率, (PV − sale) / PV, 0–1; null without generation"
    )
    self_sufficiency: float | None = Field(
        description="自給率, (PV − sale) / consumption, 0–1; null without consumption"
    )


def _anchor(period: str, day: str | None) -> dt.date:
    """The history page's own parsing and bounds (monitoring.forms.parse_history): a
    date from 2000-01-01 to today (JST), today when none."""
    try:
        _, anchor = parse_history(period, day, today=today_jst())
    except ValueError as exc:
        raise invalid(("query.date", str(exc))) from None
    return anchor


@router.get(
    "/gateways/{gateway_id}/energy",
    response=responses({200: EnergyOut, 304: None}),
    summary="Energies by day, month, year or lifetime",
)
@decorate_view(reading_replica())
def get_energy(
    request: HttpRequest,
    gateway_id: str,
    period: Period = "day",
    date: str | None = _date_parameter(),
) -> HttpResponse:
    """The history chart's bars and totals: `day` the hours of that JST day, `month` the
    days of its month, `year` the months of its year, `lifetime` one bar a year; with the
    totals and the self-consumption and self-sufficiency rates. From the energy rollups,
    which are kept after the raw samples are dropped. With an ETag. Scope `read`."""
    user, gateway = gateway_for(request, gateway_id, purpose=Purpose.VIEW, scope=READ)
    anchor = _anchor(period, date)
    record_view(
        user=user, gateway=gateway, action=DealerAccess.Action.VIEW_HISTORY, detail=RECORD_DETAIL
    )
    since = history_floor(user, gateway)
    found = energy_history(gateway, view=period, anchor=anchor, since=since)
    out = EnergyOut(
        gateway_id=gateway.gateway_id,
        period=period,
        date=anchor,
        since=since,
        buckets=[
            EnergyBucket(start=b.start, filled=b.filled, missing=b.missing, **b.kwh)
            for b in found.buckets
        ],
        totals=Energies(**found.totals),
        self_consumption=found.self_consumption,
        self_sufficiency=found.self_sufficiency,
    )
    return with_etag(request, out)


class SampleOut(LiveValues):
    ts: dt.datetime = Field(description="when the values were measured")
    pv_kwh: float = Field(description="the counters since installation, as the gateway sent")
    load_kwh: float
    grid_import_kwh: float
    grid_export_kwh: float
    charge_kwh: float
    discharge_kwh: float


class SamplePage(Page):
    gateway_id: str
    date: dt.date = Field(description="the JST day")
    since: dt.datetime | None = Field(
        description="after a 名義変更, the owner's history starts here; null: all of it"
    )
    items: list[SampleOut]


@router.get(
    "/gateways/{gateway_id}/samples",
    response=responses({200: SamplePage, 304: None}),
    summary="Raw samples of one day",
)
@decorate_view(reading_replica())
def list_samples(
    request: HttpRequest,
    gateway_id: str,
    date: str | None = _date_parameter(),
    cursor: str | None = None,
    limit: int = Query(SAMPLES_DEFAULT_LIMIT, ge=1, le=SAMPLES_MAX_LIMIT),
) -> HttpResponse:
    """The measured values of one JST day as the gateway sent them, oldest first, a page
    at a time (raw samples are kept for `ESSMON_RAW_RETENTION_MONTHS`; the energies stay
    longer). With an ETag. Scope `read`."""
    user, gateway = gateway_for(request, gateway_id, purpose=Purpose.VIEW, scope=READ)
    anchor = _anchor("day", date)
    context = context_of("samples", gateway.gateway_id, anchor.isoformat())
    after = decode_cursor(cursor, context=context)
    if after is not None and not isinstance(after, int):
        raise not_found()  # pragma: no cover - a signed cursor of ours holds an int here
    record_view(
        user=user, gateway=gateway, action=DealerAccess.Action.VIEW_HISTORY, detail=RECORD_DETAIL
    )
    since = history_floor(user, gateway)
    rows, last = day_samples(gateway, day=anchor, since=since, after=after, limit=limit)
    for row in rows:
        row["ts"] = row["ts"].isoformat()
    # the page as plain data, shaped as SamplePage says (tests/api/test_history.py checks
    # it against the model): a pydantic object per sample was most of the time of a page
    # of 1,440 (docs/performance.md, "Public API")
    out = {
        "next_cursor": next_cursor(last, context=context),
        "gateway_id": gateway.gateway_id,
        "date": anchor.isoformat(),
        "since": since.isoformat() if since is not None else None,
        "items": rows,
    }
    return with_etag(request, out)
