from django.db import models
from django.utils import timezone


class OutboxMessage(models.Model):
    """A mail waiting to be delivered, or the record of one that was."""

    class State(models.TextChoices):
        PENDING = "pending", "送信待ち"
        SENDING = "sending", "送信中"
        SENT = "sent", "送信済み"
        FAILED = "failed", "送信失敗(再送打ち切り)"

    recipient = models.EmailField("宛先")
    subject = models.CharField("件名", max_length=200)
    # with the links that carry a token replaced; the whole body, while it is still to be
    # delivered, rests only sealed (encrypted with a key derived from the secret key)
    body = models.TextField("本文")
    sealed_body = models.TextField("本文(暗号化、送信まで)", blank=True, editable=False)
    state = models.CharField(
        "状態", max_length=10, choices=State.choices, default=State.PENDING, db_index=True
    )
    attempts = models.PositiveIntegerField("送信試行回数", default=0)
    last_error = models.TextField("直近のエラー", blank=True)
    created_at = models.DateTimeField("作成日時", default=timezone.now)
    next_attempt_at = models.DateTimeField("次回送信予定", default=timezone.now, db_index=True)
    claimed_at = models.DateTimeField("送信開始日時", null=True, blank=True)
    sent_at = models.DateTimeField("送信日時", null=True, blank=True)
    kind = models.CharField("種類", max_length=40, blank=True)

    class Meta:
        verbose_name = "送信メール"
        verbose_name_plural = "送信メール(アウトボックス)"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.subject} → {self.recipient}"
