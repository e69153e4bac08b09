"""A fleet of simulated gateways on one asyncio loop: each samples its site on a simulated
clock, buffers what it cannot send, backfills in order, heartbeats, applies commands and
reports faults, speaking only the public protocol through a transport.

Library use (tests, benchmarks)::

    stats = await run_fleet(FleetConfig(start=..., duration=3600, speed=600),
                            read_credentials("gateways.csv"), HttpsTransport(url))
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import json
import logging
import math
import random
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from essmon.simulator.physics import KYOTO, SimulatedSite, iso_jst, model_spec
from essmon.simulator.state import entry as state_entry
from essmon.simulator.state import load_state, write_state
from essmon.simulator.transports import (
    Answer,
    GatewayCredentials,
    Session,
    Transport,
    TransportError,
)

logger = logging.getLogger("essmon.simulator")

MAX_SAMPLES_PER_BATCH = 1000
MAX_EVENTS_PER_REQUEST = 100
MAX_RESULTS_PER_REQUEST = 100
# under the protocol's 1 MiB with room for the envelope
MAX_BATCH_BYTES = 1_000_000
REMEMBERED_COMMANDS = 512
LATENCY_RESERVOIR = 20_000

T = TypeVar("T")


# --- the fault catalogue ---------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    code: str
    severity: str
    title: str
    stops_pcs: bool
    typical_s: tuple[float, float]  # how long one lasts, uniform between
    weight: float = 1.0  # how often, among random faults


FAULTS: dict[str, Fault] = {
    f.code: f
    for f in (
        Fault("E101", "major", "PV insulation resistance low", True, (1800, 4 * 3600), 1.0),
        Fault("E110", "minor", "PV string over-voltage", True, (300, 1800), 0.5),
        Fault("E203", "major", "battery over-temperature", True, (1800, 3 * 3600), 0.7),
        Fault("E210", "minor", "battery cell voltage imbalance", True, (600, 3600), 0.5),
        Fault("E305", "major", "grid voltage out of range", True, (60, 900), 2.0),
        Fault("E310", "major", "grid frequency out of range", True, (30, 300), 0.8),
        Fault("E501", "critical", "PCS internal fault", True, (3600, 8 * 3600), 0.2),
        Fault("W401", "minor", "PCS communication interrupted", False, (60, 1200), 2.0),
        Fault("W402", "info", "battery calibration running", False, (1800, 7200), 0.5),
    )
}


def fault_for(code: str) -> Fault:
    """The catalogue entry; an unknown code is taken as a major fault (E…) or a minor
    warning (anything else), so an operator can exercise any code from the command line."""
    if code in FAULTS:
        return FAULTS[code]
    if code.startswith("E"):
        return Fault(code, "major", "fault", True, (600, 3600))
    return Fault(code, "minor", "warning", False, (600, 3600))


# --- configuration -----------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """A stretch of simulated time (Unix seconds), for every gateway or for one."""

    start: float
    end: float
    gateway_id: str | None = None

    def covers(self, t: float, gateway_id: str) -> bool:
        return self.start <= t < self.end and self.gateway_id in (None, gateway_id)


@dataclass(frozen=True)
class FaultSpec:
    code: str
    at: float
    duration: float | None = None
    gateway_id: str | None = None


@dataclass
class FleetConfig:
    start: datetime
    interval: float = 60.0  # simulated seconds between samples
    speed: float = 1.0  # simulated seconds per real second; math.inf: as fast as possible
    duration: float | None = None  # simulated seconds; None runs until stopped
    send_every: float | None = None  # simulated seconds between sends; None: every sample
    status_every: float = 300.0
    outages: list[Window] = field(default_factory=list)
    faults: list[FaultSpec] = field(default_factory=list)
    fault_rate: float = 0.0  # random faults per gateway per simulated day
    seed: str | int = 1
    max_batch: int = MAX_SAMPLES_PER_BATCH
    report_every: float = 10.0  # real seconds
    drain_timeout: float = 30.0  # real seconds to deliver what is left at the end
    latitude: float = KYOTO[0]
    longitude: float = KYOTO[1]
    firmware: str = "1.4.2-sim"
    vary_roof: bool = True
    jitter: bool = True
    # counters carried over between runs (simulator.state); None: each run starts afresh
    state_file: Path | None = None
    state_every: float = 10.0  # real seconds between saves of the state file

    def __post_init__(self) -> None:
        if self.start.tzinfo is None:
            raise ValueError("start must carry a time zone")
        if not self.interval > 0:
            raise ValueError("interval must be positive")
        if not self.speed > 0:
            raise ValueError("speed must be positive")
        if math.isinf(self.speed) and self.duration is None:
            raise ValueError("an unbounded run cannot go at infinite speed")
        if not 1 <= self.max_batch <= MAX_SAMPLES_PER_BATCH:
            raise ValueError(f"max_batch must be 1-{MAX_SAMPLES_PER_BATCH}")

    @property
    def samples_per_gateway(self) -> int | None:
        if self.duration is None:
            return None
        return max(1, math.ceil(self.duration / self.interval - 1e-9))


def read_credentials(path: str | Path) -> list[GatewayCredentials]:
    """Gateways from a provisioning CSV (gateway_id,password,model,part_number,
    device_secret); rows without a device secret cannot authenticate and are skipped."""
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = {"gateway_id", "model", "device_secret"} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{path}: no column(s) {', '.join(sorted(missing))}")
        rows, skipped = [], 0
        for row in reader:
            secret = (row.get("device_secret") or "").strip()
            if not secret:
                skipped += 1
                continue
            rows.append(
                GatewayCredentials(row["gateway_id"].strip(), (row["model"] or "").strip(), secret)
            )
    if skipped:
        logger.warning("%s: %d row(s) without a device secret skipped", path, skipped)
    return rows


# --- counting --------------------------------------------------------------------------


@dataclass
class FleetStats:
    gateways: int = 0
    generated: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    buffered: int = 0
    statuses: int = 0
    events: int = 0
    commands_applied: int = 0
    commands_rejected: int = 0
    results: int = 0
    requests: int = 0
    errors: int = 0
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None
    max_latency: float = 0.0
    _last_at: float = 0.0
    _last_delivered: int = 0
    _period: list[float] = field(default_factory=list, repr=False)
    _reservoir: list[float] = field(default_factory=list, repr=False)
    _measured: int = 0
    _rng: random.Random = field(default_factory=lambda: random.Random(0), repr=False)

    def latency(self, seconds: float) -> None:
        """Record one request's round trip; a uniform sample of them is kept for totals."""
        self.max_latency = max(self.max_latency, seconds)
        if len(self._period) < 100_000:
            self._period.append(seconds)
        self._measured += 1
        if len(self._reservoir) < LATENCY_RESERVOIR:
            self._reservoir.append(seconds)
        else:
            slot = self._rng.randrange(self._measured)
            if slot < LATENCY_RESERVOIR:
                self._reservoir[slot] = seconds

    @property
    def delivered(self) -> int:
        return self.accepted + self.duplicates

    def elapsed(self) -> float:
        return (self.finished or time.monotonic()) - self.started

    def line(self, sim_time: float | None = None) -> str:
        now = time.monotonic()
        since = now - (self._last_at or self.started)
        rate = (self.delivered - self._last_delivered) / since if since > 0 else 0.0
        self._last_at, self._last_delivered = now, self.delivered
        average = self.delivered / max(self.elapsed(), 1e-9)
        clock = f"sim {iso_jst(math.floor(sim_time))[:16]} " if sim_time is not None else ""
        period, self._period = self._period, []
        return (
            f"[{self.elapsed():7.1f}s] {clock}gw {self.gateways} | samples {self.generated} "
            f"ok {self.accepted} dup {self.duplicates} rej {self.rejected} buf {self.buffered} "
            f"| status {self.statuses} events {self.events} cmds {self.commands_applied}"
            f"+{self.commands_rejected}rej | req {self.requests} err {self.errors} "
            f"| latency p50 {_ms(period, 0.5)} p99 {_ms(period, 0.99)} "
            f"| {rate:,.0f} samples/s (avg {average:,.0f})"
        )

    def totals(self) -> dict:
        return {
            "gateways": self.gateways,
            "seconds": round(self.elapsed(), 2),
            "generated": self.generated,
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "undelivered": self.buffered,
            "statuses": self.statuses,
            "events": self.events,
            "commands_applied": self.commands_applied,
            "commands_rejected": self.commands_rejected,
            "requests": self.requests,
            "errors": self.errors,
            "samples_per_s": round(self.delivered / max(self.elapsed(), 1e-9), 1),
            "latency_p50_ms": _percentile_ms(self._reservoir, 0.5),
            "latency_p99_ms": _percentile_ms(self._reservoir, 0.99),
            "latency_max_ms": round(self.max_latency * 1000),
        }


