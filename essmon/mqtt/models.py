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
