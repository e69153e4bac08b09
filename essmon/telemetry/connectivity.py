"""Online, offline, and the connectivity history as intervals.

A gateway is online while it keeps talking; silent for longer than
``settings.OFFLINE_AFTER_MINUTES`` it is offline, and its open interval is closed at the
last message heard. Any message opens a new interval.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from essmon.gateways.models import Gateway
from essmon.telemetry.models import ConnectivityInterval, GatewayLiveState

logger = logging.getLogger(__name__)


def offline_after() -> timedelta:
    return timedelta(minutes=settings.OFFLINE_AFTER_MINUTES)


@dataclass(frozen=True)
class Newest:
    """A gateway's newest stored sample, for its live state."""

    ts: datetime
    seq: int
    values: dict


def record_contacts(
    gateway_ids: Iterable[int], *, now: datetime, newest: Mapping[int, Newest] | None = None
) -> None:
    """These gateways said something: each is seen now, online if it was not, and its latest
    values move to ``newest`` where that is newer than what the live state holds.

    Two statements for any number of gateways, so an ingest batch from a thousand gateways
    costs no more round trips than one from a single gateway. Rows go in gateway order so
    concurrent batches lock live states in the same order and cannot deadlock. Call inside
    the transaction that stores what they said."""
    newest = newest or {}
    ids = sorted({*gateway_ids, *newest})
    if not ids:
        return
    ops = connection.ops
    live = ops.quote_name(GatewayLiveState._meta.db_table)
    intervals = ops.quote_name(ConnectivityInterval._meta.db_table)
    seen = ops.adapt_datetimefield_value(now)
    newer = (
        f"excluded.last_sample_ts IS NOT NULL AND ({live}.last_sample_ts IS NULL"
        f" OR excluded.last_sample_ts > {live}.last_sample_ts)"
    )
    for chunk in _chunks(ids, 500):
        rows, params = [], []
        for gateway_id in chunk:
            item = newest.get(gateway_id)
            rows.append("(%s, %s, %s, %s, %s, '', '{}')")
            params += [
                gateway_id,
                seen,
                ops.adapt_datetimefield_value(item.ts) if item else None,
                item.seq if item else None,
                json.dumps(item.values if item else {}),
            ]
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {live} (gateway_id, last_seen_at, last_sample_ts, last_seq, latest,"
                f" firmware, settings_in_force) VALUES {', '.join(rows)}"
                f" ON CONFLICT (gateway_id) DO UPDATE SET"
                f" last_seen_at = CASE WHEN excluded.last_seen_at > {live}.last_seen_at"
                f" THEN excluded.last_seen_at ELSE {live}.last_seen_at END,"
                f" last_sample_ts = CASE WHEN {newer} THEN excluded.last_sample_ts"
                f" ELSE {live}.last_sample_ts END,"
                f" last_seq = CASE WHEN {newer} THEN excluded.last_seq ELSE {live}.last_seq END,"
                f" latest = CASE WHEN {newer} THEN excluded.latest ELSE {live}.latest END",
                params,
            )
            # the partial unique index admits one open interval: a gateway already online
            # keeps the one it has
            cursor.execute(
                f"INSERT INTO {intervals} (gateway_id, online_from)"
                f" VALUES {', '.join(['(%s, %s)'] * len(chunk))}"
                f" ON CONFLICT (gateway_id) WHERE online_until IS NULL DO NOTHING",
                [value for gateway_id in chunk for value in (gateway_id, seen)],
            )


def record_contact(*, gateway: Gateway, now: datetime) -> GatewayLiveState:
    """One gateway said something; its live state comes back locked for further changes."""
    record_contacts([gateway.pk], now=now)
    return GatewayLiveState.objects.select_for_update().get(gateway=gateway)


def _chunks(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def is_online(state: GatewayLiveState | None, *, now: datetime | None = None) -> bool:
    now = now or timezone.now()
    return state is not None and state.last_seen_at > now - offline_after()


def close_silent_intervals(*, now: datetime | None = None) -> int:
    """Periodic job: gateways silent past the threshold go offline, their interval ending
    at the last message heard. One gateway's failure does not stop the others."""
    now = now or timezone.now()
    silent = ConnectivityInterval.objects.filter(
        online_until__isnull=True, gateway__live__last_seen_at__lte=now - offline_after()
    ).values_list("gateway_id", flat=True)
    closed = 0
    for gateway_id in list(silent):
        try:
            closed += _go_offline(gateway_id, now=now, unless_heard_since=now - offline_after())
        except Exception:
            logger.exception("could not close the connectivity interval of gateway %s", gateway_id)
    return closed


def connection_lost(*, gateway: Gateway, now: datetime | None = None) -> bool:
    """The broker published the gateway's last will: offline from its last message, at once."""
    return bool(_go_offline(gateway.pk, now=now or timezone.now(), unless_heard_since=None))


def _go_offline(gateway_id: int, *, now: datetime, unless_heard_since: datetime | None) -> int:
    # The live state is locked first, as record_contacts locks it first: the same order in
    # both, so a gateway speaking again while it is being closed waits instead of deadlocking.
    with transaction.atomic():
        live = GatewayLiveState.objects.select_for_update().filter(gateway_id=gateway_id).first()
        if live is None:
            return 0
        if unless_heard_since is not None and live.last_seen_at > unless_heard_since:
            return 0  # it spoke again meanwhile
        return ConnectivityInterval.objects.filter(
            gateway_id=gateway_id, online_until__isnull=True
        ).update(online_until=live.last_seen_at)
