"""Sites and gateways: the caller's visible sites, the gateways with their state (a
cursor-paginated list and one gateway), the live values and the warranty state. Each reads
through the selectors the monitoring pages use, with the same access rules
(dealers.access) and the same record of a dealer's views (dealers.services.records)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from django.db.models import Exists, OuterRef, Prefetch
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from ninja import Query, Router, Schema
from ninja.decorators import decorate_view
from pydantic import Field

from essmon.accounts.models import User
from essmon.api.auth import caller
from essmon.api.endpoints.common import Page, responses
from essmon.api.etags import with_etag
from essmon.api.models import AccessToken
from essmon.api.pagination import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    context_of,
    decode_cursor,
    keyset_page,
    next_cursor,
)
from essmon.api.problems import ApiProblem, not_found
from essmon.core.replicas import reading_replica
from essmon.dealers.access import Purpose, history_floor, visible_gateways
from essmon.dealers.models import DealerAccess
from essmon.dealers.services.records import record_view
from essmon.gateways.models import Gateway, Site
from essmon.monitoring.fleet import FleetQuery, fleet, with_columns
from essmon.monitoring.selectors import live_snapshot, live_state
from essmon.warranty.selectors import state_of

router = Router(tags=["sites and gateways"])
READ = AccessToken.Scope.READ
# how a dealer's view through the API reads in 販売店様による閲覧・変更の記録
RECORD_DETAIL = "公開API"
GatewayState = Literal["online", "offline", "never"]
StateFilter = Literal["online", "offline", "never", "alerts", "warranty_at_risk"]


def _gateway_or_404(user: User, gateway_id: str, purpose: Purpose = Purpose.VIEW) -> Gateway:
    """dealers.access's lookup, with its 404 as the API's problem."""
    if "\x00" in gateway_id or len(gateway_id) > 64:
        raise not_found()
    gateway = visible_gateways(user, purpose).filter(gateway_id=gateway_id).first()
    if gateway is None:
        raise not_found("No such gateway, or not one this token may see.")
    return gateway


def _owned(user: User) -> bool:
    """The owner's figures start at its ``owner_since`` (docs/transfers.md)."""
    return user.role == User.Role.CUSTOMER


# --- sites -------------------------------------------------------------------------------


class SiteGateway(Schema):
    gateway_id: str
    model: str


class SiteOut(Schema):
    id: int
    name: str = Field(description="案件名")
    postal_code: str
    prefecture: str
    city: str
    address: str = Field(description="the rest of the address after the city")
    gateways: list[SiteGateway]


class SitePage(Page):
    items: list[SiteOut]


@router.get("/sites", response=responses({200: SitePage}), summary="List your sites")
@decorate_view(reading_replica())
def list_sites(
    request: HttpRequest,
    cursor: str | None = None,
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
) -> SitePage:
    """The sites (案件) with at least one gateway the token's user may see, by id, each with
    those gateways. Scope `read`."""
    user = caller(request, READ).user
    context = context_of("sites")
    visible = visible_gateways(user).order_by("gateway_id")
    sites = (
        Site.objects.filter(Exists(visible.filter(site=OuterRef("pk"))))
        .order_by("pk")
        .prefetch_related(Prefetch("gateways", queryset=visible, to_attr="shown"))
    )
    page, last = keyset_page(sites, key="pk", after=_int_cursor(cursor, context), limit=limit)
    return SitePage(
        items=[
            SiteOut(
                id=site.pk,
                name=site.name,
                postal_code=site.postal_code,
                prefecture=site.prefecture,
                city=site.city,
                address=site.address_rest,
                gateways=[
                    SiteGateway(gateway_id=g.gateway_id, model=g.model)
                    for g in site.shown  # type: ignore[attr-defined]
                ],
            )
            for site in page
        ],
        next_cursor=next_cursor(last, context=context),
    )


def _int_cursor(cursor: str | None, context: str) -> int | None:
    after = decode_cursor(cursor, context=context)
    if after is not None and not isinstance(after, int):
        # signed by us for this list, so never; but a key of the wrong type is no key
        raise ApiProblem(400, "bad-request", "The cursor is not valid for this list.")
    return after


