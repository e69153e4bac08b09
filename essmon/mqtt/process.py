"""One batch of MQTT messages through the ingest core, in one transaction.

Nothing here talks to the broker: the worker hands in messages, and acknowledges them
only after this returns, that is after their rows are committed.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, InterfaceError, OperationalError, connection, transaction
from django.db.models import Count
from django.utils import timezone

from essmon.commands.services import MAX_RESULTS_PER_REQUEST, record_results
from essmon.gateways.models import Gateway
from essmon.mqtt.models import DeadLetter, IngestCounter
from essmon.telemetry.connectivity import ContactBuffer, connection_lost, note_transport
from essmon.telemetry.ingest import (
    MAX_BODY_BYTES,
    MAX_EVENTS_PER_BATCH,
    MAX_SAMPLES_PER_BATCH,
    IngestResult,
    SampleBatch,
    SampleError,
    brief,
    check_samples,
    decode_message,
    decode_sample_batch,
    ingest_events,
    record_status,
    store_sample_batches,
)
from essmon.telemetry.partitions import oldest_accepted_ts

logger = logging.getLogger(__name__)
PAYLOAD_KEPT = 64 * 1024
KINDS = ("telemetry", "status", "events", "results")


@dataclass
class Incoming:
    topic: str
    payload: bytes


@dataclass
class Outcome:
    counts: Counter = field(default_factory=Counter)
    dead: list[DeadLetter] = field(default_factory=list)


class Refused(Exception):
    """A message that cannot be used; the text is the dead letter's reason."""


class GatewayCache:
    """Gateways by ID, for the worker's life; a miss is looked up with the batch's others.
    Entries live a minute so a gateway removed from the registry is soon unknown."""

    TTL_SECONDS = 60.0

    def __init__(self) -> None:
        self._known: dict[str, tuple[float, Gateway | None]] = {}

    def load(self, gateway_ids: set[str]) -> dict[str, Gateway | None]:
        now = time.monotonic()
        missing = {g for g in gateway_ids if g not in self._known or self._known[g][0] < now}
        if missing:
            found = {g.gateway_id: g for g in Gateway.objects.filter(gateway_id__in=missing)}
            for gateway_id in missing:
                self._known[gateway_id] = (now + self.TTL_SECONDS, found.get(gateway_id))
        return {g: self._known[g][1] for g in gateway_ids}


class DeadLetterCap:
    """At most ESSMON_DEAD_LETTERS_PER_GATEWAY_PER_HOUR letters kept per gateway per clock
    hour: one gateway (or a leaked device secret) publishing junk at broker speed must not
    fill the disk. The rest are only counted (``dead_letters_dropped``), and the first
    drop of each gateway in an hour is logged once.

    The database holds the count (several workers share the gateways); this worker
    remembers which gateways are full this hour, so a flood costs no query per batch."""

    def __init__(self) -> None:
        self._hour: datetime | None = None
        self._full: set[str] = set()

    def keep(self, letters: list[DeadLetter], *, now: datetime, counts: Counter) -> list:
        """The letters to store; the others are counted as dropped."""
        if not letters:
            return letters
        hour = now.replace(minute=0, second=0, microsecond=0)
        if hour != self._hour:
            self._hour, self._full = hour, set()
        limit = settings.DEAD_LETTERS_PER_GATEWAY_PER_HOUR
        asked = {letter.gateway_id for letter in letters} - self._full
        stored = dict(
            DeadLetter.objects.filter(gateway_id__in=asked, received_at__gte=hour)
            .values_list("gateway_id")
            .annotate(n=Count("pk"))
            if asked
            else ()
        )
        kept = []
        for letter in letters:
            gateway_id = letter.gateway_id
            if gateway_id not in self._full and stored.get(gateway_id, 0) < limit:
                stored[gateway_id] = stored.get(gateway_id, 0) + 1
                kept.append(letter)
                logger.warning("dead letter on %s: %s", letter.topic, letter.reason)
                continue
            counts["dead_letters"] -= 1
            counts["dead_letters_dropped"] += 1
            if gateway_id not in self._full:
                self._full.add(gateway_id)
                logger.warning(
                    "gateway %s sent more than %d dead letters this hour; the rest until"
                    " %s are counted (dead_letters_dropped), not kept",
                    brief(gateway_id),
                    limit,
                    timezone.localtime(hour + timedelta(hours=1)),
                )
        return kept


