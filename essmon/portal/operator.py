"""運営者メニュー: what an operator (the manufacturer's staff) works with, in its words.

The menu lists only what this operator may open: the admin's lists for the models its
account may view, the fleet of every gateway, its own mail address and password. The
counts that say where to look first cost a few aggregate queries, whatever the fleet."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

from django.contrib import admin
from django.urls import reverse

from essmon.accounts.models import User
from essmon.dealers.access import is_desk_operator, is_operator
from essmon.monitoring.fleet import fleet_summary
from essmon.mqtt.selectors import dead_letter_count
from essmon.notifications.selectors import failed_count

# (app label, model, label, what it is for), in the order an operator needs them
ADMIN_LISTS = (
    (
        "gateways",
        "gateway",
        "ゲートウェイ",
        "出荷したゲートウェイと登録の状態(未登録・仮登録中・登録済み)",
    ),
    ("accounts", "user", "アカウント", "お客様・販売店様・運営者のアカウント、ロックの解除"),
    ("dealers", "dealer", "販売店", "販売店様と保守担当者"),
    ("dealers", "dealerlink", "保守紐付け", "お客様が保守を任せた販売店様"),
    ("alerts", "alert", "異常", "すべてのゲートウェイの異常(未復旧・復旧済み)"),
    (
        "notifications",
        "outboxmessage",
        "送信メール(アウトボックス)",
        "メールの宛先・件名・送信の状態とエラー(本文は表示しません)",
    ),
    (
        "mqtt",
        "deadletter",
        "受信できなかったメッセージ",
        "ゲートウェイから届いたが受け付けられなかったMQTTメッセージと理由",
    ),
    (
        "telemetry",
        "counterdiscontinuity",
        "累計値の不連続",
        "電力量の累計値の巻き戻り・跳ね上がりと、その補完・欠測",
    ),
    ("warranty", "recordedlapse", "延長保証の失効", "記録された延長保証の失効"),
    ("core", "periodicjob", "定期ジョブ", "定期ジョブの実行状況と直近のエラー"),
    ("admin", "logentry", "運営管理の操作記録", "運営管理サイトで、誰がいつ何を変更したか"),
)


@dataclass(frozen=True)
class MenuLink:
    label: str
    url: str
    help: str


@dataclass(frozen=True)
class Count:
    label: str
    value: str
    url: str
    attention: bool  # not zero, and zero is what it should be


def _may_view(user: User, app: str, model: str) -> bool:
    return (
        user.is_active
        and user.is_staff
        and (user.has_perm(f"{app}.view_{model}") or user.has_perm(f"{app}.change_{model}"))
    )


def admin_links(user: User) -> list[MenuLink]:
    """The admin's lists this operator may open: none without admin access (is_staff),
    and of those only the models its permissions let it view."""
    if not (user.is_active and user.is_staff):
        return []
    registered = {(m._meta.app_label, m._meta.model_name) for m in admin.site._registry}
    links = [MenuLink("運営管理サイト", reverse("admin:index"), "すべての管理画面の入口")]
    for app, model, label, help_text in ADMIN_LISTS:
        if (app, model) in registered and _may_view(user, app, model):
            links.append(MenuLink(label, reverse(f"admin:{app}_{model}_changelist"), help_text))
    return links


def desk_links(user: User) -> list[MenuLink]:
    """The support desk for either operator role; the provisioning console for 管理担当."""
    links = []
    if is_desk_operator(user):
        links.append(
            MenuLink(
                "サポートデスク",
                reverse("support:search"),
                "お客様・販売店様・ゲートウェイを検索し、状況の確認と対応"
                "(仮登録メールの再送・仮登録中のゲートウェイの解除・ロックの解除・故障交換)",
            )
        )
    if is_operator(user):
        links.append(
            MenuLink(
                "製造登録コンソール",
                reverse("support:console"),
                "ゲートウェイの製造登録(新規発行)、工場リストの取り込み、登録用紙の印刷",
            )
        )
    return links


def overview(user: User, *, now: datetime) -> list[Count]:
    """Where to look first: the fleet's states, and what the admin keeps of what went
    wrong (for an operator who may see it there)."""
    fleet = reverse("monitoring:index")
    summary = fleet_summary(user, now=now)
    counts = [
        Count("ゲートウェイ", f"{summary.total}台", fleet, False),
        Count("オフライン", f"{summary.offline}台", f"{fleet}?status=offline", False),
        Count(
            "未復旧の異常あり",
            f"{summary.with_alerts}台",
            f"{fleet}?status=alerts",
            summary.with_alerts > 0,
        ),
        Count(
            "延長保証 失効のおそれ",
            f"{summary.warranty_at_risk}台",
            f"{fleet}?status=warranty_at_risk",
            summary.warranty_at_risk > 0,
        ),
    ]
    if _may_view(user, "notifications", "outboxmessage"):
        failed = failed_count()
        url = reverse("admin:notifications_outboxmessage_changelist")
        counts.append(
            Count("送信失敗のメール", f"{failed}件", f"{url}?state__exact=failed", failed > 0)
        )
    if _may_view(user, "mqtt", "deadletter"):
        since = now - timedelta(hours=24)
        dead = dead_letter_count(since=since)
        url = reverse("admin:mqtt_deadletter_changelist")
        recent = urlencode({"received_at__gte": since.isoformat(timespec="seconds")})
        counts.append(
            Count("受信できなかったメッセージ(24時間)", f"{dead}件", f"{url}?{recent}", dead > 0)
        )
    return counts
