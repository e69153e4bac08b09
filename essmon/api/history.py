"""The public API's reads of one gateway's history beyond what the pages' selectors give:
one JST day's raw samples a page at a time (the day view's ``day_curve`` reads the whole
day's curve at once, with fewer columns)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from essmon.gateways.models import Gateway
from essmon.monitoring.selectors import LIVE_FIELDS, jst_day_bounds
from essmon.telemetry.models import COUNTERS, Sample

SAMPLE_FIELDS = (*LIVE_FIELDS, *COUNTERS)


def day_samples(
    gateway: Gateway,
    *,
    day: date,
    since: datetime | None,
    after: int | None,
    limit: int,
) -> tuple[list[dict[str, Any]], int | None]:
    """Up to ``limit`` samples of the JST ``day`` (from ``since`` on), oldest first, after
    the sample at ``after`` (microseconds since the epoch); and the key to continue after,
    None on the last page. One index range on the samples' (gateway, ts) key per page.

    A sample is identified by (gateway, ts) (docs/gateway-protocol.md), so its instant,
    to the microsecond the database keeps, is a unique and stable cursor."""
    start, end = jst_day_bounds(day)
    rows = Sample.objects.filter(gateway=gateway, ts__gte=start, ts__lt=end)
    if since is not None:
        rows = rows.filter(ts__gte=since)
    if after is not None:
        rows = rows.filter(ts__gt=EPOCH + timedelta(microseconds=after))
    page = list(rows.order_by("ts").values("ts", *SAMPLE_FIELDS)[: limit + 1])
    if len(page) <= limit:
        return page, None
    page = page[:limit]
    return page, micros(page[-1]["ts"])


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def micros(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(microseconds=1)