# --- gateways ----------------------------------------------------------------------------


class GatewayOut(Schema):
    gateway_id: str
    model: str
    site_id: int | None
    site_name: str
    state: GatewayState = Field(description="online, offline, or never heard from")
    last_seen_at: datetime | None
    state_of_charge_pct: float | None
    pv_today_kwh: float | None
    open_alert_count: int
    warranty_status: str | None = Field(
        description="pending, standard, extended, at_risk or lapsed (see the warranty operation)"
    )


class GatewayPage(Page):
    items: list[GatewayOut]


class GatewayDetail(GatewayOut):
    part_number: str
    firmware: str | None
    claimed_at: datetime | None
    owner_since: datetime | None = Field(
        description="when the current owner's time began (after a 名義変更)"
    )


def _state(row: Gateway) -> GatewayState:
    if row.last_seen is None:  # type: ignore[attr-defined]
        return "never"
    return "online" if row.online else "offline"  # type: ignore[attr-defined]


def _gateway_out(row: Gateway) -> dict[str, object]:
    warranty = getattr(row, "warranty", None)
    return {
        "gateway_id": row.gateway_id,
        "model": row.model,
        "site_id": row.site_id,
        "site_name": row.site.name if row.site is not None else "",
        "state": _state(row),
        "last_seen_at": row.last_seen,  # type: ignore[attr-defined]
        "state_of_charge_pct": row.soc,  # type: ignore[attr-defined]
        "pv_today_kwh": row.pv_today,  # type: ignore[attr-defined]
        "open_alert_count": row.open_alerts,  # type: ignore[attr-defined]
        "warranty_status": str(warranty.status) if warranty is not None else None,
    }


@router.get("/gateways", response=responses({200: GatewayPage}), summary="List your gateways")
@decorate_view(reading_replica())
def list_gateways(
    request: HttpRequest,
    state: StateFilter | None = None,
    cursor: str | None = None,
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
) -> GatewayPage:
    """Every gateway the token's user may see, by gateway ID, with its state; `state`
    filters as the fleet table's filter does. Scope `read`."""
    user = caller(request, READ).user
    now = timezone.now()
    context = context_of("gateways", state)
    after = decode_cursor(cursor, context=context)
    rows = fleet(user, FleetQuery(status=state or ""), now=now)
    page, last = keyset_page(rows, key="gateway_id", after=after, limit=limit)
    full = with_columns([row.pk for row in page], now=now, owned=_owned(user))
    return GatewayPage(
        items=[GatewayOut(**_gateway_out(row)) for row in full],  # type: ignore[arg-type]
        next_cursor=next_cursor(last, context=context),
    )


@router.get(
    "/gateways/{gateway_id}",
    response=responses({200: GatewayDetail, 304: None}),
    summary="One gateway",
)
@decorate_view(reading_replica())
def get_gateway(request: HttpRequest, gateway_id: str) -> HttpResponse:
    """One gateway's state: online or offline, last seen, model, firmware, open alerts,
    warranty status. With an ETag. Scope `read`."""
    user = caller(request, READ).user
    gateway = _gateway_or_404(user, gateway_id)
    record_view(
        user=user, gateway=gateway, action=DealerAccess.Action.VIEW_LIVE, detail=RECORD_DETAIL
    )
    now = timezone.now()
    (row,) = with_columns([gateway.pk], now=now, owned=_owned(user))
    live = live_state(gateway)
    detail = GatewayDetail(
        **_gateway_out(row),  # type: ignore[arg-type]
        part_number=gateway.part_number,
        firmware=(live.firmware or None) if live is not None else None,
        claimed_at=gateway.claimed_at,
        owner_since=gateway.owner_since,
    )
    return with_etag(request, detail)


class LiveValues(Schema):
    pv_w: float
    load_w: float
    grid_w: float = Field(description="+ purchase, − sale")
    battery_w: float = Field(description="+ discharge, − charge")
    soc_pct: float
    battery_temp_c: float
    pcs_state: str
    pcs_mode: str


