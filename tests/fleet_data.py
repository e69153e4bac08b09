"""A fleet of many sites in a few bulk inserts, with known states, for the tests of the
screens that list them (counts, paging, query counts, phone layout)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.utils import timezone

from essmon.accounts.models import User
from essmon.alerts.models import Alert
from essmon.dealers.models import Dealer, DealerLink
from essmon.gateways.models import Gateway, Site
from essmon.telemetry.models import ConnectivityInterval, GatewayLiveState

PREFECTURES = ("京都府", "大阪府", "滋賀県", "奈良県", "兵庫県")


@dataclass
class Fleet:
    gateways: list[Gateway]
    online: int = 0
    offline: int = 0
    never: int = 0
    with_alerts: int = 0
    at_risk: int = 0
    by_state: dict[str, list[str]] = field(default_factory=dict)


def state_of(i: int) -> str:
    """Of every ten: one never heard from, two silent for two hours, one silent for eight
    days (its 15-year extension at risk), six online."""
    return {0: "never", 1: "offline", 2: "offline", 3: "at_risk"}.get(i % 10, "online")


def many_sites(
    count: int,
    *,
    dealer: Dealer | None = None,
    owner: User | None = None,
    now: datetime | None = None,
    prefix: str = "77KS",
) -> Fleet:
    """``count`` claimed gateways, each with its 案件 and (without ``owner``) an owner of
    its own, linked to ``dealer`` when given. Every seventh heard-from one has an open
    alert."""
    now = now or timezone.now()
    claimed = now - timedelta(days=60)
    if owner is None:
        owners = User.objects.bulk_create(
            User(
                email=f"{prefix.lower()}owner{i}@example.jp",
                name=f"顧客 {i:03d}",
                role=User.Role.CUSTOMER,
                is_active=True,
                activated_at=claimed,
                password="!unusable",
            )
            for i in range(count)
        )
    else:
        owners = [owner] * count
    sites = Site.objects.bulk_create(
        Site(
            owner=owners[i],
            name=f"案件{i:03d}",
            postal_code="6008216",
            prefecture=PREFECTURES[i % len(PREFECTURES)],
            address_rest=f"市内{i}番地",
        )
        for i in range(count)
    )
    gateways = Gateway.objects.bulk_create(
        Gateway(
            gateway_id=f"{prefix}{i:08d}",
            password_hash="!",
            state=Gateway.State.CLAIMED,
            owner=owners[i],
            site=sites[i],
            claimed_at=claimed,
        )
        for i in range(count)
    )
    fleet = Fleet(gateways=gateways)
    live, intervals, alerts = [], [], []
    for i, gw in enumerate(gateways):
        state = state_of(i)
        fleet.by_state.setdefault(state, []).append(gw.gateway_id)
        if state == "never":
            fleet.never += 1
            continue
        silent = {
            "online": timedelta(minutes=1),
            "offline": timedelta(hours=2),
            "at_risk": timedelta(days=8),
        }[state]
        last = now - silent
        live.append(
            GatewayLiveState(
                gateway=gw,
                last_seen_at=last,
                latest={"soc_pct": 20 + i % 80, "pv_w": 1000 + i, "load_w": 500 + i},
            )
        )
        intervals.append(
            ConnectivityInterval(
                gateway=gw, online_from=claimed, online_until=None if state == "online" else last
            )
        )
        if state == "online":
            fleet.online += 1
        else:
            fleet.offline += 1
        fleet.at_risk += state == "at_risk"
        if i % 7 == 0:
            fleet.with_alerts += 1
            alerts.append(
                Alert(
                    gateway=gw,
                    kind="fault",
                    code="E101",
                    severity="major",
                    title="蓄電池の異常",
                    since=now - timedelta(hours=1),
                )
            )
    GatewayLiveState.objects.bulk_create(live)
    ConnectivityInterval.objects.bulk_create(intervals)
    Alert.objects.bulk_create(alerts)
    if dealer is not None:
        DealerLink.objects.bulk_create(
            DealerLink(
                gateway=gw,
                dealer=dealer,
                created_by=gw.owner,
                created_at=claimed + timedelta(minutes=i),
            )
            for i, gw in enumerate(gateways)
        )
    return fleet
