from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from essmon.core.japanese import compose_address


class Site(models.Model):
    """案件 — the installation site of a storage system, named by the customer."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="sites",
        verbose_name="お客様",
    )
    name = models.CharField("案件名", max_length=100)
    postal_code = models.CharField("郵便番号", max_length=7)
    prefecture = models.CharField("都道府県", max_length=4)
    # blank only in rows from before it was asked (their city may be in address_rest)
    city = models.CharField("市町村区", max_length=100, blank=True)
    address_rest = models.CharField("それ以降の住所", max_length=200)
    created_at = models.DateTimeField("登録日時", default=timezone.now)

    class Meta:
        verbose_name = "設置先(案件)"
        verbose_name_plural = "設置先(案件)"

    def __str__(self) -> str:
        return self.name

    @property
    def address(self) -> str:
        """設置先住所 as one line (都道府県 + 市町村区 + それ以降の住所), without 〒."""
        return compose_address(self.prefecture, self.city, self.address_rest)


class ProvisioningBatch(models.Model):
    """One provisioning run (``provision-gateways``, ``import-gateways`` or the operators'
    console): when, by whom, what, and its gateways (``Gateway.batch``), whose sheets are
    printed from it."""

    class Source(models.TextChoices):
        PROVISIONED = "provisioned", "製造登録(新規発行)"
        IMPORTED = "imported", "工場リストの取り込み"

    created_at = models.DateTimeField("作成日時", default=timezone.now)
    source = models.CharField("種別", max_length=16, choices=Source.choices)
    # the command and the OS user, or the console; ``created_by`` when an account did it
    origin = models.CharField("実行元", max_length=200)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="作成者",
    )
    model = models.CharField("形式", max_length=32)
    part_number = models.CharField("品番", max_length=32, blank=True)
    count = models.PositiveIntegerField("台数")

    class Meta:
        verbose_name = "製造登録バッチ"
        verbose_name_plural = "製造登録バッチ"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"#{self.pk} {self.model} × {self.count}"


class Gateway(models.Model):
    """A network gateway provisioned at the factory; its sheet carries ID and password."""

    class State(models.TextChoices):
        UNCLAIMED = "unclaimed", "未登録"
        HELD = "held", "仮登録中"
        CLAIMED = "claimed", "登録済み"

    gateway_id = models.CharField("ゲートウェイID", max_length=12, unique=True)
    model = models.CharField("形式", max_length=32, default="KP-GWBT-A")
    part_number = models.CharField("品番", max_length=32, blank=True)
    password_hash = models.CharField("ゲートウェイパスワード(ハッシュ)", max_length=200)
    device_secret_hash = models.CharField(
        "デバイスシークレット(ハッシュ)",
        max_length=200,
        blank=True,
        help_text="ゲートウェイが通信で名乗るための秘密情報(デバイスシークレット)のハッシュ。ゲートウェイ通信仕様を参照",
    )
    state = models.CharField(
        "状態", max_length=16, choices=State.choices, default=State.UNCLAIMED, db_index=True
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="gateways",
        verbose_name="所有者",
    )
    site = models.ForeignKey(
        Site,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="gateways",
        verbose_name="設置先(案件)",
    )
    provisioned_at = models.DateTimeField("製造登録日時", default=timezone.now)
    held_at = models.DateTimeField("仮登録日時", null=True, blank=True)
    # A registration typed an address that already has an account: the gateway is held
    # without an owner, exactly as long as a new address's would be, and only that
    # account may claim it meanwhile (see accounts.services.registration).
    reserved_for = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="仮押さえ先",
    )
    claimed_at = models.DateTimeField("本登録日時", null=True, blank=True)
    # 名義変更 (docs/transfers.md): since when the current owner owns it. The owner (and the
    # owner's viewers) see nothing older; empty: the first owner, who sees all of it.
    owner_since = models.DateTimeField("現在の所有者の所有開始日時", null=True, blank=True)
    batch = models.ForeignKey(
        ProvisioningBatch,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="gateways",
        verbose_name="製造登録バッチ",
    )
    # The sheet's password, kept only for printing the sheet (gateways.services.sheets):
    # sealed with a key from the secret key, and emptied when the gateway is claimed.
    sheet_password_sealed = models.TextField(
        "印刷用パスワード(暗号化、本登録まで)", blank=True, editable=False
    )
    sheet_printed_at = models.DateTimeField("用紙の最終印刷日時", null=True, blank=True)

    class Meta:
        verbose_name = "ゲートウェイ"
        verbose_name_plural = "ゲートウェイ"
        ordering = ["gateway_id"]

    def __str__(self) -> str:
        return self.gateway_id


class GatewayReplacement(models.Model):
    """故障交換: a failed gateway replaced by a new provisioned one. The registry row goes
    on (its site, history, settings, alerts, warranty and dealer links with it) and takes
    the new unit's identity; this row keeps what it was before, and who did it, why."""

    gateway = models.ForeignKey(
        Gateway,
        on_delete=models.CASCADE,
        related_name="replacements",
        verbose_name="ゲートウェイ",
    )
    old_gateway_id = models.CharField("交換前のゲートウェイID", max_length=12, db_index=True)
    new_gateway_id = models.CharField("交換後のゲートウェイID", max_length=12)
    old_model = models.CharField("交換前の形式", max_length=32, blank=True)
    replaced_at = models.DateTimeField("交換日時", default=timezone.now)
    replaced_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="操作した人",
    )
    # the name and role at the time, so the history reads right after a rename or 退会
    replaced_by_name = models.CharField("操作した人(記録)", max_length=200, blank=True)
    reason = models.TextField("理由", blank=True)

    class Meta:
        verbose_name = "ゲートウェイの交換"
        verbose_name_plural = "ゲートウェイの交換"
        ordering = ["-replaced_at"]

    def __str__(self) -> str:
        return f"{self.old_gateway_id} → {self.new_gateway_id}"