def _percentile_ms(values: list[float], q: float) -> int | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000)


def _ms(values: list[float], q: float) -> str:
    value = _percentile_ms(values, q)
    return "-" if value is None else f"{value}ms"


class ErrorLog:
    """Warns once per kind of failure per 10 s: a fleet of a thousand gateways losing the
    server would otherwise print a thousand identical lines per interval."""

    def __init__(self, every: float = 10.0) -> None:
        self.every = every
        self.last: dict[str, tuple[float, int]] = {}

    def __call__(self, gateway_id: str, what: str, error: Exception) -> None:
        key = f"{what}: {error}"
        now = time.monotonic()
        at, suppressed = self.last.get(key, (-math.inf, 0))
        if now - at < self.every:
            self.last[key] = (at, suppressed + 1)
            return
        more = f" ({suppressed} more like it)" if suppressed else ""
        logger.warning("%s: %s failed: %s%s", gateway_id, what, error, more)
        self.last[key] = (now, 0)


# --- the clock ---------------------------------------------------------------------------


class SimClock:
    """Simulated time runs ``speed`` times real time from ``sim0`` at loop time ``real0``."""

    def __init__(self, sim0: float, speed: float, real0: float) -> None:
        self.sim0, self.speed, self.real0 = sim0, speed, real0

    def real_at(self, sim: float) -> float:
        if math.isinf(self.speed):
            return self.real0
        return self.real0 + (sim - self.sim0) / self.speed

    def sim_at(self, real: float) -> float:
        if math.isinf(self.speed):
            return math.inf
        return self.sim0 + (real - self.real0) * self.speed