def purge_dead_letters() -> int:
    """Periodic job: dead letters older than ESSMON_DEAD_LETTER_RETENTION_DAYS go."""
    cutoff = timezone.now() - timedelta(days=settings.DEAD_LETTER_RETENTION_DAYS)
    deleted, _ = DeadLetter.objects.filter(received_at__lt=cutoff).delete()
    return deleted


def _parse(message: Incoming, gateways: dict[str, Gateway | None]) -> tuple[str, Gateway, dict]:
    parts = message.topic.split("/")
    if len(parts) != 4 or parts[:2] != ["essmon", "v1"] or parts[3] not in KINDS:
        raise Refused(f"topic: expected essmon/v1/<gateway_id>/{{{','.join(KINDS)}}}")
    gateway = gateways.get(parts[2])
    if gateway is None:
        raise Refused(f"unknown gateway {brief(parts[2])}")
    if len(message.payload) > MAX_BODY_BYTES:
        raise Refused(f"payload is {len(message.payload)} bytes; at most {MAX_BODY_BYTES}")
    try:
        body = decode_message(message.payload)
    except SampleError as exc:
        raise Refused(str(exc)) from exc
    if body.get("gateway_id") != gateway.gateway_id:
        raise Refused(f"gateway_id {brief(body.get('gateway_id'))} in the body is not the topic's")
    return parts[3], gateway, body


def _items(body: dict, name: str, limit: int) -> list:
    items = body.get(name)
    if not isinstance(items, list):
        raise Refused(f"{name}: expected a JSON array")
    if len(items) > limit:
        raise Refused(f"{len(items)} {name}; at most {limit} per message")
    return items


def _refusals(result: IngestResult) -> str:
    return "; ".join(f"[{r['index']}] {r['reason']}" for r in result.rejected)


def process_messages(
    messages: list[Incoming],
    *,
    cache: GatewayCache,
    contacts: ContactBuffer | None = None,
    now: datetime | None = None,
    cap: DeadLetterCap | None = None,
) -> Outcome:
    """Store what the messages carry; whatever cannot be used becomes a dead letter in the
    same transaction (within the ``cap``; the worker keeps one for its life). Connection
    errors propagate: the caller retries the whole batch."""
    now = now or timezone.now()
    cap = cap or DeadLetterCap()
    outcome = Outcome()
    oldest = oldest_accepted_ts(now)  # once a batch: it only moves at a month's turn
    topics = [m.topic.split("/") for m in messages]
    gateways = cache.load({parts[2] for parts in topics if len(parts) == 4})
    telemetry: list[tuple[Incoming, SampleBatch]] = []
    others: list[tuple[Incoming, str, Gateway, dict]] = []

    def dead(message: Incoming, reason: str) -> None:
        outcome.counts["dead_letters"] += 1
        outcome.dead.append(_letter(message, reason, now=now))

    for message, parts in zip(messages, topics, strict=True):
        if (
            len(parts) == 4
            and parts[3] == "telemetry"
            and parts[0] == "essmon"
            and parts[1] == "v1"
            and (gateway := gateways.get(parts[2])) is not None
            and len(message.payload) <= MAX_BODY_BYTES
        ):
            # a plainly valid batch, decoded and checked at once; any doubt goes below
            batch = decode_sample_batch(message.payload, gateway=gateway, now=now, oldest=oldest)
            if batch is not None:
                telemetry.append((message, batch))
                continue
        try:
            kind, gateway, body = _parse(message, gateways)
            if kind == "telemetry":
                samples = _items(body, "samples", MAX_SAMPLES_PER_BATCH)
                checked = check_samples(gateway, samples, now=now, oldest=oldest)
                telemetry.append((message, checked))
            else:
                others.append((message, kind, gateway, body))
        except Refused as exc:
            dead(message, str(exc))

    with transaction.atomic():
        _store_samples(telemetry, now=now, dead=dead, contacts=contacts)
        accepted = duplicates = rejected = 0
        for message, batch in telemetry:
            result = batch.result
            accepted += result.accepted
            duplicates += result.duplicates
            if result.rejected:
                rejected += len(result.rejected)
                dead(message, _refusals(result))
        outcome.counts.update(
            messages=len(messages),
            samples_accepted=accepted,
            samples_duplicate=duplicates,
            samples_rejected=rejected,
        )
        for message, kind, gateway, body in others:
            try:
                with transaction.atomic():  # a savepoint: one bad message spoils no other
                    _handle_other(
                        kind, gateway, body, now=now, message=message, dead=dead, contacts=contacts
                    )
            except (Refused, SampleError) as exc:
                dead(message, str(exc))
            except (OperationalError, InterfaceError):
                raise  # the database is away: the caller keeps the batch and retries it
            except Exception as exc:
                # a fault of essmon's own with this message: kept for the operator, and the
                # rest of the batch goes on (the savepoint undid whatever it had written)
                logger.exception("message on %s could not be handled", message.topic)
                dead(message, unexpected(exc))
        outcome.dead = cap.keep(outcome.dead, now=now, counts=outcome.counts)
        DeadLetter.objects.bulk_create(outcome.dead)
        heard = {batch.gateway.pk for _, batch in telemetry}
        heard.update(g.pk for _, _, g, b in others if not lost(b))
        note_transport(heard, "mqtt")
    return outcome


