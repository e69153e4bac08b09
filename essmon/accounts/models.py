from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from essmon.core.japanese import compose_address


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **fields) -> User:
        user = self.model(email=email, **fields)
        user.set_password(password) if password else user.set_unusable_password()
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **fields) -> User:
        fields.setdefault("role", User.Role.OPERATOR)
        fields.update(is_staff=True, is_superuser=True, is_active=True)
        fields.setdefault("activated_at", timezone.now())
        return self.create_user(email, password, **fields)


class User(AbstractBaseUser, PermissionsMixin):
    """An account. The user ID is the mail address, compared exactly as typed (the product's rule:
    IDs are case-sensitive); uniqueness ignores case so that two accounts never differ
    only by the case of their address."""

    class Role(models.TextChoices):
        CUSTOMER = "customer", "お客様"
        DEALER = "dealer", "販売店"
        # the manufacturer's staff: 管理担当 (administration: the admin, provisioning,
        # terms, and everything support does) and サポート担当 (support: the desk only,
        # essmon.support; every gateway's monitoring pages read-only, no admin)
        OPERATOR = "operator", "運営者(管理担当)"
        SUPPORT = "support", "運営者(サポート担当)"
        # a family member invited by an owner to watch one site: live and history only
        VIEWER = "viewer", "見守り"
        # a dealer's maintenance staff member with a login of their own (dealers.MaintenanceStaff
        # says which dealer and which role; dealers.access reads it on every request)
        DEALER_STAFF = "dealer_staff", "販売店スタッフ"

    email = models.EmailField("メールアドレス", max_length=254, unique=True)
    role = models.CharField("種別", max_length=16, choices=Role.choices, default=Role.CUSTOMER)
    name = models.CharField("氏名", max_length=100)
    furigana = models.CharField("フリガナ", max_length=100, blank=True)
    postal_code = models.CharField("郵便番号", max_length=7, blank=True)
    prefecture = models.CharField("都道府県", max_length=4, blank=True)
    city = models.CharField("市町村区", max_length=100, blank=True)
    address_rest = models.CharField("それ以降の住所", max_length=200, blank=True)
    phone = models.CharField(
        "電話番号",
        max_length=20,
        blank=True,
        help_text="国際形式(E.164)で保存します。例: +819012345678",
    )
    company_name = models.CharField("法人名", max_length=100, blank=True)
    department = models.CharField("部署名", max_length=100, blank=True)

    is_active = models.BooleanField("有効", default=False)
    is_staff = models.BooleanField("管理サイト利用", default=False)
    date_joined = models.DateTimeField("仮登録日時", default=timezone.now)
    activated_at = models.DateTimeField("本登録日時", null=True, blank=True)
    failed_logins = models.PositiveIntegerField("連続ログイン失敗回数", default=0)
    locked_at = models.DateTimeField("ロック日時", null=True, blank=True)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["name"]

    class Meta:
        verbose_name = "アカウント"
        verbose_name_plural = "アカウント"
        constraints = [
            models.UniqueConstraint(Lower("email"), name="accounts_user_email_ci_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"

    @property
    def address(self) -> str:
        """住所 as one line (都道府県 + 市町村区 + それ以降の住所), without 〒."""
        return compose_address(self.prefecture, self.city, self.address_rest)

    @property
    def is_provisional(self) -> bool:
        return self.activated_at is None

    @property
    def is_locked(self) -> bool:
        """Locked by failed logins; the lock lifts by itself after ESSMON_LOGIN_LOCK_HOURS,
        as the lock of an ID without an account does (accounts.services.login._locked)."""
        if self.locked_at is None:
            return False
        return self.locked_at > timezone.now() - timedelta(hours=settings.LOGIN_LOCK_HOURS)

    def get_full_name(self) -> str:
        return self.name

    def get_short_name(self) -> str:
        return self.name


class TermsInForceError(Exception):
    """A version in force (or announced by mail) was about to change: what people agreed to,
    or were told of, must stay what it was."""


class TermsVersion(models.Model):
    """利用規約 and プライバシーポリシー — one row per published version of one document
    (``kind``) for one audience; acceptances point at the version read. Customers and dealers
    each have their own (``audience``): a dealer, who is given customers' personal data,
    agrees to how it must handle it. The version in force is the newest whose
    ``effective_at`` has passed; from then on, or once announced by mail (``announced_at``),
    the row does not change (``save`` refuses)."""

    class Audience(models.TextChoices):
        CUSTOMER = "customer", "お客様"
        DEALER = "dealer", "販売店様"

    class Kind(models.TextChoices):
        TERMS = "terms", "利用規約"
        PRIVACY = "privacy", "プライバシーポリシー"

    audience = models.CharField(
        "対象", max_length=10, choices=Audience.choices, default=Audience.CUSTOMER
    )
    kind = models.CharField("種類", max_length=10, choices=Kind.choices, default=Kind.TERMS)
    version = models.CharField("版", max_length=20)
    title = models.CharField("表題", max_length=200)
    body = models.TextField("本文")
    privacy_purpose = models.TextField("個人情報の利用目的", blank=True)
    changes = models.TextField(
        "主な変更点", blank=True, help_text="改定の同意画面で、本文の前にお示しします。"
    )
    effective_at = models.DateTimeField(
        "施行日時",
        help_text="この日時から、ログイン中の方も含め、次の操作の前に同意をお願いします。"
        "施行後、またはお知らせメールの送信後は変更できません。",
    )
    announced_at = models.DateTimeField(
        "お知らせメール送信日時", null=True, blank=True, editable=False
    )

    class Meta:
        verbose_name = "利用規約"
        verbose_name_plural = "利用規約"
        ordering = ["-effective_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["audience", "kind", "version"], name="accounts_terms_version"
            )
        ]

    def __str__(self) -> str:
        return f"{self.title} ({self.version})"

    def save(self, *args, **kwargs) -> None:
        # the stored row decides, not the edited one: moving effective_at later does not
        # reopen a version people may already have agreed to
        if self.pk is not None and (
            TermsVersion.objects.filter(pk=self.pk)
            .filter(
                models.Q(effective_at__lte=timezone.now()) | models.Q(announced_at__isnull=False)
            )
            .exists()
        ):
            raise TermsInForceError(
                f"terms {self.pk} are in force or announced: they cannot change"
            )
        super().save(*args, **kwargs)

    @property
    def in_force(self) -> bool:
        return self.effective_at <= timezone.now()

    @property
    def fixed(self) -> bool:
        """In force, or announced: no longer to be edited or deleted."""
        return self.in_force or self.announced_at is not None


class TermsAcceptance(models.Model):
    class Context(models.TextChoices):
        REGISTRATION = "registration", "お客様情報の登録"
        ACTIVATION = "activation", "本登録"
        RENEWAL = "renewal", "改定への同意"
        TRANSFER = "transfer", "名義変更の受け取り"

    user = models.ForeignKey(
        User, on_delete=models.CASCADE, related_name="terms_acceptances", verbose_name="アカウント"
    )
    terms = models.ForeignKey(TermsVersion, on_delete=models.PROTECT, verbose_name="利用規約")
    context = models.CharField("同意した画面", max_length=20, choices=Context.choices)
    accepted_at = models.DateTimeField("同意日時", default=timezone.now)
    client_address = models.GenericIPAddressField("接続元のIPアドレス", null=True, blank=True)

    class Meta:
        verbose_name = "利用規約への同意"
        verbose_name_plural = "利用規約への同意"
        indexes = [models.Index(fields=["user", "terms"])]

    def __str__(self) -> str:
        return f"{self.user_id}: {self.terms.version} ({self.context})"


class AccountToken(models.Model):
    """A single-use link sent by mail. Only the SHA-256 of the token is stored."""

    class Purpose(models.TextChoices):
        ACTIVATION = "activation", "本登録"
        EMAIL_CHANGE = "email_change", "メールアドレス変更"
        UNLOCK = "unlock", "ロック解除"
        # ``user`` is the inviting owner, ``new_email`` the invited address
        VIEWER_INVITATION = "viewer_invitation", "見守りの招待"
        # ``user`` is the dealer's administrator, ``new_email`` the staff member's address
        STAFF_INVITATION = "staff_invitation", "販売店スタッフのログインの招待"

    user = models.ForeignKey(
        User, on_delete=models.CASCADE, related_name="tokens", verbose_name="アカウント"
    )
    purpose = models.CharField("用途", max_length=20, choices=Purpose.choices)
    token_hash = models.CharField("トークン(ハッシュ)", max_length=64, unique=True)
    created_at = models.DateTimeField("作成日時", default=timezone.now)
    expires_at = models.DateTimeField("有効期限")
    used_at = models.DateTimeField("使用日時", null=True, blank=True)
    voided_at = models.DateTimeField("無効にした日時", null=True, blank=True)
    failures = models.PositiveIntegerField("電話番号の誤り回数", default=0)
    new_email = models.EmailField("新しいメールアドレス", blank=True)

    class Meta:
        verbose_name = "メール認証リンク"
        verbose_name_plural = "メール認証リンク"
        indexes = [models.Index(fields=["purpose", "expires_at"])]

    def __str__(self) -> str:
        return f"{self.get_purpose_display()} ({self.user_id})"

    def is_usable(self) -> bool:
        return self.used_at is None and self.voided_at is None and self.expires_at > timezone.now()
