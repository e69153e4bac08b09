"""The alert rules: what is wrong on a gateway now, and whether an open alert's condition
is still there. They only read; ``alerts.engine`` opens, settles and closes.

A rule reads the data once per run (``read``) and is then asked, per gateway, for a
``Finding`` (the alert to open) or a ``Verdict`` (the open alert's condition now), so
that one gateway's odd data fails that gateway alone.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar, Protocol, Self

from django.conf import settings
from django.db.models import Avg, Count, F, Max, Min, Q
from django.db.models.functions import Abs

from essmon.alerts.models import Alert, FaultCode, Kind, Severity
from essmon.gateways.models import Gateway
from essmon.telemetry.models import GatewayEvent, GatewayLiveState, Sample

logger = logging.getLogger(__name__)

# Fault events received this long ago or less are looked at for new faults; older starts
# were opened (or deliberately not) by the runs in between.
FAULT_LOOKBACK = timedelta(days=7)
# A battery temperature alert closes once the battery is this much below the limit.
TEMPERATURE_BAND_C = 5.0
# The state of charge counts as stuck when it moved less than this over the window while
# the battery reported at least SOC_STUCK_MIN_FLOW_W of charge or discharge on average.
SOC_STUCK_RANGE_PCT = 1.0
SOC_STUCK_MIN_FLOW_W = 300.0
SOC_STUCK_MIN_SAMPLES = 30
# samples arrive at most this long after their timestamp and still count (buffered ones)
RECEIPT_SLACK = timedelta(hours=1)
# When more than this share of a fleet of at least this many gateways goes silent at once,
# the silence is essmon's, not theirs (see we_are_deaf).
MASS_SILENCE_SHARE = 0.5
MASS_SILENCE_MIN_FLEET = 20

# An alert's identity among the open ones of a kind: the gateway's pk and the fault code
# ("" for the kinds that have none).
AlertKey = tuple[int, str]


def offline_alert_silence() -> timedelta:
    """How long a claimed gateway is silent before its offline alert (通信途絶) opens and its
    people are mailed (ESSMON_ALERT_OFFLINE_SECONDS). Not the silence after which a gateway
    counts as offline: that is ``telemetry.connectivity.offline_silence``."""
    return timedelta(seconds=settings.ALERT_OFFLINE_SECONDS)


def recovery_gap() -> timedelta:
    return timedelta(seconds=settings.ALERT_RECOVERY_GAP_SECONDS)


@dataclass(frozen=True)
class Finding:
    """A condition found on one gateway, in the words of the alert it opens."""

    kind: Kind
    since: datetime
    severity: str
    title: str
    detail: str
    action: str
    code: str = ""


@dataclass(frozen=True)
class Verdict:
    """An open alert's condition now: still present, or gone (since when, if the data
    tells; otherwise since this run)."""

    present: bool
    gone_since: datetime | None = None


class Rule(Protocol):
    """One kind of alert. ``read`` takes the data of one run (``open_``: the kind's open
    alerts by key); ``to_check`` are then the gateways to look at, in order: those with an
    open alert get ``verdict``, the others ``finding`` (None: nothing to open)."""

    name: ClassVar[str]  # in the log and the job's list of failures
    kind: ClassVar[Kind]

    @classmethod
    def read(cls, now: datetime, open_: Mapping[AlertKey, Alert]) -> Self: ...

    def to_check(self) -> Iterable[AlertKey]: ...

    def finding(self, key: AlertKey) -> Finding | None: ...

    def verdict(self, alert: Alert) -> Verdict: ...


def _gateways(open_: Mapping[AlertKey, Alert]) -> list[int]:
    return [gateway_id for gateway_id, _ in open_]


def _live_of_open(open_: Mapping[AlertKey, Alert], field: str) -> dict[int, Any]:
    """``field`` of the live state of the gateways with an open alert, by gateway pk."""
    rows = GatewayLiveState.objects.filter(gateway_id__in=_gateways(open_))
    return dict(rows.values_list("gateway_id", field))


# --- offline --------------------------------------------------------------------------


def we_are_deaf(now: datetime) -> bool:
    """True when most gateways heard in the last day went silent past the threshold together
    (a broker, ingest or network outage on essmon's side): mailing every customer and dealer
    twice would help nobody. Small fleets (under MASS_SILENCE_MIN_FLEET) are never held."""
    active = GatewayLiveState.objects.filter(
        last_seen_at__gte=now - timedelta(days=1), gateway__state=Gateway.State.CLAIMED
    )
    total = active.count()
    if total < MASS_SILENCE_MIN_FLEET:
        return False
    silent = active.filter(last_seen_at__lte=now - offline_alert_silence()).count()
    return silent > total * MASS_SILENCE_SHARE


def _minutes(span: timedelta) -> str:
    minutes = span.total_seconds() / 60
    return f"{minutes:.0f}分" if minutes >= 1 else f"{span.total_seconds():.0f}秒"


@dataclass(frozen=True)
class Offline:
    """A claimed gateway silent past ``ALERT_OFFLINE_SECONDS`` has an offline alert; it
    closes once the gateway has been heard for ``ALERT_RECOVERY_SECONDS``."""

    name: ClassVar[str] = "offline"
    kind: ClassVar[Kind] = Kind.OFFLINE

    now: datetime
    silent: dict[int, GatewayLiveState]  # gateway pk → live state, those without an alert
    open_keys: Sequence[AlertKey]
    seen: dict[int, datetime]  # the last message of those with an alert

    @classmethod
    def read(cls, now: datetime, open_: Mapping[AlertKey, Alert]) -> Self:
        limit = now - offline_alert_silence()
        # heard since it was registered: a gateway tested at the factory and not yet
        # installed is not "offline", and its dealer would be mailed about every system
        # not yet set up
        silent = (
            GatewayLiveState.objects.filter(
                last_seen_at__lte=limit, gateway__state=Gateway.State.CLAIMED
            )
            .filter(
                Q(gateway__claimed_at__isnull=True) | Q(last_seen_at__gte=F("gateway__claimed_at"))
            )
            .exclude(gateway_id__in=_gateways(open_))
        )
        if we_are_deaf(now):
            logger.error(
                "offline alerts held back: most of the fleet went silent at once, which "
                "points at essmon's own ingest or network, not at the gateways"
            )
            silent = silent.none()
        return cls(
            now=now,
            silent={live.gateway_id: live for live in silent},
            open_keys=list(open_),
            seen=_live_of_open(open_, "last_seen_at"),
        )

    def to_check(self) -> Iterable[AlertKey]:
        return [(g, "") for g in self.silent] + list(self.open_keys)

    def finding(self, key: AlertKey) -> Finding:
        return Finding(
            kind=Kind.OFFLINE,
            since=self.silent[key[0]].last_seen_at,
            severity=Severity.MAJOR,
            title="ゲートウェイからの通信が途絶えています",
            detail=f"{_minutes(offline_alert_silence())}以上、ゲートウェイから通信がありません。",
            action="ゲートウェイの電源、LANケーブル、ルーターとインターネット回線をご確認ください。"
            "停電や工事の後は、ゲートウェイの再起動が必要な場合があります。",
        )

    def verdict(self, alert: Alert) -> Verdict:
        # Back only while it keeps talking: a silence longer than the gap (gateways report
        # every minute) breaks off the recovery, though it is not yet offline again.
        # Without this, a gateway away 20 minutes in every 21 would be closed and
        # reopened, and mailed, every time.
        last_seen = self.seen.get(alert.gateway_id)
        talking = last_seen is not None and last_seen > self.now - recovery_gap()
        return Verdict(present=not talking)


# --- faults the gateway reports --------------------------------------------------------


def fault_catalogue() -> dict[str, FaultCode]:
    return {f.code: f for f in FaultCode.objects.all()}


@dataclass(frozen=True)
class Faults:
    """A fault code whose newest event is a start (severity above 情報, by the catalogue
    when it knows the code) has an alert; it closes once the code's clear has stood for
    ``ALERT_RECOVERY_SECONDS``. "Newest" is by arrival (``received_at``, the server's
    clock), then by the gateway's timestamp: a gateway clock that is wrong or corrected
    between a start and its clear must not leave a cleared fault open."""

    name: ClassVar[str] = "fault"
    kind: ClassVar[Kind] = Kind.FAULT

    newest: dict[AlertKey, GatewayEvent]
    open_keys: frozenset[AlertKey]
    catalogue: dict[str, FaultCode]

    @classmethod
    def read(cls, now: datetime, open_: Mapping[AlertKey, Alert]) -> Self:
        newest: dict[AlertKey, GatewayEvent] = {}
        recent = (
            GatewayEvent.objects.filter(received_at__gte=now - FAULT_LOOKBACK)
            .order_by("gateway_id", "code", "-received_at", "-ts", "-pk")
            .only("gateway_id", "code", "state", "severity", "ts", "received_at")
        )
        for event in recent:
            newest.setdefault((event.gateway_id, event.code), event)
        for pair in set(open_) - set(newest):  # open for longer than the look-back: rare
            last = (
                GatewayEvent.objects.filter(gateway_id=pair[0], code=pair[1])
                .order_by("-received_at", "-ts", "-pk")
                .first()
            )
            if last is not None:
                newest[pair] = last
        return cls(newest=newest, open_keys=frozenset(open_), catalogue=fault_catalogue())

    def to_check(self) -> Iterable[AlertKey]:
        return sorted(set(self.newest) | self.open_keys)

    def _severity(self, event: GatewayEvent) -> str:
        entry = self.catalogue.get(event.code)
        return entry.severity if entry else event.severity

    def _started(self, event: GatewayEvent | None) -> bool:
        return (
            event is not None
            and event.state == GatewayEvent.State.START
            and self._severity(event) != Severity.INFO
        )

    def finding(self, key: AlertKey) -> Finding | None:
        event = self.newest.get(key)
        if event is None or not self._started(event):
            return None
        entry = self.catalogue.get(event.code)
        return Finding(
            kind=Kind.FAULT,
            code=event.code,
            since=min(event.ts, event.received_at),
            severity=self._severity(event),
            title=f"{event.code} {entry.title}" if entry else f"故障コード {event.code}",
            detail=entry.description if entry else "この故障コードの説明は登録されていません。",
            action=entry.action if entry else "販売店またはお問い合わせ窓口にご連絡ください。",
        )

    def verdict(self, alert: Alert) -> Verdict:
        event = self.newest.get((alert.gateway_id, alert.code))
        if self._started(event):
            return Verdict(present=True)
        return Verdict(
            present=False, gone_since=min(event.ts, event.received_at) if event else None
        )


# --- rules on the samples ---------------------------------------------------------------


@dataclass(frozen=True)
class BatteryTemperature:
    """The newest sample's battery temperature over ``ALERT_BATTERY_TEMP_C`` opens an
    alert; it closes when it has stayed ``TEMPERATURE_BAND_C`` below."""

    name: ClassVar[str] = "battery_temp"
    kind: ClassVar[Kind] = Kind.BATTERY_TEMP

    limit: float
    hot: dict[int, GatewayLiveState]  # gateway pk → live state, those without an alert
    open_keys: Sequence[AlertKey]
    latest: dict[int, dict[str, Any]]  # the newest sample of those with an alert

    @classmethod
    def read(cls, now: datetime, open_: Mapping[AlertKey, Alert]) -> Self:
        limit = settings.ALERT_BATTERY_TEMP_C
        hot = GatewayLiveState.objects.filter(
            last_sample_ts__gte=now - offline_alert_silence(),
            latest__battery_temp_c__gt=limit,
            gateway__state=Gateway.State.CLAIMED,
        ).exclude(gateway_id__in=_gateways(open_))
        return cls(
            limit=limit,
            hot={live.gateway_id: live for live in hot},
            open_keys=list(open_),
            latest=_live_of_open(open_, "latest"),
        )

    def to_check(self) -> Iterable[AlertKey]:
        return [(g, "") for g in self.hot] + list(self.open_keys)

    def finding(self, key: AlertKey) -> Finding:
        live = self.hot[key[0]]
        assert live.last_sample_ts is not None  # read asked for a fresh one
        return Finding(
            kind=Kind.BATTERY_TEMP,
            since=live.last_sample_ts,
            severity=Severity.MAJOR,
            title="蓄電池の温度が高くなっています",
            detail=f"蓄電池温度 {live.latest['battery_temp_c']:.1f}℃(上限 {self.limit:.0f}℃)。",
            action="蓄電池の周囲に物が置かれていないか、直射日光が当たっていないかご確認ください。"
            "高温が続く場合は運転を停止し、販売店にご連絡ください。",
        )

    def verdict(self, alert: Alert) -> Verdict:
        temperature = (self.latest.get(alert.gateway_id) or {}).get("battery_temp_c")
        return Verdict(
            present=not isinstance(temperature, int | float)
            or temperature > self.limit - TEMPERATURE_BAND_C
        )


@dataclass(frozen=True)
class SocStuck:
    """The state of charge did not move over ``ALERT_SOC_STUCK_HOURS`` while the battery
    reported charging or discharging, which points at the battery's measurement."""

    name: ClassVar[str] = "soc_stuck"
    kind: ClassVar[Kind] = Kind.SOC_STUCK

    now: datetime
    stats: Mapping[int, Mapping[str, Any]]  # gateway pk → samples n, soc lo and hi, mean flow
    open_keys: Sequence[AlertKey]

    @classmethod
    def read(cls, now: datetime, open_: Mapping[AlertKey, Alert]) -> Self:
        window = timedelta(hours=settings.ALERT_SOC_STUCK_HOURS)
        stats = {
            row["gateway_id"]: row
            # received_at as well: it is indexed, ts alone is not (it comes second in the key)
            for row in Sample.objects.filter(
                ts__gt=now - window, ts__lte=now, received_at__gt=now - window - RECEIPT_SLACK
            )
            .values("gateway_id")
            .annotate(
                n=Count("ts"), lo=Min("soc_pct"), hi=Max("soc_pct"), flow=Avg(Abs("battery_w"))
            )
        }
        return cls(now=now, stats=stats, open_keys=list(open_))

    def to_check(self) -> Iterable[AlertKey]:
        open_keys = set(self.open_keys)
        stuck = [(g, "") for g, row in self.stats.items() if _stuck(row)]
        return [key for key in stuck if key not in open_keys] + list(self.open_keys)

    def finding(self, key: AlertKey) -> Finding:
        row = self.stats[key[0]]
        hours = settings.ALERT_SOC_STUCK_HOURS
        return Finding(
            kind=Kind.SOC_STUCK,
            since=self.now - timedelta(hours=hours),
            severity=Severity.MINOR,
            title="蓄電残量が変化していません",
            detail=f"{hours}時間、充放電(平均 {row['flow']:,.0f}W)が"
            f"あるのに蓄電残量が {row['lo']:.0f}% のまま変わっていません。",
            action="蓄電池の計測に異常がある可能性があります。販売店にご連絡ください。",
        )

    def verdict(self, alert: Alert) -> Verdict:
        # recovered only when the charge is seen moving: fewer samples or an idle battery
        # prove nothing, and closing on them would reopen the alert at the next charge
        row = self.stats.get(alert.gateway_id)
        moving = (
            row is not None
            and row["n"] >= SOC_STUCK_MIN_SAMPLES
            and row["hi"] - row["lo"] >= SOC_STUCK_RANGE_PCT
        )
        return Verdict(present=not moving)


def _stuck(row: Mapping[str, Any]) -> bool:
    return bool(
        row["n"] >= SOC_STUCK_MIN_SAMPLES
        and row["hi"] - row["lo"] < SOC_STUCK_RANGE_PCT
        and row["flow"] >= SOC_STUCK_MIN_FLOW_W
    )