def lost(body: dict) -> bool:
    """A last will: the broker speaking for the gateway, which said nothing itself."""
    return body.get("connection") == "lost" and "status" not in body


def _store_samples(
    telemetry: list[tuple[Incoming, SampleBatch]], *, now: datetime, dead, contacts
) -> None:
    batches = [batch for _, batch in telemetry]
    try:
        with transaction.atomic():
            store_sample_batches(batches, now=now, contacts=contacts)
    except IntegrityError:
        # a gateway removed from the registry since the cache looked: find it, keep the rest
        for message, batch in telemetry:
            try:
                with transaction.atomic():
                    store_sample_batches([batch], now=now)
            except IntegrityError as exc:
                dead(message, f"could not store: {exc}")
                batch.result = IngestResult()


def _handle_other(kind: str, gateway: Gateway, body: dict, *, now, message, dead, contacts) -> None:
    if kind == "status":
        if lost(body):
            if contacts is not None:
                contacts.settle(gateway.pk)
            connection_lost(gateway=gateway, now=now)
        else:
            record_status(gateway=gateway, raw=body.get("status"), now=now)
        return
    if kind == "events":
        result = ingest_events(
            gateway=gateway, events=_items(body, "events", MAX_EVENTS_PER_BATCH), now=now
        )
    else:
        result = record_results(
            gateway=gateway, results=_items(body, "results", MAX_RESULTS_PER_REQUEST), now=now
        )
    if result.rejected:
        dead(message, _refusals(result))


def unexpected(exc: BaseException) -> str:
    """A dead letter's reason for a failure nobody foresaw: the exception, cut short."""
    return f"could not be handled ({type(exc).__name__}: {str(exc)[:300]})"


def dead_letter(message: Incoming, reason: str, *, cap: DeadLetterCap | None = None) -> Outcome:
    """Keep one message as a dead letter (within the ``cap``), in a transaction of its own."""
    now = timezone.now()
    outcome = Outcome(counts=Counter(messages=1, dead_letters=1))
    with transaction.atomic():
        for letter in (cap or DeadLetterCap()).keep(
            [_letter(message, reason, now=now)], now=now, counts=outcome.counts
        ):
            letter.save()
    return outcome


def _letter(message: Incoming, reason: str, *, now: datetime) -> DeadLetter:
    parts = message.topic.split("/")
    return DeadLetter(
        received_at=now,
        topic=message.topic[:200],
        gateway_id=(parts[2] if len(parts) > 2 else "")[:64],
        reason=reason,
        # NUL cannot be stored in PostgreSQL text; the letter keeps the rest as it came
        payload=message.payload[:PAYLOAD_KEPT].decode("utf-8", "replace").replace("\x00", "\ufffd"),
    )


def add_counts(counts: Counter, *, transport: str = "mqtt") -> None:
    """Add to the day's counters, in a transaction of its own after the batch's: the hot
    counter rows would otherwise serialise concurrent workers' whole batches."""
    rows = [(name, count) for name, count in sorted(counts.items()) if count]
    if not rows:
        return
    table = connection.ops.quote_name(IngestCounter._meta.db_table)
    day = connection.ops.adapt_datefield_value(timezone.localdate())
    with connection.cursor() as cursor:  # one statement, whichever counters are new
        cursor.execute(
            f"INSERT INTO {table} (day, transport, name, count)"
            f" VALUES {', '.join(['(%s, %s, %s, %s)'] * len(rows))}"
            f" ON CONFLICT (day, transport, name)"
            f" DO UPDATE SET count = {table}.count + excluded.count",
            [v for name, count in rows for v in (day, transport, name, count)],
        )
