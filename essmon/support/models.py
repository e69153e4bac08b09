from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class SupportAction(models.Model):
    """What an operator did at the support desk or the provisioning console: who, when,
    to which account or gateway, why, and how it ended. Kept as history: the account or
    gateway may go later (退会, a replacement's new ID) and the row stays."""

    class Action(models.TextChoices):
        RESEND_PROVISIONAL = "resend_provisional", "仮登録メールの再送"
        RELEASE_HOLD = "release_hold", "仮登録中のゲートウェイの解除"
        UNLOCK = "unlock", "アカウントのロック解除"
        REPLACE_GATEWAY = "replace_gateway", "ゲートウェイの交換(故障交換)"
        PROVISION = "provision", "製造登録(新規発行)"
        IMPORT = "import", "工場リストの取り込み"
        PRINT_SHEETS = "print_sheets", "登録用紙の印刷"

    class Outcome(models.TextChoices):
        DONE = "done", "実施"
        REFUSED = "refused", "実施できず"

    at = models.DateTimeField("日時", default=timezone.now, db_index=True)
    operator = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
        verbose_name="操作した運営者",
    )
    # the operator's name and role at the time, so the record reads right after a change
    operator_name = models.CharField("操作した運営者(記録)", max_length=200)
    action = models.CharField("操作", max_length=24, choices=Action.choices)
    target_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="support_actions",
        verbose_name="対象のアカウント",
    )
    target_gateway = models.ForeignKey(
        "gateways.Gateway",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="support_actions",
        verbose_name="対象のゲートウェイ",
    )
    # the gateway ID or batch at the time (an ID changes with a replacement); never a
    # person's data, which must go with a 退会
    target_label = models.CharField("対象(記録)", max_length=100, blank=True)
    reason = models.TextField("理由")
    outcome = models.CharField("結果", max_length=10, choices=Outcome.choices)
    detail = models.CharField("詳細", max_length=500, blank=True)

    class Meta:
        verbose_name = "サポートデスクの操作記録"
        verbose_name_plural = "サポートデスクの操作記録"
        ordering = ["-at", "-pk"]

    def __str__(self) -> str:
        return f"{self.get_action_display()} ({self.operator_name})"