class FlowOut(Schema):
    source: Literal["pv", "pcs", "battery", "grid"]
    target: Literal["pcs", "home", "battery", "grid"]
    watts: float


class LiveOut(Schema):
    gateway_id: str
    online: bool
    last_seen_at: datetime | None
    sample_at: datetime | None = Field(description="when the values were measured")
    stale: bool = Field(description="the newest values are older than 3 minutes")
    waiting: bool = Field(description="no measurement has arrived yet")
    values: LiveValues | None
    flows: list[FlowOut] = Field(description="the power-flow diagram's edges, in watts")
    today_kwh: dict[str, float] = Field(description="today's energy per counter (JST day)")


@router.get(
    "/gateways/{gateway_id}/live",
    response=responses({200: LiveOut}),
    summary="Latest values and power flows",
)
@decorate_view(reading_replica())
def get_live(request: HttpRequest, gateway_id: str) -> LiveOut:
    """What the live panel shows: the newest sample's values, the power flows between PV,
    power conditioner, home, battery and grid, and today's energy. Scope `read`."""
    user = caller(request, READ).user
    gateway = _gateway_or_404(user, gateway_id)
    record_view(
        user=user, gateway=gateway, action=DealerAccess.Action.VIEW_LIVE, detail=RECORD_DETAIL
    )
    snapshot = live_snapshot(gateway, since=history_floor(user, gateway))
    return LiveOut(
        gateway_id=gateway.gateway_id,
        online=snapshot.online,
        last_seen_at=snapshot.last_seen_at,
        sample_at=snapshot.sample_ts,
        stale=snapshot.stale,
        waiting=snapshot.waiting,
        values=LiveValues(**snapshot.values) if snapshot.values else None,
        flows=[
            FlowOut(source=f.source, target=f.target, watts=f.watts)  # type: ignore[arg-type]
            for f in snapshot.flows
        ],
        today_kwh=snapshot.today_kwh,
    )


class WarrantyOut(Schema):
    gateway_id: str
    status: Literal["pending", "standard", "extended", "at_risk", "lapsed"]
    label: str = Field(description="the status as the 保証 tab names it")
    reason: str
    product: str
    standard_years: int
    extended_years: int
    registered_on: date | None
    grid_connection_date: date | None
    received_date: date | None
    coverage_start: date | None
    coverage_end: date | None = Field(description="the last day covered, in the current state")
    standard_end: date | None
    extended_end: date | None
    eligible: bool | None
    lapses_at: datetime | None = Field(description="at risk: the extension lapses then")
    lapsed_at: datetime | None


@router.get(
    "/gateways/{gateway_id}/warranty",
    response=responses({200: WarrantyOut, 304: None}),
    summary="Warranty state",
)
@decorate_view(reading_replica())
def get_warranty(request: HttpRequest, gateway_id: str) -> HttpResponse:
    """The warranty state the 保証 tab shows (docs/warranty.md). With an ETag. Scope
    `read`."""
    user = caller(request, READ).user
    gateway = _gateway_or_404(user, gateway_id, Purpose.VIEW_DETAILS)
    record_view(
        user=user,
        gateway=gateway,
        action=DealerAccess.Action.VIEW_WARRANTY,
        detail=RECORD_DETAIL,
    )
    state = state_of(gateway)
    out = WarrantyOut(
        gateway_id=gateway.gateway_id,
        status=str(state.status),  # type: ignore[arg-type]
        label=state.label,
        reason=state.reason,
        product=state.term.product,
        standard_years=state.term.standard_years,
        extended_years=state.term.extended_years,
        registered_on=state.registered_on,
        grid_connection_date=state.grid_connection_date,
        received_date=state.received_date,
        coverage_start=state.coverage_start,
        coverage_end=state.coverage_end,
        standard_end=state.standard_end,
        extended_end=state.extended_end,
        eligible=state.eligible,
        lapses_at=state.lapses_at,
        lapsed_at=state.lapsed_at,
    )
    return with_etag(request, out)
