"""Alerts: something wrong with a gateway's system, open until it recovers, mailed to the
linked dealers' maintenance staff and the customer on open and on recovery.

The fault catalogue is data (``FaultCode``), kept by operators in the admin: each code's
severity, what it means and what to do, in Japanese as the mails and pages show them.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone

from essmon.gateways.models import Gateway


class Severity(models.TextChoices):
    INFO = "info", "情報"
    MINOR = "minor", "軽故障"
    MAJOR = "major", "重故障"
    CRITICAL = "critical", "緊急"


class FaultCode(models.Model):
    code = models.CharField("コード", max_length=16, primary_key=True)
    severity = models.CharField("重要度", max_length=10, choices=Severity.choices)
    title = models.CharField("内容", max_length=100)
    description = models.TextField("説明")
    action = models.TextField("推奨する対応")

    class Meta:
        verbose_name = "故障コード"
        verbose_name_plural = "故障コード"
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} {self.title}"


class Kind(models.TextChoices):
    OFFLINE = "offline", "通信途絶"
    FAULT = "fault", "機器の異常"
    BATTERY_TEMP = "battery_temp", "蓄電池の高温"
    SOC_STUCK = "soc_stuck", "蓄電残量の変化なし"


# How grave an alert is, in words true to its kind. Only a fault the gateway reports is graded
# as a fault (the catalogue's 軽故障 / 重故障 / 緊急); the other kinds are not faults of the
# system as such: a silent gateway (a router or line outage, a power cut) is one to look
# into, a hot battery a warning, a charge that does not move one to have inspected.
KIND_SEVERITY_WORDS: dict[str, str] = {
    Kind.OFFLINE: "要確認(通信の途絶です。蓄電システムの故障とは限りません)",
    Kind.BATTERY_TEMP: "警告(蓄電池が高温です)",
    Kind.SOC_STUCK: "要点検(蓄電残量の計測に異常がある可能性があります)",
}


class Alert(models.Model):
    """One stretch of one problem: opened once, closed once. For faults ``code`` names the
    fault; for the other kinds it is empty. At most one open alert per (gateway, kind,
    code), which the database enforces."""

    gateway = models.ForeignKey(
        Gateway, on_delete=models.CASCADE, related_name="alerts", verbose_name="ゲートウェイ"
    )
    kind = models.CharField("種類", max_length=16, choices=Kind.choices)
    code = models.CharField("コード", max_length=16, blank=True)
    severity = models.CharField("重要度", max_length=10, choices=Severity.choices)
    title = models.CharField("内容", max_length=200)
    detail = models.TextField("詳細", blank=True)
    action = models.TextField("推奨する対応", blank=True)
    since = models.DateTimeField("発生日時")
    opened_at = models.DateTimeField("検知日時", default=timezone.now)
    recovered_at = models.DateTimeField("復旧日時", null=True, blank=True)
    closed_at = models.DateTimeField("終了日時", null=True, blank=True)
    acknowledged_at = models.DateTimeField("確認日時", null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="確認者",
    )
    acknowledged_as = models.CharField("確認者(記録)", max_length=200, blank=True)
    ack_comment = models.TextField("確認のコメント", blank=True)

    class Meta:
        verbose_name = "異常"
        verbose_name_plural = "異常"
        ordering = ["-opened_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["gateway", "kind", "code"],
                condition=models.Q(closed_at__isnull=True),
                name="alerts_one_open_per_gateway_kind",
            )
        ]
        indexes = [
            models.Index(
                fields=["gateway"],
                condition=models.Q(closed_at__isnull=True),
                name="alerts_open_per_gateway",
            )
        ]

    def __str__(self) -> str:
        return f"{self.gateway_id} {self.kind} {self.code} {self.since:%Y-%m-%d %H:%M}"

    @property
    def is_open(self) -> bool:
        return self.closed_at is None

    @property
    def severity_words(self) -> str:
        """重要度 as the mails and pages say it (KIND_SEVERITY_WORDS)."""
        return KIND_SEVERITY_WORDS.get(self.kind) or self.get_severity_display()

    @property
    def severity_short(self) -> str:
        """The same, without its explanation: for a badge."""
        return self.severity_words.split("(")[0]


class MailOptOut(models.Model):
    """A customer who does not want alert mails of one kind (dealers' staff always get
    them: looking after the system is what they were linked for)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="alert_opt_outs",
        verbose_name="アカウント",
    )
    kind = models.CharField("種類", max_length=16, choices=Kind.choices)

    class Meta:
        verbose_name = "お知らせメールの停止"
        verbose_name_plural = "お知らせメールの停止"
        constraints = [
            models.UniqueConstraint(fields=["user", "kind"], name="alerts_one_opt_out_per_kind")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.kind}"
