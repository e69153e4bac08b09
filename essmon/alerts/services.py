"""Opening and closing alerts, and the mails that go with them.

Every check is level-based and idempotent: it looks at the state now (last seen, the
newest event per fault code, the newest sample) and opens what is wrong and not yet open,
and settles what is open. So a check that runs twice, late, or after a crash does no harm,
and the database's "one open alert per gateway, kind and code" makes a racing second
opener fail instead of mailing twice.

Hysteresis: an alert closes only after its condition has been gone for
``ALERT_RECOVERY_SECONDS`` without coming back (``recovered_at`` marks since when it has
been gone, and is cleared when it returns). For an offline alert "gone" means the gateway
keeps talking, with no silence longer than ``ALERT_RECOVERY_GAP_SECONDS``. A gateway that
flaps therefore keeps one open alert, and its people get one mail when it opens and one
when it has really recovered.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Avg, Count, F, Max, Min, Q
from django.db.models.functions import Abs
from django.utils import timezone

from essmon.accounts.models import User
from essmon.alerts.models import Alert, FaultCode, Kind, MailOptOut, Severity
from essmon.core.text import CONTROL_MESSAGE_MULTILINE, has_control_chars
from essmon.dealers.models import DealerAccess, DealerLink, MaintenanceStaff
from essmon.dealers.selectors import acting_as, maintenance_staff
from essmon.dealers.services.records import record_change
from essmon.gateways.models import Gateway
from essmon.notifications.services import queue_mail
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
COMMENT_MAX = 500
# When more than this share of a fleet of at least this many gateways goes silent at once,
# the silence is essmon's, not theirs (see we_are_deaf).
MASS_SILENCE_SHARE = 0.5
MASS_SILENCE_MIN_FLEET = 20


class AlertError(ValueError):
    """An alert action that cannot be done; the message is for the user (Japanese)."""


def offline_alert_silence() -> timedelta:
    """How long a claimed gateway is silent before its offline alert (通信途絶) opens and its
    people are mailed (ESSMON_ALERT_OFFLINE_SECONDS). Not the silence after which a gateway
    counts as offline: that is ``telemetry.connectivity.offline_silence``."""
    return timedelta(seconds=settings.ALERT_OFFLINE_SECONDS)


def recovery_after() -> timedelta:
    return timedelta(seconds=settings.ALERT_RECOVERY_SECONDS)


def recovery_gap() -> timedelta:
    return timedelta(seconds=settings.ALERT_RECOVERY_GAP_SECONDS)


# --- recipients and mails --------------------------------------------------------------


def recipients(alert: Alert) -> list[str]:
    """The confirmed maintenance staff of every dealer linked to the gateway, and the owner
    unless they stopped this kind of mail; each address once."""
    staff, owner = _people(alert)
    return [person.email.lower() for person in staff] + ([owner.email.lower()] if owner else [])


def _people(alert: Alert) -> tuple[list[MaintenanceStaff], User | None]:
    """Who gets ``alert``'s mails: the staff (one per address, by dealer) and the owner, or
    None when the owner is not mailed (opted out, account closed, or already among the
    staff)."""
    staff: list[MaintenanceStaff] = []
    seen: set[str] = set()
    for person in (
        maintenance_staff(gateway=alert.gateway)
        .select_related("dealer")
        .order_by("dealer_id", "pk")
    ):
        if person.email.lower() not in seen:
            seen.add(person.email.lower())
            staff.append(person)
    owner = alert.gateway.owner
    if (
        owner is None
        or not owner.is_active
        or MailOptOut.objects.filter(user=owner, kind=alert.kind).exists()
        or owner.email.lower() in seen
    ):
        owner = None
    return staff, owner


def _mail(alert: Alert, kind: str) -> int:
    """Queue ``kind`` (alert_opened / alert_recovered) to every recipient; inside the
    caller's transaction, so the mails exist exactly when the state change does.

    Each mail addresses its reader (the owner, or a dealer's staff member, with 様) and
    says who else was told only as it was done: the owner reads that the dealers were told
    only when a mail was queued to at least one linked dealer's staff."""
    gateway = alert.gateway
    staff, owner = _people(alert)
    dealers_told = list(dict.fromkeys(person.dealer for person in staff))
    base = {"alert": alert, "gateway": gateway, "site": gateway.site}
    for person in staff:
        queue_mail(
            recipient=person.email,
            kind=kind,
            context={
                **base,
                "staff": person,
                "dealer": person.dealer,
                "customer": gateway.owner,
                "owner_told": owner is not None,
            },
        )
    if owner is not None:
        linked = DealerLink.objects.filter(gateway=gateway, ended_at__isnull=True).exists()
        queue_mail(
            recipient=owner.email,
            kind=kind,
            context={
                **base,
                "customer": owner,
                "dealers_told": dealers_told,
                "dealers_linked": linked,
            },
        )
    return len(staff) + (owner is not None)


# --- opening and settling ---------------------------------------------------------------


@dataclass
class Outcome:
    opened: int = 0
    closed: int = 0
    failed: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        failed = f", {len(self.failed)} failed" if self.failed else ""
        return f"opened {self.opened}, closed {self.closed}{failed}"


def open_alert(
    *,
    gateway: Gateway,
    kind: str,
    since: datetime,
    severity: str,
    title: str,
    code: str = "",
    detail: str = "",
    action: str = "",
    now: datetime | None = None,
) -> Alert | None:
    """Open the alert and queue its mails, unless one is open already (then None)."""
    now = now or timezone.now()
    try:
        with transaction.atomic():
            if Alert.objects.filter(
                gateway=gateway, kind=kind, code=code, closed_at__isnull=True
            ).exists():
                return None
            alert = Alert.objects.create(
                gateway=gateway,
                kind=kind,
                code=code,
                severity=severity,
                title=title,
                detail=detail,
                action=action,
                since=since,
                opened_at=now,
            )
            mails = _mail(alert, "alert_opened")
    except IntegrityError:
        return None  # another scheduler opened it a moment ago; its mails went out
    logger.info(
        "alert %s opened: %s %s %s (%s mails)", alert.pk, gateway.gateway_id, kind, code, mails
    )
    return alert


def _open_for(gateway_id: int, **alert: Any) -> str:
    """The checks' way to open: "opened", or "" when the gateway is not (or no longer)
    registered or the alert is open already."""
    gateway = Gateway.objects.select_related("site", "owner").get(pk=gateway_id)
    if gateway.state != Gateway.State.CLAIMED:
        return ""
    return "opened" if open_alert(gateway=gateway, **alert) else ""


def settle(alert: Alert, *, present: bool, gone_since: datetime | None, now: datetime) -> bool:
    """Move an open alert along: the condition came back (clear ``recovered_at``), is gone
    (mark since when), or has been gone long enough (close and mail). True when closed."""
    if present:
        if alert.recovered_at is not None:
            Alert.objects.filter(pk=alert.pk, closed_at__isnull=True).update(recovered_at=None)
        return False
    since = alert.recovered_at or gone_since or now
    if since > now - recovery_after():
        if alert.recovered_at is None:
            Alert.objects.filter(pk=alert.pk, recovered_at__isnull=True).update(recovered_at=since)
        return False
    with transaction.atomic():
        closed = Alert.objects.filter(pk=alert.pk, closed_at__isnull=True).update(
            closed_at=now, recovered_at=since
        )
        if not closed:
            return False  # another scheduler closed it
        alert.closed_at, alert.recovered_at = now, since
        mails = _mail(alert, "alert_recovered")
    logger.info("alert %s closed: %s (%s mails)", alert.pk, alert.gateway.gateway_id, mails)
    return True


def _each(items: Iterable[Any], check: Callable[[Any], str], outcome: Outcome, what: str) -> None:
    """Run ``check`` per gateway: one gateway's failure is logged and the others go on."""
    for item in items:
        try:
            result = check(item)
        except Exception:
            logger.exception("alert check %s failed for %s", what, item)
            outcome.failed.append(f"{what}:{item}")
            continue
        if result == "opened":
            outcome.opened += 1
        elif result == "closed":
            outcome.closed += 1


def _open_alerts(kind: str) -> dict[tuple[int, str], Alert]:
    rows = Alert.objects.filter(kind=kind, closed_at__isnull=True).select_related(
        "gateway__site", "gateway__owner"
    )
    return {(a.gateway_id, a.code): a for a in rows}


# --- offline --------------------------------------------------------------------------


def check_offline(now: datetime, outcome: Outcome) -> None:
    """A claimed gateway silent past ``ALERT_OFFLINE_SECONDS`` has an offline alert; it
    closes once the gateway has been heard for ``ALERT_RECOVERY_SECONDS``."""
    limit = now - offline_alert_silence()
    open_ = _open_alerts(Kind.OFFLINE)
    # heard since it was registered: a gateway tested at the factory and not yet installed
    # is not "offline", and its dealer would be mailed about every system not yet set up
    silent = (
        GatewayLiveState.objects.filter(
            last_seen_at__lte=limit, gateway__state=Gateway.State.CLAIMED
        )
        .filter(Q(gateway__claimed_at__isnull=True) | Q(last_seen_at__gte=F("gateway__claimed_at")))
        .exclude(gateway_id__in=[g for g, _ in open_])
    )
    if we_are_deaf(now):
        logger.error(
            "offline alerts held back: most of the fleet went silent at once, which points "
            "at essmon's own ingest or network, not at the gateways"
        )
        silent = silent.none()

    def open_one(live: GatewayLiveState) -> str:
        return _open_for(
            live.gateway_id,
            kind=Kind.OFFLINE,
            since=live.last_seen_at,
            severity=Severity.MAJOR,
            title="ゲートウェイからの通信が途絶えています",
            detail=f"{_minutes(offline_alert_silence())}以上、ゲートウェイから通信がありません。",
            action="ゲートウェイの電源、LANケーブル、ルーターとインターネット回線をご確認ください。"
            "停電や工事の後は、ゲートウェイの再起動が必要な場合があります。",
            now=now,
        )

    _each(silent, open_one, outcome, "offline")
    seen = dict(
        GatewayLiveState.objects.filter(gateway_id__in=[g for g, _ in open_]).values_list(
            "gateway_id", "last_seen_at"
        )
    )

    def settle_one(alert: Alert) -> str:
        # Back only while it keeps talking: a silence longer than the gap (gateways
        # report every minute) breaks off the recovery, though it is not yet offline
        # again. Without this, a gateway away 20 minutes in every 21 would be closed and
        # reopened, and mailed, every time.
        last_seen = seen.get(alert.gateway_id)
        talking = last_seen is not None and last_seen > now - recovery_gap()
        return "closed" if settle(alert, present=not talking, gone_since=None, now=now) else ""

    _each(open_.values(), settle_one, outcome, "offline")


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


# --- faults the gateway reports --------------------------------------------------------


def fault_catalogue() -> dict[str, FaultCode]:
    return {f.code: f for f in FaultCode.objects.all()}


def check_faults(now: datetime, outcome: Outcome) -> None:
    """A fault code whose newest event is a start (severity above 情報, by the catalogue
    when it knows the code) has an alert; it closes once the code's clear has stood for
    ``ALERT_RECOVERY_SECONDS``. "Newest" is by arrival (``received_at``, the server's
    clock), then by the gateway's timestamp: a gateway clock that is wrong or corrected
    between a start and its clear must not leave a cleared fault open."""
    open_ = _open_alerts(Kind.FAULT)
    newest: dict[tuple[int, str], GatewayEvent] = {}
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
    catalogue = fault_catalogue()

    def severity_of(event: GatewayEvent) -> str:
        entry = catalogue.get(event.code)
        return entry.severity if entry else event.severity

    def check(pair: tuple[int, str]) -> str:
        event = newest.get(pair)
        started = (
            event is not None
            and event.state == GatewayEvent.State.START
            and severity_of(event) != Severity.INFO
        )
        alert = open_.get(pair)
        if alert is not None:
            gone = min(event.ts, event.received_at) if event is not None and not started else None
            return "closed" if settle(alert, present=started, gone_since=gone, now=now) else ""
        if not started or event is None:  # (started implies an event)
            return ""
        entry = catalogue.get(event.code)
        return _open_for(
            pair[0],
            kind=Kind.FAULT,
            code=event.code,
            since=min(event.ts, event.received_at),
            severity=severity_of(event),
            title=f"{event.code} {entry.title}" if entry else f"故障コード {event.code}",
            detail=entry.description if entry else "この故障コードの説明は登録されていません。",
            action=entry.action if entry else "販売店またはお問い合わせ窓口にご連絡ください。",
            now=now,
        )

    _each(sorted(set(newest) | set(open_)), check, outcome, "fault")


# --- rules on the samples ---------------------------------------------------------------


def check_battery_temperature(now: datetime, outcome: Outcome) -> None:
    """The newest sample's battery temperature over ``ALERT_BATTERY_TEMP_C`` opens an
    alert; it closes when it has stayed ``TEMPERATURE_BAND_C`` below."""
    limit = settings.ALERT_BATTERY_TEMP_C
    open_ = _open_alerts(Kind.BATTERY_TEMP)
    fresh = now - offline_alert_silence()
    hot = GatewayLiveState.objects.filter(
        last_sample_ts__gte=fresh,
        latest__battery_temp_c__gt=limit,
        gateway__state=Gateway.State.CLAIMED,
    ).exclude(gateway_id__in=[g for g, _ in open_])

    def open_one(live: GatewayLiveState) -> str:
        return _open_for(
            live.gateway_id,
            kind=Kind.BATTERY_TEMP,
            since=live.last_sample_ts,
            severity=Severity.MAJOR,
            title="蓄電池の温度が高くなっています",
            detail=f"蓄電池温度 {live.latest['battery_temp_c']:.1f}℃(上限 {limit:.0f}℃)。",
            action="蓄電池の周囲に物が置かれていないか、直射日光が当たっていないかご確認ください。"
            "高温が続く場合は運転を停止し、販売店にご連絡ください。",
            now=now,
        )

    _each(hot, open_one, outcome, "battery_temp")
    latest = dict(
        GatewayLiveState.objects.filter(gateway_id__in=[g for g, _ in open_]).values_list(
            "gateway_id", "latest"
        )
    )

    def settle_one(alert: Alert) -> str:
        temperature = (latest.get(alert.gateway_id) or {}).get("battery_temp_c")
        present = (
            not isinstance(temperature, int | float) or temperature > limit - TEMPERATURE_BAND_C
        )
        return "closed" if settle(alert, present=present, gone_since=None, now=now) else ""

    _each(open_.values(), settle_one, outcome, "battery_temp")


def check_soc_stuck(*, now: datetime | None = None) -> str:
    """Periodic job (every few minutes; it reads a window of samples): the state of charge
    did not move over ``ALERT_SOC_STUCK_HOURS`` while the battery reported charging or
    discharging, which points at the battery's measurement."""
    now = now or timezone.now()
    outcome = Outcome()
    window = timedelta(hours=settings.ALERT_SOC_STUCK_HOURS)
    stats = {
        row["gateway_id"]: row
        # received_at as well: it is indexed, ts alone is not (it comes second in the key)
        for row in Sample.objects.filter(
            ts__gt=now - window, ts__lte=now, received_at__gt=now - window - RECEIPT_SLACK
        )
        .values("gateway_id")
        .annotate(n=Count("ts"), lo=Min("soc_pct"), hi=Max("soc_pct"), flow=Avg(Abs("battery_w")))
    }
    open_ = _open_alerts(Kind.SOC_STUCK)

    def stuck(row: Mapping[str, Any]) -> bool:
        return bool(
            row["n"] >= SOC_STUCK_MIN_SAMPLES
            and row["hi"] - row["lo"] < SOC_STUCK_RANGE_PCT
            and row["flow"] >= SOC_STUCK_MIN_FLOW_W
        )

    def open_one(gateway_id: int) -> str:
        row = stats[gateway_id]
        return _open_for(
            gateway_id,
            kind=Kind.SOC_STUCK,
            since=now - window,
            severity=Severity.MINOR,
            title="蓄電残量が変化していません",
            detail=f"{settings.ALERT_SOC_STUCK_HOURS}時間、充放電(平均 {row['flow']:,.0f}W)が"
            f"あるのに蓄電残量が {row['lo']:.0f}% のまま変わっていません。",
            action="蓄電池の計測に異常がある可能性があります。販売店にご連絡ください。",
            now=now,
        )

    candidates = [g for g, row in stats.items() if stuck(row) and (g, "") not in open_]
    _each(candidates, open_one, outcome, "soc_stuck")

    def settle_one(alert: Alert) -> str:
        # recovered only when the charge is seen moving: fewer samples or an idle battery
        # prove nothing, and closing on them would reopen the alert at the next charge
        row = stats.get(alert.gateway_id)
        moving = (
            row is not None
            and row["n"] >= SOC_STUCK_MIN_SAMPLES
            and row["hi"] - row["lo"] >= SOC_STUCK_RANGE_PCT
        )
        return "closed" if settle(alert, present=not moving, gone_since=None, now=now) else ""

    _each(open_.values(), settle_one, outcome, "soc_stuck")
    return _result(outcome)


def evaluate_alerts(*, now: datetime | None = None) -> str:
    """Periodic job: offline, reported faults and battery temperature."""
    now = now or timezone.now()
    outcome = Outcome()
    for check in (check_offline, check_faults, check_battery_temperature):
        try:
            check(now, outcome)
        except Exception:  # one check's failure must not stop the others
            logger.exception("alert check %s failed", check.__name__)
            outcome.failed.append(check.__name__)
    return _result(outcome)


class AlertCheckFailed(RuntimeError):
    """Some gateways or checks failed (logged one by one); the rest were done. Raised after
    the run so that the scheduler records it as the job's last error."""


def _result(outcome: Outcome) -> str:
    if outcome.failed:
        raise AlertCheckFailed(f"{outcome}: {', '.join(outcome.failed[:20])}")
    return str(outcome)


# --- people ---------------------------------------------------------------------------


def acknowledge(*, alert: Alert, user: User, comment: str, now: datetime | None = None) -> Alert:
    """A dealer (or operator) says they have seen the alert and what they are doing."""
    now = now or timezone.now()
    comment = comment.strip()
    if len(comment) > COMMENT_MAX:
        raise AlertError(f"コメントは{COMMENT_MAX}文字以内で入力してください。")
    if has_control_chars(comment, multiline=True):
        raise AlertError(CONTROL_MESSAGE_MULTILINE)
    with transaction.atomic():
        done = Alert.objects.filter(pk=alert.pk, acknowledged_at__isnull=True).update(
            acknowledged_at=now,
            acknowledged_by=user,
            acknowledged_as=acting_as(user)[0],
            ack_comment=comment,
        )
        if done:  # a dealer's acknowledgement, for the owner's record too
            since = timezone.localtime(alert.since)
            record_change(
                user=user,
                gateway=alert.gateway,
                action=DealerAccess.Action.ACKNOWLEDGE_ALERT,
                detail=f"「{alert.title}」({since.year}年{since.month}月{since.day}日 "
                f"{since:%H:%M}発生): 未確認 → 確認済み"
                + (f"(コメント: {comment})" if comment else ""),
                now=now,
            )
    if not done:
        raise AlertError("この異常はすでに確認済みです。")
    alert.refresh_from_db()
    return alert


def set_opt_outs(*, user: User, kinds: Iterable[str]) -> None:
    """The kinds of alert mail ``user`` does not want (the others they get)."""
    wanted_off = {Kind(k) for k in kinds}
    with transaction.atomic():
        MailOptOut.objects.filter(user=user).exclude(kind__in=wanted_off).delete()
        for kind in wanted_off:
            MailOptOut.objects.get_or_create(user=user, kind=kind)


def gateway_alerts(gateway: Gateway, *, limit: int = 100) -> list[Alert]:
    """The gateway's alert history: open ones first, then the newest."""
    open_ = list(Alert.objects.filter(gateway=gateway, closed_at__isnull=True).order_by("-since"))
    closed = list(
        Alert.objects.filter(gateway=gateway, closed_at__isnull=False).order_by("-since")[:limit]
    )
    return open_ + closed
