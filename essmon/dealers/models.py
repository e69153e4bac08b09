"""Dealers (販売店), their maintenance staff (保守担当者), and the customers' maintenance
links (保守紐付け) with the records APPI asks for when personal data goes to a dealer."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from essmon.gateways.models import Gateway

MAX_DEALERS_PER_GATEWAY = 5
MAX_STAFF_PER_DEALER = 20


class Dealer(models.Model):
    """販売店 — an installer or retailer with its own account; customers link it by its
    販売店ID and registered phone number. The account's user is the person in charge."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="dealer",
        verbose_name="アカウント",
    )
    dealer_code = models.CharField("販売店ID", max_length=10, unique=True)
    company_name = models.CharField("販売店名", max_length=100)
    branch = models.CharField("支店・部署名", max_length=100, blank=True)
    created_at = models.DateTimeField("登録日時", default=timezone.now)

    class Meta:
        verbose_name = "販売店"
        verbose_name_plural = "販売店"

    def __str__(self) -> str:
        return f"{self.company_name} ({self.dealer_code})"


class MaintenanceStaff(models.Model):
    """保守担当者: receives anomaly mails once the address is confirmed by its link.

    The dealer's administrator (the account that registered the dealer) may also give a
    staff member a login of their own (``user``, role DEALER_STAFF) with a ``login_role``:
    one list of people for the alert mails and the logins. The login is live while
    ``user`` is set and active, ``login_ended_at`` is empty and the dealer's own account is
    active; dealers.access reads this row on every request."""

    class LoginRole(models.TextChoices):
        TECHNICIAN = "technician", "技術担当"
        VIEWER = "viewer", "閲覧のみ"

    dealer = models.ForeignKey(
        Dealer, on_delete=models.CASCADE, related_name="staff", verbose_name="販売店"
    )
    name = models.CharField("氏名", max_length=100)
    email = models.EmailField("メールアドレス")
    confirmed_at = models.DateTimeField("確認日時", null=True, blank=True)
    token_hash = models.CharField("確認トークン(ハッシュ)", max_length=64, blank=True)
    token_expires_at = models.DateTimeField("確認URLの有効期限", null=True, blank=True)
    created_at = models.DateTimeField("登録日時", default=timezone.now)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="dealer_staff",
        verbose_name="ログインアカウント",
    )
    login_role = models.CharField(
        "ログインの役割", max_length=12, choices=LoginRole.choices, blank=True
    )
    login_token = models.ForeignKey(
        "accounts.AccountToken",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="ログインの招待リンク",
    )
    login_invited_at = models.DateTimeField("ログインの招待日時", null=True, blank=True)
    login_ended_at = models.DateTimeField("ログインの停止日時", null=True, blank=True)

    class Meta:
        verbose_name = "保守担当者"
        verbose_name_plural = "保守担当者"
        constraints = [
            models.UniqueConstraint(fields=["dealer", "email"], name="dealers_staff_unique_email")
        ]

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"

    @property
    def has_login(self) -> bool:
        """A login that works now (the dealer's own account aside)."""
        return (
            self.user is not None
            and self.user.is_active
            and self.login_ended_at is None
            and bool(self.login_role)
        )

    @property
    def invitation_pending(self) -> bool:
        return (
            not self.has_login
            and self.login_token is not None
            and self.login_token.is_usable()
            and self.login_ended_at is None
        )

    @property
    def login_status(self) -> str:
        if self.has_login:
            return "ログイン利用中"
        if self.invitation_pending:
            return "招待中(未設定)"
        if self.login_ended_at is not None:
            return "ログイン停止"
        if self.login_token is not None:
            return "招待の期限切れ"
        return "ログインなし"


class DealerLink(models.Model):
    """保守紐付け — a dealer entrusted with a gateway's remote maintenance. Ended links stay
    as history (``ended_at``); at most five are active per gateway."""

    gateway = models.ForeignKey(
        Gateway, on_delete=models.CASCADE, related_name="dealer_links", verbose_name="ゲートウェイ"
    )
    dealer = models.ForeignKey(
        Dealer, on_delete=models.CASCADE, related_name="links", verbose_name="販売店"
    )
    created_at = models.DateTimeField("登録日時", default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
        verbose_name="登録した人",
    )
    ended_at = models.DateTimeField("解除日時", null=True, blank=True)
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="解除した人",
    )
    # empty: the owner unlinked; otherwise why it ended without them (名義変更)
    end_reason = models.CharField("解除の理由", max_length=20, blank=True)

    class Meta:
        verbose_name = "保守紐付け"
        verbose_name_plural = "保守紐付け"
        constraints = [
            models.UniqueConstraint(
                fields=["gateway", "dealer"],
                condition=models.Q(ended_at__isnull=True),
                name="dealers_link_one_active_per_pair",
            )
        ]

    def __str__(self) -> str:
        return f"{self.gateway_id} → {self.dealer_id}"


class ProvisionRecord(models.Model):
    """個人データの第三者提供の記録 (APPI art. 29): what was given to which dealer, when,
    on whose consent. Kept when the link ends."""

    link = models.ForeignKey(
        DealerLink, on_delete=models.PROTECT, related_name="provisions", verbose_name="保守紐付け"
    )
    customer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
        verbose_name="お客様",
    )
    dealer = models.ForeignKey(
        Dealer, on_delete=models.PROTECT, related_name="+", verbose_name="販売店"
    )
    gateway_code = models.CharField("ゲートウェイID", max_length=12)
    customer_name = models.CharField("本人の氏名", max_length=100)
    data_items = models.TextField("提供する個人データの項目")
    consented_at = models.DateTimeField("同意日時")
    consent_text = models.TextField("同意した文言")

    class Meta:
        verbose_name = "第三者提供の記録"
        verbose_name_plural = "第三者提供の記録"

    def __str__(self) -> str:
        return f"{self.gateway_code} → {self.dealer_id} ({self.consented_at:%Y-%m-%d})"


