"""Telemetry from the gateways: one row per sample, keyed (gateway, ts), the energy rollups
made from them, and the latest state per gateway. See docs/gateway-protocol.md for the
fields' units and ranges, and docs/architecture.md ("Storage") for partitions and rollups."""

from django.db import models
from django.utils import timezone

from essmon.gateways.models import Gateway


class Sample(models.Model):
    # On PostgreSQL the table was created by hand (migration 0005_storage) as partitioned;
    # later AddField/AlterField migrations still work, as ALTER TABLE reaches every
    # partition. The partitions themselves are telemetry.partitions' business.
    #
    # The protocol's identity of a sample, so a repeat is a duplicate, never a second row.
    # No surrogate id: on PostgreSQL the table is partitioned by ts, and a partitioned
    # table's primary key must contain the partition key.
    pk = models.CompositePrimaryKey("gateway", "ts")
    # the primary key's index already starts with gateway_id
    gateway = models.ForeignKey(
        Gateway, on_delete=models.CASCADE, db_index=False, verbose_name="ゲートウェイ"
    )
    ts = models.DateTimeField("計測日時")
    seq = models.BigIntegerField("シーケンス番号")
    pv_w = models.FloatField("太陽光発電 (W)")
    load_w = models.FloatField("消費 (W)")
    grid_w = models.FloatField("系統 (W, +買電/-売電)")
    battery_w = models.FloatField("蓄電池 (W, +放電/-充電)")
    soc_pct = models.FloatField("蓄電残量 (%)")
    battery_temp_c = models.FloatField("蓄電池温度 (℃)")
    pcs_state = models.CharField("パワコン状態", max_length=10)
    pcs_mode = models.CharField("運転モード", max_length=20)
    pv_kwh = models.FloatField("発電量累計 (kWh)")
    load_kwh = models.FloatField("消費量累計 (kWh)")
    grid_import_kwh = models.FloatField("買電量累計 (kWh)")
    grid_export_kwh = models.FloatField("売電量累計 (kWh)")
    charge_kwh = models.FloatField("充電量累計 (kWh)")
    discharge_kwh = models.FloatField("放電量累計 (kWh)")
    received_at = models.DateTimeField("受信日時", default=timezone.now)

    class Meta:
        verbose_name = "計測データ"
        verbose_name_plural = "計測データ"
        indexes = [
            # the rollup job finds what arrived since its last run by received_at
            models.Index(fields=["received_at"], name="telemetry_sample_received_at")
        ]

    def __str__(self) -> str:
        return f"{self.gateway_id} {self.ts:%Y-%m-%d %H:%M:%S}"


class EnergyRollup(models.Model):
    """Energy per counter over one hour, day or month, made from the samples by
    ``rollups.rollup_energy`` and kept after the raw samples are dropped. Days and months are
    Japanese calendar days and months (Asia/Tokyo); ``start`` is stored in UTC as usual."""

    class Period(models.TextChoices):
        HOUR = "hour", "時間"
        DAY = "day", "日"
        MONTH = "month", "月"

    # the rollups are read by gateway, period and time range, which is this key's order
    pk = models.CompositePrimaryKey("gateway", "period", "start")
    gateway = models.ForeignKey(
        Gateway,
        on_delete=models.CASCADE,
        db_index=False,
        related_name="energy_rollups",
        verbose_name="ゲートウェイ",
    )
    period = models.CharField("集計単位", max_length=5, choices=Period.choices)
    start = models.DateTimeField("期間の開始")
    pv_kwh = models.FloatField("発電量 (kWh)")
    load_kwh = models.FloatField("消費量 (kWh)")
    grid_import_kwh = models.FloatField("買電量 (kWh)")
    grid_export_kwh = models.FloatField("売電量 (kWh)")
    charge_kwh = models.FloatField("充電量 (kWh)")
    discharge_kwh = models.FloatField("放電量 (kWh)")
    samples = models.IntegerField("計測データ数")
    # Pairs of samples overlapping the period whose counters were impossible (went down or
    # grew beyond the rating): energy filled in from the powers (補完), or, across a gap
    # too long for that, left out (欠測). See CounterDiscontinuity.
    filled = models.IntegerField("補完した区間", default=0, db_default=0)
    missing = models.IntegerField("欠測の区間", default=0, db_default=0)
    updated_at = models.DateTimeField("更新日時")

    class Meta:
        verbose_name = "電力量集計"
        verbose_name_plural = "電力量集計"

    def __str__(self) -> str:
        return f"{self.gateway_id} {self.period} {self.start:%Y-%m-%d %H:%M}"


