"""The fleet table: every gateway a user may see, one row each, with what tells a dealer
which sites need attention. Sorting, filtering and searching happen in the database, so a
page of 50 costs the same for a fleet of 10 or of 5,000."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import (
    BooleanField,
    Case,
    Count,
    Exists,
    F,
    FloatField,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce

from essmon.accounts.models import User
from essmon.alerts.models import Alert
from essmon.dealers.access import visible_gateways
from essmon.gateways.models import Gateway
from essmon.gateways.search import search
from essmon.monitoring.selectors import jst_day_bounds, today_jst
from essmon.monitoring.sql import JsonNumber
from essmon.telemetry.connectivity import offline_silence
from essmon.telemetry.models import EnergyRollup
from essmon.telemetry.sql import cursor_without_jit
from essmon.warranty.rules import Policy
from essmon.warranty.selectors import at_risk_ids, current_policy, states_for

PAGE_SIZE = 50
EXPORT_CHUNK = 500  # rows of the CSV export computed per round of queries
# ?sort= values: the column and its SQL ordering; "-" in front sorts descending
SORTS = {
    "gateway_id": "gateway_id",
    "site": "site__name",
    "status": "online",
    "last_seen": "last_seen",
    "soc": "soc",
    "pv_today": "pv_today",
    "alerts": "open_alerts",
}
STATUSES = {
    "online": "オンライン",
    "offline": "オフライン",
    "never": "未接続",
    "alerts": "異常あり",
    "warranty_at_risk": "延長保証 失効のおそれ",
}
QUERY_MAX = 100


@dataclass(frozen=True)
class FleetQuery:
    """The table's controls, as cleaned from the query string: anything unknown falls back
    to the default rather than failing, since these come from links people bookmark."""

    q: str = ""
    status: str = ""
    sort: str = "gateway_id"

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> FleetQuery:
        # NUL: PostgreSQL refuses it in text, and nobody searches for one
        q = params.get("q", "").replace("\x00", "").strip()[:QUERY_MAX]
        status = params.get("status", "")
        sort = params.get("sort", "gateway_id")
        return cls(
            q=q,
            status=status if status in STATUSES else "",
            sort=sort if sort.lstrip("-") in SORTS else "gateway_id",
        )


def open_alerts() -> Coalesce:
    """How many alerts of the outer gateway are open (essmon.alerts)."""
    count = (
        Alert.objects.filter(gateway=OuterRef("pk"), closed_at__isnull=True)
        .order_by()
        .values("gateway")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(count, output_field=IntegerField()), Value(0))


def fleet(user: User, query: FleetQuery, *, now: datetime) -> QuerySet[Gateway]:
    """The visible gateways, filtered, searched and sorted as ``query`` says. Only what the
    filter and the order need is computed here; ``with_columns`` adds the rest for the
    rows of one page, so the last page of 5,000 costs what the first does."""
    rows = visible_gateways(user).annotate(**_live_columns(now))
    column = query.sort.lstrip("-")
    if column == "pv_today":
        rows = rows.annotate(pv_today=pv_today(now))
    if column == "alerts" or query.status == "alerts":
        rows = rows.annotate(open_alerts=open_alerts())
    if query.q:
        rows = rows.filter(search(query.q))
    # online and open_alerts are annotations made above, which the stubs' plugin loses
    # when the annotated queryset is assigned back to rows
    if query.status == "online":
        rows = rows.filter(online=True)  # type: ignore[misc]
    elif query.status == "offline":
        rows = rows.filter(live__isnull=False, online=False)  # type: ignore[misc]
    elif query.status == "never":
        rows = rows.filter(live__isnull=True)
    elif query.status == "alerts":
        rows = rows.filter(open_alerts__gt=0)  # type: ignore[misc]
    elif query.status == "warranty_at_risk":
        rows = rows.filter(pk__in=at_risk_ids(rows, now=now))
    field = SORTS[column]
    descending = query.sort.startswith("-")
    order = F(field).desc(nulls_last=True) if descending else F(field).asc(nulls_last=True)
    return rows.order_by(order, "gateway_id")


def online_now(now: datetime) -> Q:
    """Heard within the offline threshold, and no last will since (the live panel's rule)."""
    return Q(live__last_seen_at__gt=now - offline_silence(), live__connection_lost=False)


def _live_columns(now: datetime) -> dict[str, Any]:
    """Columns from the live state: one join, cheap for any number of rows."""
    return {
        "last_seen": F("live__last_seen_at"),
        "online": Case(
            When(online_now(now), then=Value(True)),
            default=Value(False),
            output_field=BooleanField(),
        ),
        "soc": JsonNumber("live__latest", "soc_pct"),
    }


def pv_today(now: datetime) -> Subquery:
    midnight, _ = jst_day_bounds(today_jst(now))
    return Subquery(
        EnergyRollup.objects.filter(
            gateway=OuterRef("pk"), period=EnergyRollup.Period.DAY, start=midnight
        ).values("pv_kwh")[:1],
        output_field=FloatField(),
    )


def pv_today_owned(now: datetime) -> Case:
    """Today's generation as the owner may see it: on the day of a 名義変更 the day's rollup
    holds the seller's part, so the hourly rollups from ``owner_since`` are summed instead
    (the live panel's ``selectors.today_energy`` rule); any other day, the day's rollup."""
    midnight, _ = jst_day_bounds(today_jst(now))
    since_claim = Subquery(
        EnergyRollup.objects.filter(
            gateway=OuterRef("pk"),
            period=EnergyRollup.Period.HOUR,
            start__gte=OuterRef("owner_since"),
            start__lte=now,
        )
        .order_by()
        .values("gateway")
        .annotate(total=Sum("pv_kwh"))
        .values("total")[:1],
        output_field=FloatField(),
    )
    return Case(
        When(owner_since__gt=midnight, then=Coalesce(since_claim, Value(0.0))),
        default=pv_today(now),
        output_field=FloatField(),
    )


def _owned_latest(key: str) -> Case:
    """The newest value, unless it was measured before ``owner_since`` (the seller's): the
    live panel leaves such a sample out too (``selectors.live_snapshot``)."""
    sellers = Q(owner_since__isnull=False) & (
        Q(live__last_sample_ts__isnull=True) | Q(live__last_sample_ts__lt=F("owner_since"))
    )
    return Case(
        When(sellers, then=Value(None)),
        default=JsonNumber("live__latest", key),
        output_field=FloatField(),
    )


def fleet_page(
    user: User,
    query: FleetQuery,
    page_number: str | int | None,
    *,
    now: datetime,
    owned: bool = False,
) -> Page[Gateway]:
    """One page of the fleet table: the page's gateway ids by ``fleet``'s order, then
    those rows with every column; ``owned``: the owner's (or viewer's) list, whose
    figures start at each gateway's ``owner_since`` (``with_columns``)."""
    # the correlated subqueries push PostgreSQL's estimate past the JIT threshold, and
    # compiling costs more than the query (docs/performance.md, Dashboard)
    with cursor_without_jit():
        ids = fleet(user, query, now=now).values_list("pk", flat=True)
        page: Page[Any] = Paginator(ids, PAGE_SIZE).get_page(page_number)
        page.object_list = with_columns(list(page.object_list), now=now, owned=owned)
    return page


def fleet_rows(user: User, query: FleetQuery, *, now: datetime) -> Iterator[Gateway]:
    """Every gateway ``fleet`` selects (not one page: the CSV export), with every column,
    ``EXPORT_CHUNK`` at a time: a few queries per chunk, never one per row."""
    ids = list(fleet(user, query, now=now).values_list("pk", flat=True))
    for start in range(0, len(ids), EXPORT_CHUNK):
        yield from with_columns(ids[start : start + EXPORT_CHUNK], now=now)


@dataclass(frozen=True)
class FleetSummary:
    """The counts above the fleet table, over every gateway the user may see."""

    total: int
    online: int
    offline: int
    never: int
    with_alerts: int  # gateways with at least one open alert
    warranty_at_risk: int  # warranty.Status.AT_RISK: offline long enough to lose the extension


def fleet_summary(user: User, *, now: datetime) -> FleetSummary:
    """One aggregate query for the states and alerts; the warranty rule is evaluated only
    for the gateways silent long enough to be at risk (``warranty.selectors.at_risk_ids``)."""
    rows = visible_gateways(user)
    open_alert = Exists(Alert.objects.filter(gateway=OuterRef("pk"), closed_at__isnull=True))
    online = online_now(now)
    counts = rows.order_by().aggregate(
        total=Count("pk"),
        online=Count("pk", filter=online),
        offline=Count("pk", filter=Q(live__isnull=False) & ~online),
        never=Count("pk", filter=Q(live__isnull=True)),
        with_alerts=Count("pk", filter=open_alert),
    )
    at_risk = len(at_risk_ids(rows, now=now)) if counts["total"] else 0
    return FleetSummary(**counts, warranty_at_risk=at_risk)


@dataclass(frozen=True)
class FleetView:
    """What the fleet page shows: one page of the table, the counts above it, and the
    warranty's thresholds its legend names."""

    page: Page[Gateway]
    summary: FleetSummary
    policy: Policy


def fleet_view(
    user: User, query: FleetQuery, page_number: str | int | None, *, now: datetime
) -> FleetView:
    return FleetView(
        page=fleet_page(user, query, page_number, now=now),
        summary=fleet_summary(user, now=now),
        policy=current_policy(),
    )


def with_columns(ids: list[int], *, now: datetime, owned: bool = False) -> list[Gateway]:
    """The gateways ``ids`` with every column of the table, in the order of ``ids``; also
    the newest generation and consumption (``pv_w``, ``load_w``) for the owner's list.
    ``owned``: the owner's (or viewer's) list after a 名義変更 shows nothing measured before
    ``owner_since`` (docs/transfers.md, "The history floor"); dealers and operators see
    the equipment's whole history."""
    columns: dict[str, Any] = {
        **_live_columns(now),
        "pv_today": pv_today(now),
        "open_alerts": open_alerts(),
        "pv_w": JsonNumber("live__latest", "pv_w"),
        "load_w": JsonNumber("live__latest", "load_w"),
    }
    if owned:
        columns.update(
            pv_today=pv_today_owned(now),
            soc=_owned_latest("soc_pct"),
            pv_w=_owned_latest("pv_w"),
            load_w=_owned_latest("load_w"),
        )
    rows = Gateway.objects.select_related("site", "owner").filter(pk__in=ids).annotate(**columns)
    by_id = {row.pk: row for row in rows}
    warranties = states_for(list(by_id.values()), now=now)
    for row in by_id.values():
        row.warranty = warranties.get(row.pk)  # type: ignore[attr-defined]  # for the template
    return [by_id[pk] for pk in ids if pk in by_id]