# --- one gateway -------------------------------------------------------------------------


class SimulatedGateway:
    def __init__(
        self,
        credentials: GatewayCredentials,
        session: Session,
        config: FleetConfig,
        stats: FleetStats,
        errors: ErrorLog,
        saved: dict | None = None,
    ) -> None:
        self.credentials = credentials
        self.gateway_id = credentials.gateway_id
        self.session = session
        self.config = config
        self.stats = stats
        self.errors = errors
        seed = f"{config.seed}:{credentials.gateway_id}"
        self.rng = random.Random(f"{seed}:gateway")
        self.spec = model_spec(credentials.model)
        self.t0 = config.start.timestamp()
        self.site = SimulatedSite(
            self.spec,
            start=self.t0,
            seed=seed,
            weather_seed=str(config.seed),
            latitude=config.latitude,
            longitude=config.longitude,
            vary_roof=config.vary_roof,
        )
        if saved is not None:
            # a device keeps its counters through a restart: go on from where the last run
            # (or the demo's back-filled history) left them, not from a new installation
            self.site.counters = dict(saved["counters"])
            if saved.get("soc_pct") is not None:
                self.site.soc_pct = saved["soc_pct"]
        # the protocol's seq survives reboots too
        self.seq = saved.get("seq", 0) if saved is not None else 0
        # Write-ahead: before a batch holding samples from seq ``saved_seq`` on is sent,
        # ``write_ahead`` writes the state file, so a run killed at any moment (SIGKILL, out
        # of memory) never left counters in it lower than a sample essmon has stored: the
        # next run would start below them, and essmon would see a reset.
        self.saved_seq = self.seq
        self.write_ahead: Callable[[], None] | None = None
        self.k = 0  # index of the next sample
        self.last_t: float | None = None
        self.samples: deque[dict] = deque()
        self.events: deque[dict] = deque()
        self.results: deque[dict] = deque()
        self.status_due = True  # a heartbeat at start
        self.applied: OrderedDict[object, dict] = OrderedDict()
        self.active: dict[str, tuple[float, Fault]] = {}
        self.scheduled = sorted(
            (f for f in config.faults if f.gateway_id in (None, self.gateway_id)),
            key=lambda f: f.at,
        )
        self.outages = [w for w in config.outages if w.gateway_id in (None, self.gateway_id)]
        self.send_every = max(config.send_every or config.interval, config.interval)
        self.next_send_t = self.t0
        self.next_status_t = self.t0 + config.status_every
        self.offline = False
        self.failing = False
        self.rejected_logged = 0
        period = self.send_every / config.speed if math.isfinite(config.speed) else 0.0
        # a fixed offset per gateway, so the fleet's sends spread over the period
        self.phase = self.rng.random() * period if config.jitter else 0.0

    # -- generation --

    def _time_of(self, k: int) -> float:
        return self.t0 + k * self.config.interval

    def _due(self, k: int, clock: SimClock, now: float) -> bool:
        total = self.config.samples_per_gateway
        return (total is None or k < total) and clock.real_at(self._time_of(k)) + self.phase <= now

    def _event(self, t: float, fault: Fault, state: str) -> dict:
        return {"ts": iso_jst(t), "code": fault.code, "severity": fault.severity, "state": state}

    def _update_faults(self, t: float, dt: float) -> None:
        new: list[tuple[float, dict]] = []

        def start(at: float, fault: Fault, end: float) -> None:
            if fault.code not in self.active:
                new.append((at, self._event(at, fault, "start")))
            end = max(end, self.active.get(fault.code, (0.0, fault))[0])
            self.active[fault.code] = (end, fault)

        while self.scheduled and self.scheduled[0].at <= t:
            spec = self.scheduled.pop(0)
            fault = fault_for(spec.code)
            end = spec.at + (spec.duration or round(self.rng.uniform(*fault.typical_s)))
            # one already over before the run began is not reported at all
            if end > self.t0:
                start(max(spec.at, self.t0), fault, end)
        rate = self.config.fault_rate
        if rate > 0 and dt > 0 and self.rng.random() < 1 - math.exp(-rate * dt / 86400):
            catalogue = list(FAULTS.values())
            fault = self.rng.choices(catalogue, weights=[f.weight for f in catalogue])[0]
            # whole seconds, like the samples' timestamps
            at = float(math.ceil(t - self.rng.random() * dt))
            start(at, fault, at + round(self.rng.uniform(*fault.typical_s)))
        for code, (end, fault) in list(self.active.items()):
            if end <= t:
                del self.active[code]
                new.append((end, self._event(end, fault, "clear")))
        new.sort(key=lambda pair: pair[0])
        self.events.extend(event for _, event in new)
        stops = [f for _, f in self.active.values() if f.stops_pcs]
        self.site.fault_stops_pcs = bool(stops)
        self.site.overheating = "E203" in self.active

    def generate(self) -> dict:
        """The next sample, into the buffer."""
        t = self._time_of(self.k)
        dt = 0.0 if self.last_t is None else t - self.site.t
        self._update_faults(t, dt)
        sample = self.site.step(dt).as_sample(self.seq)
        self.seq += 1
        self.k += 1
        self.last_t = t
        self.samples.append(sample)
        self.stats.generated += 1
        self.stats.buffered += 1
        if t >= self.next_status_t:
            self.status_due = True
            steps = math.floor((t - self.next_status_t) / self.config.status_every) + 1
            self.next_status_t += steps * self.config.status_every
        return sample

    def state(self) -> dict:
        return state_entry(self.site.t, self.site.counters, self.site.soc_pct, self.seq)

    def in_outage(self, t: float) -> bool:
        return any(w.covers(t, self.gateway_id) for w in self.outages)

    @property
    def pending(self) -> bool:
        return bool(self.samples or self.events or self.results or self.status_due)

    # -- the loop --

    async def run(self, clock: SimClock) -> None:
        """Sample on the simulated clock and talk to essmon; returns after the last sample
        of a bounded run (what is still buffered is left for ``drain``)."""
        loop = asyncio.get_running_loop()
        total = self.config.samples_per_gateway
        while total is None or self.k < total:
            delay = clock.real_at(self._time_of(self.k)) + self.phase - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            # Catch up with every sample that fell due, a batch at a time, so that a fleet
            # the machine cannot keep up with sends bigger batches instead of falling over.
            now = loop.time()
            made = 0
            while self._due(self.k, clock, now) and made < self.config.max_batch:
                self.generate()
                made += 1
            if made:
                await self.communicate()
            else:
                await asyncio.sleep(0)

    async def communicate(self, *, final: bool = False) -> bool:
        """Send what is due; False when the network failed (what was not sent is kept)."""
        t = self.last_t if self.last_t is not None else self.t0
        if not final and self.in_outage(t):
            if not self.offline:
                self.offline = True
                await self.session.drop()
            return True
        self.offline = False
        sending = final or t >= self.next_send_t or len(self.samples) >= self.config.max_batch
        if sending and not final:
            steps = math.floor((t - self.next_send_t) / self.send_every) + 1
            self.next_send_t += max(steps, 1) * self.send_every
        try:
            if sending:
                await self._send_samples()
            if self.events:
                await self._send_events()
            if sending and not final:
                await self._poll_commands(t)
            if self.results:
                await self._send_results()
            if self.status_due:
                await self._send_status(t)
        except TransportError as exc:
            self.stats.errors += 1
            self.failing = True
            self.errors(self.gateway_id, "send", exc)
            return False
        if self.failing:
            self.failing = False
            logger.info("%s: sending again", self.gateway_id)
        return True

    async def drain(self, deadline: float) -> None:
        """Deliver what is still buffered, outages over, until ``deadline`` (loop time)."""
        loop = asyncio.get_running_loop()
        while self.pending and loop.time() < deadline:
            if not await self.communicate(final=True):
                await asyncio.sleep(min(1.0, max(0.0, deadline - loop.time())))

    # -- the messages --

    async def _call(self, request: Awaitable[T]) -> T:
        self.stats.requests += 1
        began = time.monotonic()
        try:
            return await request
        finally:
            self.stats.latency(time.monotonic() - began)

    def _next_batch(self) -> list[dict]:
        count = min(len(self.samples), self.config.max_batch)
        batch = [self.samples[i] for i in range(count)]
        # about 450 bytes a sample: only a raised max_batch could reach the byte limit
        while len(batch) > 1 and len(json.dumps(batch)) > MAX_BATCH_BYTES:
            batch = batch[: len(batch) // 2]
        return batch

    async def _send_samples(self) -> None:
        # in order, one batch at a time: a batch whose answer was lost is simply sent
        # again (essmon counts the repeats as duplicates)
        while self.samples:
            batch = self._next_batch()
            if self.write_ahead is not None and batch[-1]["seq"] >= self.saved_seq:
                self.write_ahead()
            answer = await self._call(self.session.send_samples(batch))
            for _ in batch:
                self.samples.popleft()
            self.stats.buffered -= len(batch)
            self.stats.accepted += answer.accepted
            self.stats.duplicates += answer.duplicates
            self._rejected(answer, batch)

    def _rejected(self, answer: Answer, batch: list[dict]) -> None:
        self.stats.rejected += len(answer.rejected)
        for index, reason in answer.rejected:
            sample = batch[index] if 0 <= index < len(batch) else {}
            if self.rejected_logged < 10:
                logger.warning(
                    "%s: sample seq %s at %s rejected: %s",
                    self.gateway_id,
                    sample.get("seq"),
                    sample.get("ts"),
                    reason,
                )
            elif self.rejected_logged == 10:
                logger.warning("%s: more samples rejected; not logging each", self.gateway_id)
            self.rejected_logged += 1

    async def _send_events(self) -> None:
        while self.events:
            batch = [self.events[i] for i in range(min(len(self.events), MAX_EVENTS_PER_REQUEST))]
            answer = await self._call(self.session.send_events(batch))
            for _ in batch:
                self.events.popleft()
            self.stats.events += answer.accepted + answer.duplicates
            for index, reason in answer.rejected:
                logger.warning("%s: event %s rejected: %s", self.gateway_id, batch[index], reason)

    async def _send_results(self) -> None:
        while self.results:
            count = min(len(self.results), MAX_RESULTS_PER_REQUEST)
            batch = [self.results[i] for i in range(count)]
            answer = await self._call(self.session.send_results(batch))
            for _ in batch:
                self.results.popleft()
            self.stats.results += answer.accepted
            for index, reason in answer.rejected:
                logger.warning("%s: result %s rejected: %s", self.gateway_id, batch[index], reason)

    def status(self, t: float) -> dict:
        return {
            "ts": iso_jst(t),
            "firmware": self.config.firmware,
            "settings": self.site.settings.as_json(),
        }

    async def _send_status(self, t: float) -> None:
        try:
            await self._call(self.session.send_status(self.status(t)))
        except TransportError as exc:
            if not exc.permanent:
                raise
            # a refused status is not worth repeating; the next heartbeat is a new one
            self.status_due = False
            self.errors(self.gateway_id, "status", exc)
            self.stats.errors += 1
            return
        self.status_due = False
        self.stats.statuses += 1

    async def _poll_commands(self, t: float) -> None:
        fetch = self.session.fetch_commands()
        commands = await (self._call(fetch) if self.session.polls_network else fetch)
        for command in commands:
            result = self.apply(command, t)
            if result is not None and result not in self.results:
                self.results.append(result)

    def apply(self, command: object, t: float) -> dict | None:
        """Apply a command once; a repeat (its result was lost) gets the same result."""
        if not isinstance(command, dict) or "id" not in command:
            logger.warning("%s: unusable command %r", self.gateway_id, command)
            return None
        command_id = command["id"]
        if isinstance(command_id, bool) or not isinstance(command_id, int | str):
            logger.warning("%s: command with an unusable id %r", self.gateway_id, command_id)
            return None
        if command_id in self.applied:
            return self.applied[command_id]
        setting, value = command.get("setting"), command.get("value")
        reason = self.site.settings.check(self.spec, setting, value)
        if reason is None:
            self.site.settings.apply(setting, value)  # type: ignore[arg-type]  # check() accepted the name
            result = {"command_id": command_id, "status": "applied", "ts": iso_jst(t)}
            self.status_due = True  # the settings now in force
            self.stats.commands_applied += 1
            logger.info(
                "%s: applied command %s: %s = %r", self.gateway_id, command_id, setting, value
            )
        else:
            result = {
                "command_id": command_id,
                "status": "rejected",
                "ts": iso_jst(t),
                "reason": reason,
            }
            self.stats.commands_rejected += 1
            logger.info("%s: rejected command %s: %s", self.gateway_id, command_id, reason)
        self.applied[command_id] = result
        while len(self.applied) > REMEMBERED_COMMANDS:
            self.applied.popitem(last=False)
        return result


# --- the fleet ---------------------------------------------------------------------------


async def run_fleet(
    config: FleetConfig,
    gateways: Sequence[GatewayCredentials],
    transport: Transport,
    *,
    stop: asyncio.Event | None = None,
    report: Callable[[str], None] | None = None,
    stats: FleetStats | None = None,
) -> FleetStats:
    """Run ``gateways`` until the configured duration has passed (or ``stop`` is set), then
    deliver what is left within ``config.drain_timeout``; returns the counts."""
    stats = stats or FleetStats()
    stats.gateways = len(gateways)
    errors = ErrorLog()
    await transport.open()
    agents: list[SimulatedGateway] = []
    saved = load_state(config.state_file)
    kept = dict(saved)  # other gateways' entries stay in the file

    def save() -> None:
        if config.state_file is not None and agents:
            kept.update({a.gateway_id: a.state() for a in agents})
            write_state(config.state_file, kept)
            for agent in agents:
                agent.saved_seq = agent.seq

    saver = None
    try:
        agents = [
            SimulatedGateway(
                creds,
                transport.session(creds),
                config,
                stats,
                errors,
                saved.get(creds.gateway_id),
            )
            for creds in gateways
        ]
        if config.state_file is not None:
            for agent in agents:
                agent.write_ahead = save

            async def save_loop() -> None:
                while True:
                    await asyncio.sleep(config.state_every)
                    save()

            saver = asyncio.create_task(save_loop())
        loop = asyncio.get_running_loop()
        clock = SimClock(config.start.timestamp(), config.speed, loop.time())
        stats.started = time.monotonic()

        def slowest() -> float | None:
            times = [a.last_t for a in agents if a.last_t is not None]
            return min(times) if times else None

        reporter = None
        if report is not None:

            async def report_loop() -> None:
                while True:
                    await asyncio.sleep(config.report_every)
                    report(stats.line(slowest()))

            reporter = asyncio.create_task(report_loop())
        runs = [asyncio.create_task(agent.run(clock)) for agent in agents]
        waiters: list[asyncio.Future] = [asyncio.gather(*runs, return_exceptions=True)]
        if stop is not None:
            waiters.append(asyncio.ensure_future(stop.wait()))
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        for task in runs:
            task.cancel()
        outcomes = await asyncio.gather(*runs, return_exceptions=True)
        for agent, outcome in zip(agents, outcomes, strict=True):
            if isinstance(outcome, Exception):
                stats.errors += 1
                logger.error("%s: stopped by %r", agent.gateway_id, outcome, exc_info=outcome)
        for waiter in waiters:
            waiter.cancel()
        deadline = loop.time() + config.drain_timeout
        await asyncio.gather(*(agent.drain(deadline) for agent in agents))
        if reporter is not None:
            reporter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reporter
        stats.finished = time.monotonic()
        if report is not None:
            report(stats.line(slowest()))
    finally:
        if saver is not None:
            saver.cancel()
        save()
        await asyncio.gather(*(agent.session.close() for agent in agents), return_exceptions=True)
        await transport.close()
    return stats
