"""Setting changes sent down to a gateway, with who asked, when, and what became of them."""

from django.conf import settings
from django.db import models
from django.utils import timezone

from essmon.gateways.models import Gateway
from essmon.gateways.schema import Setting


class Command(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "送信待ち"
        SENT = "sent", "送信済み"
        APPLIED = "applied", "反映済み"
        REJECTED = "rejected", "拒否"
        EXPIRED = "expired", "期限切れ"
        SUPERSEDED = "superseded", "新しい変更に置き換え"

    OPEN = (Status.PENDING, Status.SENT)

    gateway = models.ForeignKey(
        Gateway, on_delete=models.CASCADE, related_name="commands", verbose_name="ゲートウェイ"
    )
    setting = models.CharField("設定項目", max_length=20, choices=Setting.choices)
    value = models.JSONField("設定値")
    status = models.CharField("状態", max_length=10, choices=Status.choices, default=Status.PENDING)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="依頼者",
    )
    # The audit log's "who": as a label written when asked, so it still says which dealer
    # after that dealer is renamed, unlinked or deleted.
    requested_as = models.CharField("依頼者(記録)", max_length=200, blank=True)
    requested_at = models.DateTimeField("依頼日時", default=timezone.now)
    # the setting in force as the gateway last reported it, when the change was asked for
    previous_value = models.JSONField("変更前の設定値", null=True, blank=True)
    expires_at = models.DateTimeField("有効期限")
    sent_at = models.DateTimeField("送信日時", null=True, blank=True)
    answered_at = models.DateTimeField("結果受信日時", null=True, blank=True)
    result_ts = models.DateTimeField("機器での処理日時", null=True, blank=True)
    reason = models.CharField("理由", max_length=200, blank=True)

    class Meta:
        verbose_name = "遠隔設定"
        verbose_name_plural = "遠隔設定"
        ordering = ["-requested_at", "-pk"]
        indexes = [
            models.Index(
                fields=["gateway", "requested_at"],
                condition=models.Q(status__in=["pending", "sent"]),
                name="commands_open_per_gateway",
            )
        ]

    def __str__(self) -> str:
        return f"{self.gateway_id} {self.setting}={self.value} ({self.status})"
