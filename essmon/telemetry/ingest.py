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
from typing import Any

from django.conf import settings
from django.db import connection, transaction
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


@dataclass
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


def ingest_sample_batches(
    batches: Sequence[tuple[Gateway, list[Any]]],
    *,
    now: datetime | None = None,
    contacts: ContactBuffer | None = None,
) -> list[IngestResult]:
    """Store many gateways' batches in one transaction, with one INSERT whoever sent them:
    the MQTT worker's path, where each message is a batch of its own. A gateway may appear
    more than once; results come back in the order of ``batches``. ``contacts`` lets a
    stream worker spread the live-state writes (see ContactBuffer)."""
    now = now or timezone.now()
    adapt = connection.ops.adapt_datetimefield_value
    oldest = oldest_accepted_ts(now)  # once a batch: it only moves at a month's turn
    checked = []
    for gateway, samples in batches:
        result, valid = partition_items(
            samples,
            sample_checker(gateway=gateway, now=now, oldest=oldest),
            lambda c: c["ts"],
        )
        checked.append((gateway, result, valid))
    # each sample's key as the database stores it, computed once: the INSERT sends it and
    # the RETURNING rows are matched against it
    keyed = [
        (gateway, result, [((gateway.pk, adapt(c["ts"])), c) for c in valid.values()])
        for gateway, result, valid in checked
    ]
    # in no particular order: on PostgreSQL insert_samples stores them in (gateway, ts)
    # order, so concurrent batches take their index locks in one order; SQLite has one
    # writer at a time
    rows = [(key[0], key[1], c) for _, _, items in keyed for key, c in items]
    with transaction.atomic():
        inserted = _insert_samples(rows, received_at=adapt(now))
        newest: dict[int, Newest] = {}
        for gateway, result, items in keyed:
            for key, clean in items:
                if key not in inserted:
                    result.duplicates += 1
                    continue
                inserted.discard(key)  # the same sample twice in one call counts once
                result.accepted += 1
                known = newest.get(gateway.pk)
                if known is None or clean["ts"] > known.ts:
                    values = {name: clean[name] for name in (*NUMBERS, *CHOICES)}
                    newest[gateway.pk] = Newest(clean["ts"], clean["seq"], values)
        contacted = [gateway.pk for gateway, _, _ in checked]
        if contacts is None:
            record_contacts(contacted, now=now, newest=newest)
        else:
            contacts.add(contacted, now=now, newest=newest)
    return [result for _, result, _ in checked]


def _insert_samples(
    rows: list[tuple[int, Any, dict[str, Any]]], *, received_at: Any
) -> set[tuple[int, Any]]:
    """The keys of the rows that were new (essmon.telemetry.sql.insert_samples)."""
    values = (*NUMBERS, *CHOICES)
    kinds = (int, datetime, int, *[float] * len(NUMBERS), *[str] * len(CHOICES))
    flat = [
        (gateway_id, ts, clean["seq"], *(clean[n] for n in values))
        for gateway_id, ts, clean in rows
    ]
    return sql.insert_samples(SAMPLE_COLUMNS, kinds, flat, received_at=received_at)


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