class Counter(models.TextChoices):
    """The six energy counters of a sample, and their names on the screens."""

    PV = "pv_kwh", "発電量"
    LOAD = "load_kwh", "消費量"
    GRID_IMPORT = "grid_import_kwh", "買電量"
    GRID_EXPORT = "grid_export_kwh", "売電量"
    CHARGE = "charge_kwh", "充電量"
    DISCHARGE = "discharge_kwh", "放電量"


# The counters' field names, in the protocol's order: the one list the service uses
# (rollups, the monitoring pages, the data export, the ingest's bounds).
COUNTERS: tuple[str, ...] = tuple(Counter.values)


class CounterDiscontinuity(models.Model):
    """A pair of consecutive samples across which one counter was impossible: it went down
    (the device was reset or replaced) or grew by more than the system's rating allows in
    the time between them. The energy rollup used ``used_kwh`` for the pair instead of the
    counter's ``reported_kwh``: the powers' energy (補完), or nothing across a gap too long
    to fill (欠測). Written by ``rollups.rollup_energy``, once per pair and counter."""

    class Kind(models.TextChoices):
        RESET = "reset", "減少(リセット・交換)"
        JUMP = "jump", "定格を超える増加"
        GAP = "gap", "欠測(長い空白)"

    gateway = models.ForeignKey(
        Gateway,
        on_delete=models.CASCADE,
        related_name="counter_discontinuities",
        verbose_name="ゲートウェイ",
    )
    from_ts = models.DateTimeField("区間の開始(前の計測)")
    to_ts = models.DateTimeField("区間の終了(後の計測)")
    counter = models.CharField("累計値", max_length=20, choices=Counter.choices)
    kind = models.CharField("種別", max_length=5, choices=Kind.choices)
    reported_kwh = models.FloatField("累計値の差 (kWh)")
    used_kwh = models.FloatField("集計に使った電力量 (kWh)")
    detected_at = models.DateTimeField("検出日時")
    # Set by every rollup run that finds it again; one that recomputes its hours and does
    # not (a late sample filled the gap) deletes it.
    checked_at = models.DateTimeField("最終確認日時")

    class Meta:
        verbose_name = "累計値の不連続"
        verbose_name_plural = "累計値の不連続"
        ordering = ["-to_ts"]
        constraints = [
            models.UniqueConstraint(
                fields=["gateway", "to_ts", "counter"], name="telemetry_discontinuity_identity"
            )
        ]

    def __str__(self) -> str:
        return f"{self.gateway_id} {self.counter} {self.to_ts:%Y-%m-%d %H:%M:%S}"


class RollupWatermark(models.Model):
    """How far a rollup has read the samples (by ``received_at``), and a lease so that two
    runs never interleave: a slower run would otherwise overwrite a newer result."""

    name = models.CharField("名前", max_length=40, primary_key=True)
    received_upto = models.DateTimeField("処理済みの受信日時", null=True, blank=True)
    running_until = models.DateTimeField("実行中(期限)", null=True, blank=True)

    class Meta:
        verbose_name = "集計の進捗"
        verbose_name_plural = "集計の進捗"

    def __str__(self) -> str:
        return f"{self.name} @ {self.received_upto}"


