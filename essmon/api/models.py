"""Personal access tokens (アクセストークン) of the public API v1 (docs/api.md)."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import models
from django.utils import timezone

from essmon.core.once import form_once_column


class AccessToken(models.Model):
    """A token its user made to call the public API with their own rights, evaluated on
    every request through dealers.access (docs/api.md, "Tokens").

    Only the SHA-256 digest of the secret is kept: the secret is 256 random bits, so a
    plain fast digest cannot be guessed back, and looking it up by digest needs no loop
    over candidates as a salted hash would. ``prefix`` is the token's first characters,
    shown on the list so that its owner can tell one token from another."""

    class Scope(models.TextChoices):
        READ = "read", "読み取り"
        SETTINGS = "settings", "設定の変更"
        ALERTS = "alerts", "異常の確認"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="access_tokens",
        verbose_name="利用者",
    )
    name = models.CharField("名前", max_length=100)
    prefix = models.CharField("先頭の文字", max_length=24)
    digest = models.CharField("ハッシュ値", max_length=64, unique=True)
    scopes = models.JSONField("権限", default=list)
    created_at = models.DateTimeField("発行日時", default=timezone.now)
    expires_at = models.DateTimeField("有効期限", null=True, blank=True)
    last_used_at = models.DateTimeField("最終利用日時", null=True, blank=True)
    revoked_at = models.DateTimeField("削除日時", null=True, blank=True)
    # the page's form's one-time value (core.once): the same form sent twice (a reload)
    # makes one token, and the second answer says so instead of making another
    form_once = form_once_column("発行フォームの識別子")

    class Meta:
        verbose_name = "アクセストークン"
        verbose_name_plural = "アクセストークン"
        indexes = [models.Index(fields=["user", "revoked_at"], name="api_token_user_live")]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def labels(self) -> list[str]:
        """The scopes in the page's words."""
        return [self.Scope(scope).label for scope in self.scopes if scope in self.Scope.values]

    def is_usable(self, now: datetime | None = None) -> bool:
        moment = now or timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > moment)


class IdempotentRequest(models.Model):
    """A setting change asked for with an ``Idempotency-Key`` header, kept for
    ``IDEMPOTENCY_WINDOW`` so that the same request sent again (a client that lost the
    answer and retries) is answered with the changes the first one made, not with new
    ones (docs/api.md, "Idempotency"). Per user: two people's keys never meet."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name="利用者",
    )
    key = models.CharField("キー", max_length=255)
    # what was asked (the operation, the gateway and the body): the same key with another
    # request is the client's mistake, refused, never answered with the first one's result
    fingerprint = models.CharField("要求のSHA-256", max_length=64)
    command_ids = models.JSONField("作成した遠隔設定", default=list)
    created_at = models.DateTimeField("日時", default=timezone.now)

    class Meta:
        verbose_name = "再送の確認"
        verbose_name_plural = "再送の確認"
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="api_idempotency_user_key")
        ]
        indexes = [models.Index(fields=["created_at"], name="api_idempotency_created")]

    def __str__(self) -> str:
        return f"{self.user_id} {self.key}"
