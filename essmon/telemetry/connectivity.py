"""Online, offline, and the connectivity history as intervals.

A gateway is online while it keeps talking; silent for longer than
``settings.OFFLINE_AFTER_MINUTES`` it is offline, and its open interval is closed at the
last message heard. Any message opens a new interval.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from essmon.gateways.models import Gateway
from essmon.telemetry import signals, sql
from essmon.telemetry.models import ConnectivityInterval, GatewayLiveState

logger = logging.getLogger(__name__)


def offline_silence() -> timedelta:
    """How long a gateway is silent before it counts as offline (ESSMON_OFFLINE_AFTER_MINUTES):
    its connectivity interval closes, and the fleet table and the warranty's connection
    record count it offline. Not the offline alert's threshold: that is
    ``alerts.rules.offline_alert_silence``."""
    return timedelta(minutes=settings.OFFLINE_AFTER_MINUTES)


class Newest(NamedTuple):
    """A gateway's newest stored sample, for its live state: ``raw`` holds its values in
    the order of ``names``. They become a mapping only when the live state is written: an
    ingest batch makes one of these per gateway in it, and most are replaced by a newer
    one before the contact buffer writes them (a tuple costs a fraction of a dict, and a
    named tuple of a frozen dataclass)."""

    ts: datetime
    seq: int
    raw: tuple[Any, ...]
    names: tuple[str, ...]

    @property
    def values(self) -> dict[str, Any]:
        return dict(zip(self.names, self.raw, strict=True))


def record_contacts(
    gateway_ids: Iterable[int],
    *,
    now: datetime,
    newest: Mapping[int, Newest] | None = None,
    transport: str | None = None,
) -> None:
    """These gateways said something: each is seen now, online if it was not, and its latest
    values move to ``newest`` where that is newer than what the live state holds. With
    ``transport`` they were heard over it (``note_transport``, in the same statement).

    One statement on PostgreSQL (three on SQLite) for any number of gateways, so an ingest
    batch from a thousand gateways costs no more round trips than one from a single
    gateway; a gateway back after a silence costs two more. Rows go in gateway order so
    concurrent batches lock live states in the same order and cannot deadlock. Call inside
    the transaction that stores what they said."""
    newest = newest or {}
    ids = sorted({*gateway_ids, *newest})
    if not ids:
        return
    adapt = connection.ops.adapt_datetimefield_value
    seen = adapt(now)

    def row(gateway_id: int) -> tuple[int, Any, int | None, str]:
        item = newest.get(gateway_id)
        if item is None:
            return gateway_id, None, None, "{}"
        return gateway_id, adapt(item.ts), item.seq, json.dumps(item.values)

    silent_until, opened = sql.touch_live_states(
        [row(gateway_id) for gateway_id in ids],
        seen=seen,
        silent_before=adapt(now - offline_silence()),
        transport=transport,
    )
    if silent_until:
        # Back after a silence that detect-offline did not close (it was not running): the
        # open interval ends at the last message before the silence, and a new one opens;
        # otherwise the silence would vanish from the history the warranty reads.
        _close_missed(silent_until)
        opened += sql.open_intervals(sorted(silent_until), since=seen)
    if opened:  # a change, not a sample: gateways that keep talking open nothing
        signals.gateways_online.send(
            sender=ConnectivityInterval, gateway_ids=opened, online_from=now
        )


def _close_missed(silent_until: Mapping[int, datetime]) -> None:
    """End the open intervals of gateways heard again after a silence nobody closed, at
    their last message before it (after the live-state upsert: the locks' usual order)."""
    for gateway_id, last_seen in silent_until.items():
        closed = ConnectivityInterval.objects.filter(
            gateway_id=gateway_id, online_until__isnull=True, online_from__lte=last_seen
        ).update(online_until=last_seen)
        if closed:  # told late, as it is recorded: offline since its last message
            signals.gateway_offline.send(
                sender=ConnectivityInterval, gateway_id=gateway_id, last_seen_at=last_seen
            )


class ContactBuffer:
    """Live-state writes for a stream worker, at most one per gateway every ``every``.

    A gateway sending a sample a second would otherwise cost a live-state row update a
    second; the offline threshold is minutes and the live view reads the newest sample
    itself, so a few seconds' lag in ``last_seen_at`` and ``latest`` cost nothing. What is
    held back is written when the gateway is due again, or by ``flush`` when the stream
    pauses. A gateway not written for ``every`` (a new one, one coming back from silence)
    is written at once, so its connectivity interval opens with its first message."""

    def __init__(self, every: timedelta = timedelta(seconds=15)) -> None:
        self.every = every
        self.written_at: dict[int, datetime] = {}
        self.held: dict[int, tuple[datetime, Newest | None]] = {}

    def add(
        self, gateway_ids: Iterable[int], *, now: datetime, newest: Mapping[int, Newest]
    ) -> None:
        """Record contacts; write the due ones now. Call inside the transaction storing them."""
        heard = {*gateway_ids, *newest}
        for gateway_id in heard:
            # taken out and put back at the end: ``held`` stays in the order of ``seen``
            _, held_newest = self.held.pop(gateway_id, (now, None))
            item = newest.get(gateway_id)
            if held_newest is not None and (item is None or held_newest.ts > item.ts):
                item = held_newest
            self.held[gateway_id] = (now, item)
        never = datetime.min.replace(tzinfo=UTC)
        due = {
            gateway_id
            for gateway_id in heard
            if now - self.written_at.get(gateway_id, never) >= self.every
        }
        # and those held back that have not spoken since: the stream may never pause. The
        # oldest come first, so this reads only those due and one more, not every gateway
        # held (a fleet of fast senders); were the clock set back, a few would wait for
        # the ones before them, or for the next flush.
        for gateway_id, (seen, _) in self.held.items():
            if now - seen < self.every:
                break
            due.add(gateway_id)
        self._write(sorted(due))

    def flush(self) -> None:
        """Write everything held back (the stream paused)."""
        self._write(list(self.held))

    def settle(self, gateway_id: int) -> None:
        """Write what is held back for one gateway now: its connection was lost, and the
        last will must close its interval at the true last message, for good."""
        if gateway_id in self.held:
            self._write([gateway_id])

    def _write(self, gateway_ids: list[int]) -> None:
        by_time: dict[datetime, dict[int, Newest | None]] = {}
        for gateway_id in gateway_ids:
            seen, item = self.held[gateway_id]
            by_time.setdefault(seen, {})[gateway_id] = item
        for seen, items in by_time.items():
            newest = {g: item for g, item in items.items() if item is not None}
            record_contacts(items, now=seen, newest=newest)
        written = {gateway_id: self.held[gateway_id] for gateway_id in gateway_ids}

        def forget() -> None:
            # only once committed: a rolled-back batch is retried and adds them again
            for gateway_id, entry in written.items():
                if self.held.get(gateway_id) is entry:
                    del self.held[gateway_id]
                self.written_at[gateway_id] = entry[0]

        transaction.on_commit(forget)


def record_contact(*, gateway: Gateway, now: datetime) -> GatewayLiveState:
    """One gateway said something; its live state comes back locked for further changes."""
    record_contacts([gateway.pk], now=now)
    return GatewayLiveState.objects.select_for_update().get(gateway=gateway)


def is_online(state: GatewayLiveState | None, *, now: datetime | None = None) -> bool:
    now = now or timezone.now()
    return (
        state is not None
        and not state.connection_lost
        and state.last_seen_at > now - offline_silence()
    )


def note_transport(gateway_ids: Iterable[int], transport: str) -> None:
    """These gateways were just heard over ``transport`` ("https" or "mqtt"); a row is
    written only when that changed, so the hot path costs one read-only statement."""
    sql.note_transport(sorted(set(gateway_ids)), transport)


def close_silent_intervals(*, now: datetime | None = None) -> int:
    """Periodic job: gateways silent past the threshold go offline, their interval ending
    at the last message heard. One gateway's failure does not stop the others."""
    now = now or timezone.now()
    silent = ConnectivityInterval.objects.filter(
        online_until__isnull=True, gateway__live__last_seen_at__lte=now - offline_silence()
    ).values_list("gateway_id", flat=True)
    closed = 0
    for gateway_id in list(silent):
        try:
            closed += _go_offline(gateway_id, now=now, unless_heard_since=now - offline_silence())
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
        if unless_heard_since is None and not live.connection_lost:
            live.connection_lost = True
            live.save(update_fields=["connection_lost"])
        closed = ConnectivityInterval.objects.filter(
            gateway_id=gateway_id, online_until__isnull=True
        ).update(online_until=live.last_seen_at)
        if closed:
            signals.gateway_offline.send(
                sender=ConnectivityInterval, gateway_id=gateway_id, last_seen_at=live.last_seen_at
            )
        return closed