class DealerAccess(models.Model):
    """販売店様による閲覧・変更の記録 — what a dealer's people saw and changed of a
    customer's gateway, shown to the customer per gateway (docs/dealers.md).

    A view is one row per page, person and hour: opening the same page again within
    ``ACCESS_COLLAPSE_WINDOW`` of the row's first view adds to ``count`` and moves
    ``last_at``. A change is always its own row and says what changed. Who it was is
    written down when it happens (``actor_name``), so the record reads right after a
    rename or an unlink; rows go after ESSMON_DEALER_RECORD_RETENTION_DAYS."""

    class Action(models.TextChoices):
        VIEW_CUSTOMER = "view_customer", "お客様情報の閲覧"
        VIEW_LIVE = "view_live", "現在の状況の閲覧"
        VIEW_HISTORY = "view_history", "発電・消費の履歴の閲覧"
        DOWNLOAD_CSV = "download_csv", "発電・消費の履歴のCSVダウンロード"
        VIEW_SETTINGS = "view_settings", "設定画面の閲覧"
        VIEW_WARRANTY = "view_warranty", "保証画面の閲覧"
        VIEW_CERTIFICATE = "view_certificate", "保証書(PDF)の表示"
        VIEW_ALERTS = "view_alerts", "異常の履歴の閲覧"
        CHANGE_SETTINGS = "change_settings", "設定の変更"
        CHANGE_DATES = "change_dates", "系統連系日・受取日の変更"
        ACKNOWLEDGE_ALERT = "acknowledge_alert", "異常の確認"
        REPLACE_GATEWAY = "replace_gateway", "ゲートウェイの交換"

    gateway = models.ForeignKey(
        Gateway,
        on_delete=models.CASCADE,
        related_name="dealer_accesses",
        verbose_name="ゲートウェイ",
    )
    dealer = models.ForeignKey(
        Dealer, on_delete=models.CASCADE, related_name="accesses", verbose_name="販売店"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="操作した人",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    actor_name = models.CharField("操作した人(記録)", max_length=100, blank=True)
    action = models.CharField("操作", max_length=20, choices=Action.choices)
    at = models.DateTimeField("日時(最初)", default=timezone.now, db_index=True)
    last_at = models.DateTimeField("日時(最後)", default=timezone.now, db_index=True)
    count = models.PositiveIntegerField("回数", default=1)
    detail = models.TextField("内容", blank=True)

    class Meta:
        verbose_name = "販売店の操作記録"
        verbose_name_plural = "販売店の操作記録"
        ordering = ["-last_at", "-pk"]
        indexes = [
            # the customer's record page: one gateway's rows, newest first
            models.Index(fields=["gateway", "-last_at"], name="dealers_access_gw_last"),
            # the collapse: this page's open row for this person
            models.Index(
                fields=["gateway", "dealer", "action", "-at"], name="dealers_access_collapse"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.dealer_id} {self.action} {self.gateway_id}"

    @property
    def is_view(self) -> bool:
        return self.action in VIEW_ACTIONS


VIEW_ACTIONS = frozenset(
    a for a in DealerAccess.Action if a.value.startswith(("view_", "download_"))
)


MAX_VIEWERS_PER_GATEWAY = 5


class SiteViewer(models.Model):
    """見守り: a family member an owner invited to watch one site (live and history only).

    The row is the record: who invited which address when, who accepted it when, who ended
    it when. Access needs ``accepted_at`` set, ``revoked_at`` empty and the inviter still
    the gateway's owner (dealers.access), checked on every request."""

    gateway = models.ForeignKey(
        Gateway, on_delete=models.CASCADE, related_name="viewers", verbose_name="ゲートウェイ"
    )
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="viewer_invitations",
        verbose_name="招待したお客様",
    )
    email = models.EmailField("招待したメールアドレス")
    invited_at = models.DateTimeField("招待日時", default=timezone.now)
    token = models.ForeignKey(
        "accounts.AccountToken",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="招待リンク",
    )
    viewer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="watching",
        verbose_name="見守りアカウント",
    )
    accepted_at = models.DateTimeField("承諾日時", null=True, blank=True)
    revoked_at = models.DateTimeField("解除日時", null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="解除した人",
    )

    class Meta:
        verbose_name = "見守り"
        verbose_name_plural = "見守り"
        indexes = [models.Index(fields=["viewer", "revoked_at"])]

    def __str__(self) -> str:
        return f"{self.email} ({self.gateway_id})"

    @property
    def status(self) -> str:
        if self.revoked_at is not None:
            return "解除済み"
        if self.accepted_at is not None:
            return "閲覧中"
        if self.token is None or not self.token.is_usable():
            return "招待の期限切れ"
        return "招待中(未承諾)"

    @property
    def is_open(self) -> bool:
        """Pending or active: what counts towards the limit and can be revoked."""
        return self.revoked_at is None and (
            self.accepted_at is not None or (self.token is not None and self.token.is_usable())
        )
