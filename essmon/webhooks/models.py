"""Webhooks (docs/webhooks.md): endpoints that owners and dealers register, the events the
service tells them, and each event's delivery to each endpoint with its attempts."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from essmon.core.once import form_once_column
from essmon.dealers.models import Dealer
from essmon.gateways.models import Gateway

MAX_URL_LENGTH = 2000
RESPONSE_SNIPPET_MAX = 500


class Endpoint(models.Model):
    """An HTTPS address that receives signed events: a customer's for its own gateways, or a
    dealer's (registered by its administrator) for the gateways entrusted to it."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="webhook_endpoints",
        verbose_name="お客様",
    )
    dealer = models.ForeignKey(
        Dealer,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="webhook_endpoints",
        verbose_name="販売店",
    )
    url = models.CharField("URL", max_length=MAX_URL_LENGTH)
    description = models.CharField("説明", max_length=200, blank=True)
    event_types = models.JSONField("イベントの種類", default=list)
    # the signing secret (whsec_…), needed at every delivery, so sealed, never plain
    secret_sealed = models.TextField("署名用シークレット(暗号化)", editable=False)
    enabled = models.BooleanField("有効", default=True)
    created_at = models.DateTimeField("登録日時", default=timezone.now)
    secret_rotated_at = models.DateTimeField("シークレットの再発行日時", null=True, blank=True)
    # the first failure of the current run of failures; cleared by a success
    failing_since = models.DateTimeField("失敗が続いている起点", null=True, blank=True)
    paused_at = models.DateTimeField("一時停止日時", null=True, blank=True)
    # the page's form's one-time value (core.once): the form sent twice (a reload of the
    # page showing the secret) registers one endpoint, as the token page makes one token
    form_once = form_once_column("登録フォームの識別子")

    class Meta:
        verbose_name = "Webhookの送信先"
        verbose_name_plural = "Webhookの送信先"
        ordering = ["created_at", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(owner__isnull=False, dealer__isnull=True)
                    | models.Q(owner__isnull=True, dealer__isnull=False)
                ),
                name="webhooks_endpoint_one_holder",
            )
        ]

    def __str__(self) -> str:
        return self.url

    @property
    def is_paused(self) -> bool:
        return self.paused_at is not None

    @property
    def state_label(self) -> str:
        if self.paused_at is not None:
            return "一時停止中"
        return "有効" if self.enabled else "無効"


class Event(models.Model):
    """Something that happened to a gateway, as told to every endpoint subscribed to it; its
    ``uid`` is the ``webhook-id`` of every delivery and retry (the receiver's idempotence key)."""

    uid = models.UUIDField("イベントID", default=uuid.uuid4, unique=True, editable=False)
    type = models.CharField("種類", max_length=40)
    gateway = models.ForeignKey(
        Gateway, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    payload = models.JSONField("内容")
    created_at = models.DateTimeField("発生日時", default=timezone.now, db_index=True)

    class Meta:
        verbose_name = "Webhookのイベント"
        verbose_name_plural = "Webhookのイベント"

    def __str__(self) -> str:
        return f"{self.webhook_id} {self.type}"

    @property
    def webhook_id(self) -> str:
        return f"evt_{self.uid.hex}"


class Delivery(models.Model):
    """One event to one endpoint: the outbox row the worker claims, retries and records."""

    class State(models.TextChoices):
        PENDING = "pending", "送信待ち"
        SENDING = "sending", "送信中"
        DELIVERED = "delivered", "送信済み"
        HELD = "held", "保留(停止中の送信先)"
        # failed for ESSMON_WEBHOOK_PAUSE_AFTER_HOURS while the endpoint took other events
        FAILED = "failed", "送信失敗(再送打ち切り)"
        # the holder may no longer hear of the gateway (an unlink, a 名義変更, an account
        # ended) by the time it was due: never sent (services.may_still_hear)
        CANCELLED = "cancelled", "取りやめ(受け取れなくなったイベント)"

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="deliveries")
    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="deliveries")
    state = models.CharField(
        "状態", max_length=10, choices=State.choices, default=State.PENDING, db_index=True
    )
    attempts = models.PositiveIntegerField("試行回数", default=0)
    created_at = models.DateTimeField("作成日時", default=timezone.now, db_index=True)
    next_attempt_at = models.DateTimeField("次回送信予定", default=timezone.now, db_index=True)
    claimed_at = models.DateTimeField("送信開始日時", null=True, blank=True)
    delivered_at = models.DateTimeField("送信完了日時", null=True, blank=True)
    last_status = models.PositiveIntegerField("直近の応答コード", null=True, blank=True)
    last_error = models.CharField("直近のエラー", max_length=300, blank=True)

    class Meta:
        verbose_name = "Webhookの送信"
        verbose_name_plural = "Webhookの送信"
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["event", "endpoint"], name="webhooks_delivery_once")
        ]

    def __str__(self) -> str:
        return f"{self.event_id} → {self.endpoint_id}"


class Attempt(models.Model):
    """One HTTP request of a delivery: when, the answer's code (or the error), how long it
    took, and the first bytes of the answer (bounded; never the request, which is signed)."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="tries")
    at = models.DateTimeField("日時", default=timezone.now)
    status = models.PositiveIntegerField("応答コード", null=True, blank=True)
    error = models.CharField("エラー", max_length=300, blank=True)
    duration_ms = models.PositiveIntegerField("所要時間(ミリ秒)", default=0)
    response_snippet = models.CharField("応答の先頭", max_length=RESPONSE_SNIPPET_MAX, blank=True)

    class Meta:
        verbose_name = "Webhookの送信試行"
        verbose_name_plural = "Webhookの送信試行"
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.delivery_id} {self.at:%Y-%m-%d %H:%M:%S} {self.status or self.error}"
