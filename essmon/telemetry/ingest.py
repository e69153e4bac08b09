"""The ingest core, shared by every transport: validate a batch sample by sample, store the
valid ones idempotently, and say precisely why each refused one was refused."""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Callable, Collection, Hashable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Annotated, Any, Literal

import msgspec
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from essmon.gateways.models import Gateway
from essmon.gateways.schema import MODES, Setting
from essmon.telemetry import sql
from essmon.telemetry.connectivity import (
    ContactBuffer,
    Newest,
    record_contact,
    record_contacts,
)
from essmon.telemetry.models import COUNTERS, GatewayEvent
from essmon.telemetry.partitions import oldest_accepted_ts

# the protocol's limit on one message's body, over HTTPS and over MQTT alike
MAX_BODY_BYTES = 1024 * 1024
MAX_SAMPLES_PER_BATCH = 1000
MAX_AHEAD = timedelta(days=1)
POWER_LIMIT_W = 100_000.0
NUMBERS: dict[str, tuple[float, float]] = {
    "pv_w": (0.0, POWER_LIMIT_W),
    "load_w": (0.0, POWER_LIMIT_W),
    "grid_w": (-POWER_LIMIT_W, POWER_LIMIT_W),
    "battery_w": (-POWER_LIMIT_W, POWER_LIMIT_W),
    "soc_pct": (0.0, 100.0),
    "battery_temp_c": (-40.0, 100.0),
    **dict.fromkeys(COUNTERS, (0.0, math.inf)),
}
CHOICES: dict[str, frozenset[str]] = {
    "pcs_state": frozenset({"running", "standby", "stopped", "fault"}),
    "pcs_mode": frozenset(MODES),
}
SEQ_MAX = 2**63 - 1


class SampleError(ValueError):
    """Why one sample was refused, naming the field."""


@dataclass(slots=True)
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "duplicates": self.duplicates, "rejected": self.rejected}


