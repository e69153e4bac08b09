"""The ingest core, shared by every transport: validate a batch sample by sample, store the
valid ones idempotently, and say precisely why each refused one was refused."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from essmon.gateways.models import Gateway
from essmon.telemetry.connectivity import record_contact
from essmon.telemetry.models import Sample

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
    "pv_kwh": (0.0, math.inf),
    "load_kwh": (0.0, math.inf),
    "grid_import_kwh": (0.0, math.inf),
    "grid_export_kwh": (0.0, math.inf),
    "charge_kwh": (0.0, math.inf),
    "discharge_kwh": (0.0, math.inf),
}
CHOICES: dict[str, frozenset[str]] = {
    "pcs_state": frozenset({"running", "standby", "stopped", "fault"}),
    "pcs_mode": frozenset({"economy", "green", "storage_priority"}),
}
SEQ_MAX = 2**63 - 1


class SampleError(ValueError):
    """Why one sample was refused, naming the field."""


@dataclass
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"accepted": self.accepted, "duplicates": self.duplicates, "rejected": self.rejected}


def _number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SampleError(f"{name}: expected a number, got {type(value).__name__}")
    number = float(value)
    low, high = NUMBERS[name]
    if not math.isfinite(number):
        raise SampleError(f"{name}: {value} is not a finite number")
    if number < low:
        raise SampleError(f"{name}: {value} is below {low:g}")
    if number > high:
        raise SampleError(f"{name}: {value} is above {high:g}")
    return number


def _timestamp(value: object, *, gateway: Gateway, now: datetime) -> datetime:
    if not isinstance(value, str):
        raise SampleError("ts: expected an ISO 8601 string")
    try:
        ts = datetime.fromisoformat(value)
    except ValueError as exc:
        raise SampleError(f"ts: {value!r} is not an ISO 8601 timestamp") from exc
    if ts.tzinfo is None:
        raise SampleError(f"ts: {value!r} has no time zone offset")
    if ts > now + MAX_AHEAD:
        raise SampleError(f"ts: {value} is more than a day ahead of the server clock")
    if ts < gateway.provisioned_at:
        raise SampleError(f"ts: {value} is before the gateway was provisioned")
    return ts


def validate_sample(raw: object, *, gateway: Gateway, now: datetime) -> dict:
    """A sample's fields, checked and converted; SampleError names the first bad field."""
    if not isinstance(raw, dict):
        raise SampleError("sample: expected a JSON object")
    missing = [n for n in ("ts", "seq", *NUMBERS, *CHOICES) if n not in raw]
    if missing:
        raise SampleError(f"missing field(s): {', '.join(missing)}")
    clean: dict = {"ts": _timestamp(raw["ts"], gateway=gateway, now=now)}
    seq = raw["seq"]
    if isinstance(seq, bool) or not isinstance(seq, int) or not 0 <= seq <= SEQ_MAX:
        raise SampleError(f"seq: expected a whole number from 0 to {SEQ_MAX}")
    clean["seq"] = seq
    for name in NUMBERS:
        clean[name] = _number(name, raw[name])
    for name, allowed in CHOICES.items():
        if raw[name] not in allowed:
            raise SampleError(f"{name}: {raw[name]!r} is not one of {', '.join(sorted(allowed))}")
        clean[name] = raw[name]
    return clean


def ingest_samples(*, gateway: Gateway, samples: list, now: datetime | None = None) -> IngestResult:
    """Store a batch: each valid sample once (a repeat of a stored (gateway, ts) is counted
    as a duplicate and ignored), each invalid one reported with its index and reason."""
    now = now or timezone.now()
    result = IngestResult()
    valid: dict[datetime, dict] = {}
    for index, raw in enumerate(samples):
        try:
            clean = validate_sample(raw, gateway=gateway, now=now)
        except SampleError as exc:
            result.rejected.append({"index": index, "reason": str(exc)})
            continue
        if clean["ts"] in valid:
            result.duplicates += 1  # the same instant twice in one batch
            continue
        valid[clean["ts"]] = clean
    with transaction.atomic():
        stored = set(
            Sample.objects.filter(gateway=gateway, ts__in=list(valid)).values_list("ts", flat=True)
        )
        new = [
            Sample(gateway=gateway, received_at=now, **c)
            for ts, c in valid.items()
            if ts not in stored
        ]
        # ignore_conflicts: a copy stored by a concurrent request in the meantime is
        # still a duplicate, not an error that would lose the rest of the batch
        Sample.objects.bulk_create(new, ignore_conflicts=True, batch_size=500)
        result.accepted = len(new)
        result.duplicates += len(valid) - len(new)
        _touch_live_state(gateway, now, max(new, key=lambda s: s.ts) if new else None)
    return result


def _touch_live_state(gateway: Gateway, now: datetime, newest: Sample | None) -> None:
    state = record_contact(gateway=gateway, now=now)
    if newest is not None and (state.last_sample_ts is None or newest.ts > state.last_sample_ts):
        state.last_sample_ts, state.last_seq = newest.ts, newest.seq
        state.latest = {name: getattr(newest, name) for name in (*NUMBERS, *CHOICES)}
    state.save()
