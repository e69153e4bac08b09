"""名義変更: one site (案件) and its gateways passed from one owner to another
(docs/transfers.md). The row is the record: who started it when (and why, for an operator),
until when its code holds, who claimed it when, or who cancelled it when."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import models
from django.utils import timezone

from essmon.gateways.models import Gateway, Site


class OwnershipTransfer(models.Model):
    class StartedAs(models.TextChoices):
        OWNER = "owner", "お客様(譲渡する方)"
        OPERATOR = "operator", "運営者"

    site = models.ForeignKey(
        Site,
        on_delete=models.SET_NULL,
        null=True,
        related_name="transfers",
        verbose_name="設置先(案件)",
    )
    # 案件名 at the start, so the record reads right after a rename or the site's removal
    site_name = models.CharField("案件名(記録)", max_length=100)
    from_owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="transfers_given",
        verbose_name="譲渡する方",
    )
    to_owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="transfers_received",
        verbose_name="譲り受けた方",
    )
    # SHA-256 of the code as typed without its hyphens: the code itself is shown once
    code_hash = models.CharField("名義変更コード(ハッシュ)", max_length=64, unique=True)
    started_at = models.DateTimeField("開始日時", default=timezone.now)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
        verbose_name="開始した人",
    )
    started_as = models.CharField("開始した立場", max_length=10, choices=StartedAs.choices)
    reason = models.TextField("理由(運営者が開始したとき)", blank=True)
    expires_at = models.DateTimeField("コードの有効期限")
    claimed_at = models.DateTimeField("受け取り日時(名義変更日時)", null=True, blank=True)
    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="受け取った人",
    )
    cancelled_at = models.DateTimeField("取り消し日時", null=True, blank=True)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="取り消した人",
    )
    cancel_reason = models.CharField("取り消しの理由", max_length=200, blank=True)

    class Meta:
        verbose_name = "名義変更"
        verbose_name_plural = "名義変更"
        ordering = ["-started_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.site_name} ({self.started_at:%Y-%m-%d})"

    def is_open(self, now: datetime | None = None) -> bool:
        """Neither claimed nor cancelled, and its code not expired."""
        now = now or timezone.now()
        return self.claimed_at is None and self.cancelled_at is None and self.expires_at > now

    @property
    def status(self) -> str:
        if self.claimed_at is not None:
            return "名義変更済み"
        if self.cancelled_at is not None:
            return "取り消し済み"
        if self.expires_at <= timezone.now():
            return "期限切れ"
        return "受け取り待ち"


class TransferredGateway(models.Model):
    """One gateway of a transfer, with the seller's own floor, so that the seller's data
    export can give the seller's period alone (from ``previous_since`` to the claim)."""

    transfer = models.ForeignKey(
        OwnershipTransfer,
        on_delete=models.CASCADE,
        related_name="gateways",
        verbose_name="名義変更",
    )
    gateway = models.ForeignKey(
        Gateway,
        on_delete=models.CASCADE,
        related_name="transfers",
        verbose_name="ゲートウェイ",
    )
    gateway_code = models.CharField("ゲートウェイID(記録)", max_length=12)
    previous_since = models.DateTimeField("譲渡した方の所有開始日時", null=True, blank=True)

    class Meta:
        verbose_name = "名義変更のゲートウェイ"
        verbose_name_plural = "名義変更のゲートウェイ"

    def __str__(self) -> str:
        return self.gateway_code


class TransferRegistration(models.Model):
    """A buyer without an account registered from a transfer code: the claim waits for the
    account's activation (本登録), which makes it in the same transaction. The row is the
    proof the code was verified; the code itself is nowhere."""

    transfer = models.ForeignKey(
        OwnershipTransfer,
        on_delete=models.CASCADE,
        related_name="registrations",
        verbose_name="名義変更",
    )
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="transfer_registration",
        verbose_name="仮登録のアカウント",
    )
    registered_at = models.DateTimeField("仮登録日時", default=timezone.now)

    class Meta:
        verbose_name = "名義変更からの仮登録"
        verbose_name_plural = "名義変更からの仮登録"

    def __str__(self) -> str:
        return f"{self.transfer} ← {self.user_id}"
