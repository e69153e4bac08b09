"""The dates the warranty is counted from, who entered them, and the warning mails sent.

The state itself is never stored: ``rules.evaluate`` works it out from these dates, the
registration and the connectivity history whenever it is needed, so it cannot go stale.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from essmon.dealers.models import Dealer
from essmon.gateways.models import Gateway


class WarrantyDates(models.Model):
    """系統連系日 and 受取日 of one system, as entered by its owner or a linked dealer."""

    gateway = models.OneToOneField(
        Gateway,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="warranty_dates",
        verbose_name="ゲートウェイ",
    )
    grid_connection_date = models.DateField("系統連系日", null=True, blank=True)
    received_date = models.DateField("受取日", null=True, blank=True)
    updated_at = models.DateTimeField("更新日時", default=timezone.now)

    class Meta:
        verbose_name = "保証の起算日"
        verbose_name_plural = "保証の起算日"

    def __str__(self) -> str:
        return f"{self.gateway_id}: {self.grid_connection_date} / {self.received_date}"


class DateChange(models.Model):
    """One change of one date: who (the customer, or which dealer), when, before and after.
    The actor is also kept as text, so the record still says who after an account is gone."""

    class Field(models.TextChoices):
        GRID_CONNECTION = "grid_connection_date", "系統連系日"
        RECEIVED = "received_date", "受取日"

    gateway = models.ForeignKey(
        Gateway,
        on_delete=models.CASCADE,
        related_name="warranty_changes",
        verbose_name="ゲートウェイ",
    )
    field = models.CharField("項目", max_length=24, choices=Field.choices)
    before = models.DateField("変更前", null=True, blank=True)
    after = models.DateField("変更後", null=True, blank=True)
    changed_at = models.DateTimeField("変更日時", default=timezone.now)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
        verbose_name="変更した人",
    )
    dealer = models.ForeignKey(
        Dealer,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="販売店",
    )
    changed_as = models.CharField("変更者(記録)", max_length=200)

    class Meta:
        verbose_name = "保証の起算日の変更履歴"
        verbose_name_plural = "保証の起算日の変更履歴"
        ordering = ["-changed_at", "-pk"]
        indexes = [models.Index(fields=["gateway", "-changed_at"], name="warranty_change_gateway")]

    def __str__(self) -> str:
        return f"{self.gateway_id} {self.field}: {self.before} → {self.after}"


class OfflineWarning(models.Model):
    """A warning mail sent for one offline stretch at one threshold. The unique key is what
    makes a rerun, a restart or a second scheduler send it only once."""

    gateway = models.ForeignKey(
        Gateway,
        on_delete=models.CASCADE,
        related_name="warranty_warnings",
        verbose_name="ゲートウェイ",
    )
    offline_since = models.DateTimeField("オフライン開始")
    days = models.PositiveSmallIntegerField("経過日数")
    sent_at = models.DateTimeField("送信日時", default=timezone.now)
    recipients = models.PositiveSmallIntegerField("宛先数", default=0)

    class Meta:
        verbose_name = "保証の警告メール"
        verbose_name_plural = "保証の警告メール"
        ordering = ["-sent_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["gateway", "offline_since", "days"], name="warranty_warning_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.gateway_id} {self.days}日 ({self.offline_since:%Y-%m-%d %H:%M})"


class RecordedLapse(models.Model):
    """An extension lost for good, written the first time essmon sees the lapse (any
    evaluation: the page, the fleet, the periodic job, or just before the dates change).
    The state is otherwise recomputed from the dates and the connectivity history, and a
    later 系統連系日 or a connectivity record merged across a silence must not bring the
    extension back. Operators may delete one in the admin, e.g. after an outage on
    essmon's side; that is the only way back."""

    gateway = models.OneToOneField(
        Gateway,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="warranty_lapse",
        verbose_name="ゲートウェイ",
    )
    offline_since = models.DateTimeField("オフライン開始")
    lapsed_at = models.DateTimeField("失効日時")
    recorded_at = models.DateTimeField("記録日時", default=timezone.now)

    class Meta:
        verbose_name = "延長保証の失効"
        verbose_name_plural = "延長保証の失効"

    def __str__(self) -> str:
        return f"{self.gateway_id} {self.lapsed_at:%Y-%m-%d}"