class GatewayEvent(models.Model):
    """A fault or notice the gateway reported, as it started or cleared."""

    class Severity(models.TextChoices):
        INFO = "info", "情報"
        MINOR = "minor", "軽故障"
        MAJOR = "major", "重故障"
        CRITICAL = "critical", "緊急"

    class State(models.TextChoices):
        START = "start", "発生"
        CLEAR = "clear", "復旧"

    gateway = models.ForeignKey(
        Gateway, on_delete=models.CASCADE, related_name="events", verbose_name="ゲートウェイ"
    )
    ts = models.DateTimeField("発生日時")
    code = models.CharField("コード", max_length=16)
    severity = models.CharField("重要度", max_length=10, choices=Severity.choices)
    state = models.CharField("状態", max_length=5, choices=State.choices)
    received_at = models.DateTimeField("受信日時", default=timezone.now)

    class Meta:
        verbose_name = "イベント"
        verbose_name_plural = "イベント"
        ordering = ["-ts"]
        constraints = [
            models.UniqueConstraint(
                fields=["gateway", "ts", "code", "state"], name="telemetry_event_identity"
            )
        ]
        indexes = [
            # the alert check reads what arrived lately, by the server's clock
            models.Index(fields=["received_at"], name="telemetry_event_received_at")
        ]

    def __str__(self) -> str:
        return f"{self.gateway_id} {self.code} {self.state} {self.ts:%Y-%m-%d %H:%M}"


class ConnectivityInterval(models.Model):
    """A stretch of time a gateway was connected: from the first message after a silence to
    the last message before the next one. The warranty rule and the alerts read these."""

    gateway = models.ForeignKey(
        Gateway, on_delete=models.CASCADE, related_name="connectivity", verbose_name="ゲートウェイ"
    )
    online_from = models.DateTimeField("接続開始")
    online_until = models.DateTimeField("接続終了", null=True, blank=True)

    class Meta:
        verbose_name = "接続履歴"
        verbose_name_plural = "接続履歴"
        ordering = ["-online_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["gateway"],
                condition=models.Q(online_until__isnull=True),
                name="telemetry_one_open_interval_per_gateway",
            )
        ]

    def __str__(self) -> str:
        return f"{self.gateway_id} {self.online_from:%Y-%m-%d %H:%M} - {self.online_until or ''}"


class GatewayLiveState(models.Model):
    """What the service last heard from a gateway (for online/offline and the live view)."""

    gateway = models.OneToOneField(
        Gateway,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="live",
        verbose_name="ゲートウェイ",
    )
    last_seen_at = models.DateTimeField("最終受信日時")
    last_sample_ts = models.DateTimeField("最新計測日時", null=True, blank=True)
    last_seq = models.BigIntegerField("最新シーケンス番号", null=True, blank=True)
    latest = models.JSONField("最新値", default=dict, blank=True)
    firmware = models.CharField("ファームウェア", max_length=40, blank=True)
    settings_in_force = models.JSONField("現在の設定", default=dict, blank=True)
    status_ts = models.DateTimeField("状態の報告日時", null=True, blank=True)
    # The broker published the gateway's last will and nothing was heard since: offline at
    # once (protocol section 4), not only after the silence threshold.
    connection_lost = models.BooleanField("接続断", default=False, db_default=False)
    # How it was last heard from, so that commands go out the way it listens: an MQTT
    # gateway is never polled, an HTTPS one never subscribed (protocol section 2.5).
    transport = models.CharField(
        "通信方式",
        max_length=5,
        blank=True,
        default="",
        db_default="",
        choices=[("https", "HTTPS"), ("mqtt", "MQTT")],
    )

    class Meta:
        verbose_name = "ゲートウェイの最新状態"
        verbose_name_plural = "ゲートウェイの最新状態"

    def __str__(self) -> str:
        return f"{self.gateway_id} @ {self.last_seen_at}"