def decode_message(raw: bytes) -> dict[str, Any]:
    """A message body as a JSON object, for every transport; SampleError says why not."""
    try:
        text = raw.decode("utf-8")
        body = json.loads(text)
    except UnicodeDecodeError as exc:
        raise SampleError("body is not UTF-8") from exc
    except json.JSONDecodeError as exc:
        raise SampleError(
            f"body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from exc
    except (ValueError, RecursionError) as exc:  # a 5,000-digit number, nesting 100k deep
        raise SampleError(f"body is not usable JSON: {str(exc)[:120]}") from exc
    if "\\u0000" in text.lower():
        # PostgreSQL cannot store a NUL in text: refused here, not failing the batch later
        raise SampleError("body contains a NUL character (\\u0000)")
    if LONE_SURROGATE_ESCAPE.search(text) and not _encodable(body):
        # valid UTF-8 bytes cannot hold a surrogate, but a \\ud800 escape decodes to one,
        # and no database or log can write it: refused here, whichever field holds it
        raise SampleError("body contains a lone surrogate escape (\\ud800-\\udfff)")
    if not isinstance(body, dict):
        raise SampleError("body must be a JSON object")
    return body


LONE_SURROGATE_ESCAPE = re.compile(r"\\[uU][dD][89a-fA-F]")


def _encodable(body: object) -> bool:
    try:
        json.dumps(body, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def brief(value: object, limit: int = 40) -> str:
    """A received value for a refusal's reason: its repr, cut short, so a megabyte string
    or a deep structure cannot bloat the answer, the dead letter or the log line."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


def check_choice(name: str, value: object, allowed: Collection[str]) -> str:
    """One of ``allowed``; any other type (a list, an object) is refused, not hashed."""
    if not isinstance(value, str) or value not in allowed:
        raise SampleError(f"{name}: {brief(value)} is not one of {', '.join(sorted(allowed))}")
    return value


def check_whole_number(name: str, value: object, *, low: int, high: int = SEQ_MAX) -> int:
    """A JSON integer in [low, high]: the bound keeps it within the database's bigint."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise SampleError(f"{name}: expected a whole number from {low} to {high}")
    return value


def _number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SampleError(f"{name}: expected a number, got {_json_type(value)}")
    try:
        number = float(value)
    except OverflowError as exc:
        raise SampleError(f"{name}: too large a number") from exc
    low, high = NUMBERS[name]
    if not math.isfinite(number):
        raise SampleError(f"{name}: {brief(value)} is not a finite number")
    if number < low:
        raise SampleError(f"{name}: {brief(value)} is below {low:g}")
    if number > high:
        raise SampleError(f"{name}: {brief(value)} is above {high:g}")
    return number


def _json_type(value: object) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def check_timestamp(value: object, *, gateway: Gateway, now: datetime) -> datetime:
    if not isinstance(value, str) or len(value) > 64:
        raise SampleError("ts: expected an ISO 8601 string")
    try:
        ts = datetime.fromisoformat(value)
    except ValueError as exc:
        raise SampleError(f"ts: {brief(value)} is not an ISO 8601 timestamp") from exc
    if ts.tzinfo is None:
        raise SampleError(f"ts: {brief(value)} has no time zone offset")
    if ts > now + MAX_AHEAD:
        raise SampleError(f"ts: {value} is more than a day ahead of the server clock")
    if ts < gateway.provisioned_at:
        raise SampleError(f"ts: {value} is before the gateway was provisioned")
    # in UTC: Python takes offsets with seconds and fractions (+05:30:15.5), which
    # PostgreSQL refuses; the instant is the same (and, checked above, within range)
    return ts.astimezone(UTC)


def validate_sample(
    raw: object, *, gateway: Gateway, now: datetime, oldest: datetime | None = None
) -> dict[str, Any]:
    """A sample's fields, checked and converted; SampleError names the first bad field."""
    if not isinstance(raw, dict):
        raise SampleError("sample: expected a JSON object")
    missing = [n for n in ("ts", "seq", *NUMBERS, *CHOICES) if n not in raw]
    if missing:
        raise SampleError(f"missing field(s): {', '.join(missing)}")
    clean: dict[str, Any] = {"ts": check_timestamp(raw["ts"], gateway=gateway, now=now)}
    if clean["ts"] < (oldest or oldest_accepted_ts(now)):
        # its month's partition is gone (or going): the raw retention is over for it
        raise SampleError(
            f"ts: {raw['ts']} is older than the {settings.RAW_RETENTION_MONTHS} months"
            " of raw samples essmon keeps"
        )
    clean["seq"] = check_whole_number("seq", raw["seq"], low=0)
    for name in NUMBERS:
        clean[name] = _number(name, raw[name])
    for name, allowed in CHOICES.items():
        clean[name] = check_choice(name, raw[name], allowed)
    return clean


# The fast path's bounds: the largest finite float stands for "no upper bound", so one
# chained comparison also refuses inf and NaN (NaN compares false with everything).
_FAST_NUMBERS = tuple(
    (name, low, high if math.isfinite(high) else sys.float_info.max)
    for name, (low, high) in NUMBERS.items()
)
_FAST_CHOICES = tuple(CHOICES.items())


def sample_checker(
    *, gateway: Gateway, now: datetime, oldest: datetime
) -> Callable[[object], dict[str, Any]]:
    """``validate_sample`` for one gateway's batch, with what does not change from sample
    to sample worked out once. A sample it cannot pass at a glance (any doubt: a missing
    field, a bool, an int too large for a float, a value out of range) goes through
    ``validate_sample`` itself, so every refusal and its message are that function's."""
    latest = now + MAX_AHEAD
    floor = max(gateway.provisioned_at, oldest)
    slow = partial(validate_sample, gateway=gateway, now=now, oldest=oldest)
    fromiso = datetime.fromisoformat

    def glance(raw: object) -> dict[str, Any] | None:
        # None: not passed at a glance, for validate_sample to judge
        if type(raw) is not dict:
            return None
        try:
            text = raw["ts"]
            if type(text) is not str or len(text) > 64:
                return None
            ts = fromiso(text)
            if ts.tzinfo is None or not floor <= ts <= latest:
                return None
            seq = raw["seq"]
            if type(seq) is not int or not 0 <= seq <= SEQ_MAX:
                return None
            clean: dict[str, Any] = {"ts": ts.astimezone(UTC), "seq": seq}
            for name, low, high in _FAST_NUMBERS:
                value = raw[name]
                kind = type(value)
                if kind is int:
                    value = float(value)  # OverflowError: handled below
                elif kind is not float:
                    return None
                if not low <= value <= high:
                    return None
                clean[name] = value
            for name, allowed in _FAST_CHOICES:
                value = raw[name]
                if type(value) is not str or value not in allowed:
                    return None
                clean[name] = value
        except (KeyError, ValueError, OverflowError):
            return None
        return clean

    def check(raw: object) -> dict[str, Any]:
        clean = glance(raw)
        return slow(raw) if clean is None else clean

    return check


# --- the typed fast path ------------------------------------------------------------------
#
# A batch as msgspec decodes it straight from the body's bytes, every documented field
# typed and bounded as validate_sample bounds it, so that a plainly valid batch is decoded
# and checked in C, all at once. Field order is ROW_FIELDS' (ts, seq, NUMBERS, CHOICES), so
# a decoded sample's astuple() is its row but for ts. Anything else (an unknown field, a
# bool, an int for seq past a bigint, a value out of range, a missing field) fails the
# decoding, and the batch goes the way every batch went before: decode_message and
# check_samples, which write every refusal.
_FastSample = msgspec.defstruct(
    "FastSample",
    [
        ("ts", Annotated[str, msgspec.Meta(max_length=64)]),
        ("seq", Annotated[int, msgspec.Meta(ge=0, le=SEQ_MAX)]),
        *[
            # the largest finite float for "no upper bound": inf is refused like NaN
            (name, Annotated[float, msgspec.Meta(ge=low, le=min(high, sys.float_info.max))])
            for name, (low, high) in NUMBERS.items()
        ],
        *[(name, Literal[tuple(sorted(allowed))]) for name, allowed in CHOICES.items()],
    ],
    forbid_unknown_fields=True,
)
_FastBatch = msgspec.defstruct(
    "FastBatch",
    [
        ("gateway_id", str),
        (
            "samples",
            # a type made at run time, from NUMBERS and CHOICES: mypy cannot follow it
            Annotated[list[_FastSample], msgspec.Meta(max_length=MAX_SAMPLES_PER_BATCH)],  # type: ignore[valid-type]
        ),
    ],
    forbid_unknown_fields=True,
)
_FAST_DECODER = msgspec.json.Decoder(_FastBatch)


def decode_sample_batch(
    body: bytes, *, gateway: Gateway, now: datetime, oldest: datetime
) -> SampleBatch | None:
    """A telemetry body (protocol 2.4) decoded and checked in one pass, when it is a batch
    of ``gateway`` whose every sample is plainly valid; None when anything in it needs a
    closer look. Then the caller takes the general way (``decode_message``, the batch's
    checks, ``check_samples``), which refuses what must be refused, with its own words:
    this only ever passes what that way would pass, with the same rows
    (tests/telemetry/test_ingest.py compares the two).

    Only ASCII bodies without a backslash are taken: no escape can then hide a NUL, a
    lone surrogate or anything json and msgspec might read differently."""
    if not body.isascii() or b"\\" in body:
        return None
    try:
        batch: Any = _FAST_DECODER.decode(body)  # a _FastBatch, made at run time
    except msgspec.MsgspecError:
        return None
    if batch.gateway_id != gateway.gateway_id:
        return None
    latest = now + MAX_AHEAD
    floor = max(gateway.provisioned_at, oldest)
    fromiso, astuple = datetime.fromisoformat, msgspec.structs.astuple
    rows: dict[datetime, tuple[Any, ...]] = {}
    for sample in batch.samples:
        try:
            ts = fromiso(sample.ts)
        except ValueError:
            return None
        if ts.tzinfo is None or not floor <= ts <= latest:
            return None
        ts = ts.astimezone(UTC)
        if ts not in rows:  # a repeat within the batch: a duplicate, as partition_items counts
            rows[ts] = (ts, *astuple(sample)[1:])
    return SampleBatch(
        gateway, IngestResult(duplicates=len(batch.samples) - len(rows)), [*rows.values()]
    )


def partition_items(
    raws: list[Any],
    validate: Callable[[Any], dict[str, Any]],
    key: Callable[[dict[str, Any]], Hashable],
) -> tuple[IngestResult, dict[Any, dict[str, Any]]]:
    """Validate each item; refused ones go into the result by index, repeats within the
    request count as duplicates, the rest come back keyed by their identity."""
    result = IngestResult()
    valid: dict[Any, dict[str, Any]] = {}
    for index, raw in enumerate(raws):
        try:
            clean = validate(raw)
        except SampleError as exc:
            result.rejected.append({"index": index, "reason": str(exc)})
            continue
        if key(clean) in valid:
            result.duplicates += 1
            continue
        valid[key(clean)] = clean
    return result, valid


def _store_new(
    model: type[GatewayEvent],
    *,
    gateway: Gateway,
    now: datetime,
    valid: dict[Any, dict[str, Any]],
    stored: set[Any],
    result: IngestResult,
) -> list[GatewayEvent]:
    """Insert the items not stored yet and count the rest as duplicates. ignore_conflicts:
    a copy stored by a concurrent request meanwhile is still a duplicate, not an error
    that would lose the rest of the request."""
    new = [
        model(gateway=gateway, received_at=now, **c) for k, c in valid.items() if k not in stored
    ]
    model.objects.bulk_create(new, ignore_conflicts=True, batch_size=500)
    result.accepted = len(new)
    result.duplicates += len(valid) - len(new)
    return new


def ingest_samples(
    *, gateway: Gateway, samples: list[Any], now: datetime | None = None
) -> IngestResult:
    """Store a batch: each valid sample once (a repeat of a stored (gateway, ts) is counted
    as a duplicate and ignored), each invalid one reported with its index and reason."""
    return ingest_sample_batches([(gateway, samples)], now=now)[0]


SAMPLE_COLUMNS = ("gateway_id", "ts", "seq", *NUMBERS, *CHOICES, "received_at")
# A checked sample as a row: these values in this order (the sample table's columns after
# gateway_id, without received_at); ``ts`` in UTC.
ROW_FIELDS = ("ts", "seq", *NUMBERS, *CHOICES)
_ROW_KINDS = (datetime, int, *[float] * len(NUMBERS), *[str] * len(CHOICES))
_VALUE_NAMES = ROW_FIELDS[2:]


@dataclass(slots=True)
class SampleBatch:
    """One gateway's batch, checked: ``rows`` are its valid samples (ROW_FIELDS), one per
    ``ts`` in the order received; ``result`` holds the refusals and the repeats within the
    batch, and gets the accepted and duplicate counts when the rows are stored."""

    gateway: Gateway
    result: IngestResult
    rows: list[tuple[Any, ...]]


def check_samples(
    gateway: Gateway, samples: list[Any], *, now: datetime, oldest: datetime
) -> SampleBatch:
    """Each sample of a decoded batch through ``sample_checker``: refusals by index, repeats
    of a ``ts`` within the batch counted as duplicates."""
    result, valid = partition_items(
        samples, sample_checker(gateway=gateway, now=now, oldest=oldest), lambda c: c["ts"]
    )
    rows = [tuple(clean[name] for name in ROW_FIELDS) for clean in valid.values()]
    return SampleBatch(gateway, result, rows)


def ingest_sample_batches(
    batches: Sequence[tuple[Gateway, list[Any]]],
    *,
    now: datetime | None = None,
    contacts: ContactBuffer | None = None,
) -> list[IngestResult]:
    """Check and store many gateways' batches in one transaction (``store_sample_batches``);
    results come back in the order of ``batches``."""
    now = now or timezone.now()
    oldest = oldest_accepted_ts(now)  # once a batch: it only moves at a month's turn
    checked = [
        check_samples(gateway, samples, now=now, oldest=oldest) for gateway, samples in batches
    ]
    store_sample_batches(checked, now=now, contacts=contacts)
    return [batch.result for batch in checked]


def store_sample_batches(
    batches: Sequence[SampleBatch],
    *,
    now: datetime,
    contacts: ContactBuffer | None = None,
    transport: str | None = None,
) -> None:
    """Store checked batches in one transaction, with one insert whoever sent them: the
    MQTT worker's path, where each message is a batch of its own. A gateway may appear
    more than once. Each batch's result gets its accepted and duplicate counts; the
    gateways' live states are brought up to date (``contacts`` lets a stream worker spread
    those writes, see ContactBuffer; ``transport`` is noted there when given).

    On PostgreSQL the samples go in by ``copy_samples`` first, as new ones nearly always
    are; if any was stored already, that attempt is rolled back (to a savepoint when the
    caller's transaction holds this one, otherwise the whole transaction, which saves a
    request of its own the savepoint's two statements) and ``insert_samples`` sorts them
    out."""
    rows = []
    for batch in batches:
        pk = batch.gateway.pk
        rows += [(pk, *row) for row in batch.rows]
    copy = partial(sql.copy_samples, SAMPLE_COLUMNS, _COPY_KINDS, rows, received_at=now)
    insert = partial(sql.insert_samples, SAMPLE_COLUMNS, _COPY_KINDS, rows, received_at=now)
    heard = partial(_heard, batches, now=now, contacts=contacts, transport=transport)
    if not rows or not sql.is_postgresql():
        with transaction.atomic(savepoint=False):
            counts = heard(insert())
    elif connection.in_atomic_block:
        with transaction.atomic(savepoint=False):
            try:
                with transaction.atomic():
                    copy()
                inserted = None
            except IntegrityError:  # stored already; a gateway removed fails again below
                inserted = insert()
            counts = heard(inserted)
    else:
        try:
            with transaction.atomic():
                copy()
                counts = heard(None)
        except IntegrityError:
            with transaction.atomic():
                counts = heard(insert())
    # only now: a batch that fails above is stored again, alone, by the caller
    for result, accepted, duplicates in counts:
        result.accepted += accepted
        result.duplicates += duplicates


_COPY_KINDS = (int, *_ROW_KINDS)


def _heard(
    batches: Sequence[SampleBatch],
    inserted: set[tuple[int, datetime]] | None,
    *,
    now: datetime,
    contacts: ContactBuffer | None,
    transport: str | None,
) -> list[tuple[IngestResult, int, int]]:
    """The batches' gateways were heard, with the newest of their new samples; their
    (result, accepted, duplicates) counts, from ``inserted`` (None: every row was new)."""
    counts = []
    newest: dict[int, tuple[Any, ...]] = {}
    contacted = []
    for batch in batches:
        pk = batch.gateway.pk
        contacted.append(pk)
        if inserted is None:  # every row was new: the usual case, nothing to match
            kept = batch.rows
        else:
            kept = []
            for row in batch.rows:
                key = (pk, row[0])
                if key in inserted:
                    inserted.discard(key)  # the same sample twice in one call counts once
                    kept.append(row)
        counts.append((batch.result, len(kept), len(batch.rows) - len(kept)))
        if kept:
            top = max(kept, key=_ts) if len(kept) > 1 else kept[0]
            known = newest.get(pk)
            if known is None or top[0] > known[0]:
                newest[pk] = top
    latest = {pk: Newest(row[0], row[1], row[2:], _VALUE_NAMES) for pk, row in newest.items()}
    if contacts is None:
        record_contacts(contacted, now=now, newest=latest, transport=transport)
    else:
        contacts.add(contacted, now=now, newest=latest)
    return counts


def _ts(row: tuple[Any, ...]) -> Any:
    return row[0]


# --- status (heartbeat) -----------------------------------------------------------------

SETTING_KEYS = frozenset(Setting.values)


def _window(name: str, value: object) -> list[str]:
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(isinstance(v, str) and _is_hhmm(v) for v in value)
    ):
        raise SampleError(f'settings.{name}: expected ["HH:MM", "HH:MM"]')
    return value


def _is_hhmm(text: str) -> bool:
    hours, _, minutes = text.partition(":")
    # ASCII first: "²".isdigit() is true, and int() refuses it
    return (
        len(hours) == 2
        and len(minutes) == 2
        and hours.isascii()
        and minutes.isascii()
        and hours.isdigit()
        and minutes.isdigit()
        and int(hours) < 24
        and int(minutes) < 60
    )


def validate_status(raw: object, *, gateway: Gateway, now: datetime) -> dict[str, Any]:
    """A status message's fields, checked; SampleError names the first bad one."""
    if not isinstance(raw, dict):
        raise SampleError("status: expected a JSON object")
    missing = [n for n in ("ts", "firmware", "settings") if n not in raw]
    if missing:
        raise SampleError(f"missing field(s): {', '.join(missing)}")
    ts = check_timestamp(raw["ts"], gateway=gateway, now=now)
    firmware = raw["firmware"]
    if not isinstance(firmware, str) or not 1 <= len(firmware) <= 40:
        raise SampleError("firmware: expected a version string of 1-40 characters")
    settings_raw = raw["settings"]
    if not isinstance(settings_raw, dict):
        raise SampleError("settings: expected a JSON object")
    unknown = set(settings_raw) - SETTING_KEYS
    if unknown:
        raise SampleError(f"settings: unknown key(s) {', '.join(sorted(unknown))}")
    if set(settings_raw) != SETTING_KEYS:
        absent = ", ".join(sorted(SETTING_KEYS - set(settings_raw)))
        raise SampleError(f"settings: missing key(s) {absent}")
    check_choice("settings.mode", settings_raw["mode"], CHOICES["pcs_mode"])
    for name in ("charge_window", "discharge_window"):
        _window(name, settings_raw[name])
    reserve = settings_raw["reserve_soc_pct"]
    if isinstance(reserve, bool) or not isinstance(reserve, int | float) or not 0 <= reserve <= 100:
        raise SampleError("settings.reserve_soc_pct: expected a number from 0 to 100")
    limit = settings_raw["export_limit_w"]
    if (
        isinstance(limit, bool)
        or not isinstance(limit, int | float)
        or not 0 <= limit <= POWER_LIMIT_W
    ):
        raise SampleError(f"settings.export_limit_w: expected a number from 0 to {POWER_LIMIT_W:g}")
    return {"ts": ts, "firmware": firmware, "settings": settings_raw}


def record_status(*, gateway: Gateway, raw: object, now: datetime | None = None) -> None:
    """Store a status (firmware, settings in force); an older one than stored is ignored."""
    now = now or timezone.now()
    status = validate_status(raw, gateway=gateway, now=now)
    with transaction.atomic():
        state = record_contact(gateway=gateway, now=now)
        if state.status_ts is None or status["ts"] >= state.status_ts:
            state.status_ts = status["ts"]
            state.firmware = status["firmware"]
            state.settings_in_force = status["settings"]
        state.save()


# --- events ---------------------------------------------------------------------------

EVENT_CODE_RE = re.compile(r"^[A-Z][A-Z0-9]{1,15}\Z")
MAX_EVENTS_PER_BATCH = 100


def validate_event(raw: object, *, gateway: Gateway, now: datetime) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise SampleError("event: expected a JSON object")
    missing = [n for n in ("ts", "code", "severity", "state") if n not in raw]
    if missing:
        raise SampleError(f"missing field(s): {', '.join(missing)}")
    ts = check_timestamp(raw["ts"], gateway=gateway, now=now)
    code = raw["code"]
    if not isinstance(code, str) or not EVENT_CODE_RE.match(code):
        raise SampleError(
            "code: expected a fault code like E203 (capital letter, then letters or digits)"
        )
    check_choice("severity", raw["severity"], GatewayEvent.Severity.values)
    check_choice("state", raw["state"], GatewayEvent.State.values)
    return {"ts": ts, "code": code, "severity": raw["severity"], "state": raw["state"]}


def ingest_events(
    *, gateway: Gateway, events: list[Any], now: datetime | None = None
) -> IngestResult:
    """Store reported events once each (a resend is a duplicate), refusing bad ones by index."""
    now = now or timezone.now()
    result, valid = partition_items(
        events,
        lambda raw: validate_event(raw, gateway=gateway, now=now),
        lambda c: (c["ts"], c["code"], c["state"]),
    )
    with transaction.atomic():
        stored = set(
            GatewayEvent.objects.filter(gateway=gateway, ts__in=[k[0] for k in valid]).values_list(
                "ts", "code", "state"
            )
        )
        _store_new(
            GatewayEvent, gateway=gateway, now=now, valid=valid, stored=stored, result=result
        )
        record_contacts([gateway.pk], now=now)
    return result
