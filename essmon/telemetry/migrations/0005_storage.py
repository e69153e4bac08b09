# Storage (issue 4): samples keyed (gateway, ts) with no surrogate id, range-partitioned by
# month on PostgreSQL; energy rollups and their watermark.
#
# Django cannot turn an existing primary key into a composite one, and nothing is deployed
# yet, so the sample table is dropped and made again. The model state is the plain
# CreateModel below; the table itself is made by create_sample_table, which on PostgreSQL
# writes the CREATE TABLE by hand because Django has no notion of PARTITION BY. The
# monthly partitions are made by the post_migrate hook (telemetry/apps.py), which calls
# essmon.telemetry.partitions.ensure_partitions after every migrate.

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models

PG_CREATE_SAMPLE = """
CREATE TABLE telemetry_sample (
    gateway_id bigint NOT NULL,
    ts timestamp with time zone NOT NULL,
    seq bigint NOT NULL,
    pv_w double precision NOT NULL,
    load_w double precision NOT NULL,
    grid_w double precision NOT NULL,
    battery_w double precision NOT NULL,
    soc_pct double precision NOT NULL,
    battery_temp_c double precision NOT NULL,
    pcs_state varchar(10) NOT NULL,
    pcs_mode varchar(20) NOT NULL,
    pv_kwh double precision NOT NULL,
    load_kwh double precision NOT NULL,
    grid_import_kwh double precision NOT NULL,
    grid_export_kwh double precision NOT NULL,
    charge_kwh double precision NOT NULL,
    discharge_kwh double precision NOT NULL,
    received_at timestamp with time zone NOT NULL,
    CONSTRAINT telemetry_sample_pkey PRIMARY KEY (gateway_id, ts),
    CONSTRAINT telemetry_sample_gateway_id_fk FOREIGN KEY (gateway_id)
        REFERENCES gateways_gateway (id) DEFERRABLE INITIALLY DEFERRED
) PARTITION BY RANGE (ts);
CREATE INDEX telemetry_sample_received_at ON telemetry_sample (received_at);
"""


def create_sample_table(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_CREATE_SAMPLE)
    else:
        schema_editor.create_model(apps.get_model("telemetry", "Sample"))


def drop_sample_table(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP TABLE telemetry_sample")  # and its partitions with it
    else:
        schema_editor.delete_model(apps.get_model("telemetry", "Sample"))


class Migration(migrations.Migration):

    dependencies = [
        ('gateways', '0002_device_secret'),
        ('telemetry', '0004_events'),
    ]

    operations = [
        migrations.DeleteModel(name='Sample'),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='Sample',
                    fields=[
                        ('pk', models.CompositePrimaryKey('gateway', 'ts', blank=True, editable=False, primary_key=True, serialize=False)),
                        ('gateway', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, to='gateways.gateway')),
                        ('ts', models.DateTimeField(verbose_name='計測日時')),
                        ('seq', models.BigIntegerField(verbose_name='シーケンス番号')),
                        ('pv_w', models.FloatField(verbose_name='太陽光発電 (W)')),
                        ('load_w', models.FloatField(verbose_name='消費 (W)')),
                        ('grid_w', models.FloatField(verbose_name='系統 (W, +買電/-売電)')),
                        ('battery_w', models.FloatField(verbose_name='蓄電池 (W, +放電/-充電)')),
                        ('soc_pct', models.FloatField(verbose_name='蓄電残量 (%)')),
                        ('battery_temp_c', models.FloatField(verbose_name='蓄電池温度 (℃)')),
                        ('pcs_state', models.CharField(max_length=10, verbose_name='パワコン状態')),
                        ('pcs_mode', models.CharField(max_length=20, verbose_name='運転モード')),
                        ('pv_kwh', models.FloatField(verbose_name='発電量累計 (kWh)')),
                        ('load_kwh', models.FloatField(verbose_name='消費量累計 (kWh)')),
                        ('grid_import_kwh', models.FloatField(verbose_name='買電量累計 (kWh)')),
                        ('grid_export_kwh', models.FloatField(verbose_name='売電量累計 (kWh)')),
                        ('charge_kwh', models.FloatField(verbose_name='充電量累計 (kWh)')),
                        ('discharge_kwh', models.FloatField(verbose_name='放電量累計 (kWh)')),
                        ('received_at', models.DateTimeField(default=django.utils.timezone.now, verbose_name='受信日時')),
                    ],
                    options={
                        'verbose_name': '計測データ',
                        'verbose_name_plural': '計測データ',
                        'indexes': [models.Index(fields=['received_at'], name='telemetry_sample_received_at')],
                    },
                ),
            ],
            database_operations=[],
        ),
        # after the state operation, so that the SQLite branch can build the table from the
        # new model state
        migrations.RunPython(create_sample_table, drop_sample_table),
        migrations.CreateModel(
            name='EnergyRollup',
            fields=[
                ('pk', models.CompositePrimaryKey('gateway', 'period', 'start', blank=True, editable=False, primary_key=True, serialize=False)),
                ('gateway', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='energy_rollups', to='gateways.gateway')),
                ('period', models.CharField(choices=[('hour', '時間'), ('day', '日'), ('month', '月')], max_length=5, verbose_name='集計単位')),
                ('start', models.DateTimeField(verbose_name='期間の開始')),
                ('pv_kwh', models.FloatField(verbose_name='発電量 (kWh)')),
                ('load_kwh', models.FloatField(verbose_name='消費量 (kWh)')),
                ('grid_import_kwh', models.FloatField(verbose_name='買電量 (kWh)')),
                ('grid_export_kwh', models.FloatField(verbose_name='売電量 (kWh)')),
                ('charge_kwh', models.FloatField(verbose_name='充電量 (kWh)')),
                ('discharge_kwh', models.FloatField(verbose_name='放電量 (kWh)')),
                ('samples', models.IntegerField(verbose_name='計測データ数')),
                ('updated_at', models.DateTimeField(verbose_name='更新日時')),
            ],
            options={
                'verbose_name': '電力量集計',
                'verbose_name_plural': '電力量集計',
            },
        ),
        migrations.CreateModel(
            name='RollupWatermark',
            fields=[
                ('name', models.CharField(max_length=40, primary_key=True, serialize=False)),
                ('received_upto', models.DateTimeField(blank=True, null=True, verbose_name='処理済みの受信日時')),
                ('running_until', models.DateTimeField(blank=True, null=True, verbose_name='実行中(期限)')),
            ],
            options={
                'verbose_name': '集計の進捗',
                'verbose_name_plural': '集計の進捗',
            },
        ),
    ]
