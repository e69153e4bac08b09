from django.db import models
from django.utils import timezone

# Each mail kind (its template under notifications/mail/) as operators read it in the admin.
MAIL_KINDS = {
    "account_locked": "アカウントのロック",
    "account_withdrawn": "退会の完了",
    "alert_opened": "異常発生のお知らせ",
    "alert_recovered": "異常の復旧のお知らせ",
    "dealer_customer_withdrew": "お客様の退会による保守紐付けの終了(販売店様)",
    "dealer_link_ended_transfer": "名義変更による保守紐付けの終了(販売店様)",
    "dealer_linked": "保守紐付け登録のお知らせ(販売店様)",
    "dealer_provisional_registration": "販売店様の仮登録",
    "dealer_unlinked": "保守紐付け解除のお知らせ(販売店様)",
    "email_change_confirm": "メールアドレス変更の確認",
    "email_change_conflict": "メールアドレス変更(使用中のアドレス)",
    "email_changed_notice": "メールアドレス変更の通知(変更前のアドレス)",
    "gateway_replaced": "ゲートウェイ交換のお知らせ",
    "password_reset": "パスワードの再設定",
    "provisional_registration": "お客様の仮登録",
    "registration_existing_account": "登録済みアドレスへの再申し込み",
    "staff_confirm": "保守担当者のメールアドレス確認",
    "staff_login_accepted": "販売店スタッフのログインの設定完了(販売店様)",
    "staff_login_invitation": "販売店スタッフのログインへのご招待",
    "terms_announcement": "利用規約改定のお知らせ",
    "transfer_cancelled": "名義変更の取り消し",
    "transfer_completed_buyer": "名義変更の受け取りの完了(譲り受けた方)",
    "transfer_completed_seller": "名義変更の完了(譲った方)",
    "transfer_started": "名義変更の開始",
    "viewer_accepted": "見守りの開始のお知らせ(お客様)",
    "viewer_invitation": "見守りへのご招待",
    "warranty_offline_customer": "延長保証の警告(お客様)",
    "warranty_offline_dealer": "延長保証の警告(販売店様)",
    "webhook_paused": "Webhookの送信先の一時停止",
}


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

    @property
    def kind_label(self) -> str:
        return MAIL_KINDS.get(self.kind, self.kind)
