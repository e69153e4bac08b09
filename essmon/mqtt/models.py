"""What the MQTT ingest could not use, kept for the operator, and its running counts."""

from django.db import models
from django.utils import timezone


class DeadLetter(models.Model):
    """A message (or the refused part of one) that MQTT could not answer with an error."""

    received_at = models.DateTimeField("受信日時", default=timezone.now, db_index=True)
    topic = models.CharField("トピック", max_length=200)
    gateway_id = models.CharField("ゲートウェイID", max_length=64, blank=True, db_index=True)
    reason = models.TextField("理由")
    payload = models.TextField("内容", blank=True, help_text="受信したままの内容の先頭 64 KiB まで")

    class Meta:
        verbose_name = "受信できなかったメッセージ"
        verbose_name_plural = "受信できなかったメッセージ"
        ordering = ["-received_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.topic} {self.received_at:%Y-%m-%d %H:%M:%S}"


class IngestCounter(models.Model):
    """Messages and samples by outcome, per day (JST) and transport."""

    day = models.DateField("日付")
    transport = models.CharField("経路", max_length=10)
    name = models.CharField("項目", max_length=40)
    count = models.BigIntegerField("件数", default=0)

    class Meta:
        verbose_name = "受信件数"
        verbose_name_plural = "受信件数"
        ordering = ["-day", "transport", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["day", "transport", "name"], name="mqtt_counter_identity"
            )
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.transport} {self.name}: {self.count}"


class GatewayCertificate(models.Model):
    """A gateway's X.509 client certificate issued by essmon's CA (essmon/mqtt/certificates.py).
    Only the public facts: the key went once to the factory's file and is kept nowhere."""

    class Reason(models.TextChoices):
        UNSPECIFIED = "unspecified", "指定なし"
        KEY_COMPROMISE = "key_compromise", "鍵の漏えい"
        REPLACED = "replaced", "故障交換"
        RETIRED = "retired", "登録の削除"

    # hexadecimal, lowercase, without leading zeros (as the CRL's serials are compared)
    serial = models.CharField("シリアル番号", max_length=40, unique=True)
    # the ID, not the registry row: a 故障交換 gives the row the new unit's ID, while this
    # certificate still names the old one
    gateway_id = models.CharField("ゲートウェイID", max_length=12, db_index=True)
    # SHA-256 of the certificate's DER, in hex: the label stays Japanese (the admin's rule)
    fingerprint = models.CharField("フィンガープリント", max_length=64)
    issued_at = models.DateTimeField("発行日時", default=timezone.now)
    not_before = models.DateTimeField("有効期間の開始")
    not_after = models.DateTimeField("有効期間の終了")
    revoked_at = models.DateTimeField("失効日時", null=True, blank=True)
    reason = models.CharField("失効の理由", max_length=20, choices=Reason.choices, blank=True)

    class Meta:
        verbose_name = "ゲートウェイのクライアント証明書"
        verbose_name_plural = "ゲートウェイのクライアント証明書"
        ordering = ["-issued_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.gateway_id} {self.serial}"
