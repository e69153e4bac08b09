"""Sample storage: keyed (gateway, ts); on PostgreSQL a table range-partitioned by month
with partitions made ahead and old months dropped whole; on SQLite the same table without
partitions, where the retention deletes rows. The rollups outlive the raw samples."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from essmon.core.scheduler import JOBS
from essmon.telemetry import partitions as partitions_module
from essmon.telemetry.models import EnergyRollup, Sample
from essmon.telemetry.partitions import (
    PartitionMaintenanceError,
    add_months,
    drop_expired_partitions,
    ensure_partitions,
    month_start,
    oldest_accepted_ts,
    partition_name,
)
from essmon.telemetry.rollups import rollup_energy
from tests import factories

postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="partitions exist on PostgreSQL only"
)
sqlite_only = pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's retention")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def put(gw, ts: datetime, pv: float = 0.0) -> None:
    Sample.objects.create(
        gateway=gw,
        ts=ts,
        seq=1,
        pv_w=0,
        load_w=0,
        grid_w=0,
        battery_w=0,
        soc_pct=50,
        battery_temp_c=25,
        pcs_state="running",
        pcs_mode="economy",
        pv_kwh=pv,
        load_kwh=0,
        grid_import_kwh=0,
        grid_export_kwh=0,
        charge_kwh=0,
        discharge_kwh=0,
    )


def partitions() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = 'telemetry_sample'::regclass"
        )
        return {name for (name,) in cursor.fetchall()}


def partition_of(gw, ts: datetime) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tableoid::regclass::text FROM telemetry_sample WHERE gateway_id = %s AND ts = %s",
            [gw.pk, ts],
        )
        return cursor.fetchone()[0]


def months(first: datetime, last: datetime) -> list[str]:
    names, month = [], month_start(first)
    while month <= last:
        names.append(partition_name(month))
        month = add_months(month, 1)
    return names


# --- both databases --------------------------------------------------------------------


@pytest.mark.django_db
def test_a_sample_is_keyed_by_gateway_and_timestamp():
    gw = factories.gateway()
    ts = timezone.now().replace(microsecond=0)
    put(gw, ts, pv=1.0)
    assert Sample.objects.get(pk=(gw.pk, ts)).pv_kwh == 1.0
    assert Sample._meta.pk.columns == ("gateway_id", "ts")
    with pytest.raises(IntegrityError), transaction.atomic():
        put(gw, ts, pv=2.0)
    Sample.objects.bulk_create(
        [Sample(**{**Sample.objects.values().get(), "pv_kwh": 3.0})], ignore_conflicts=True
    )
    assert Sample.objects.get().pv_kwh == 1.0  # a repeat is ignored


@pytest.mark.django_db
def test_deleting_a_gateway_deletes_its_samples_and_rollups():
    gw, other = factories.gateway(), factories.gateway()
    now = timezone.now().replace(microsecond=0)
    for g in (gw, other):
        put(g, now - timedelta(hours=1), 0.0)
        put(g, now, 1.0)
    rollup_energy()
    gw.delete()
    assert not Sample.objects.filter(gateway_id=gw.pk).exists()
    assert not EnergyRollup.objects.filter(gateway_id=gw.pk).exists()
    assert Sample.objects.filter(gateway=other).count() == 2


@pytest.mark.parametrize(
    ("now", "retention", "oldest"),
    [
        (utc(2026, 11, 24, 10), 24, utc(2024, 11, 1)),
        (utc(2026, 11, 1), 24, utc(2024, 11, 1)),
        (utc(2026, 11, 30, 23, 59), 1, utc(2026, 10, 1)),
        (utc(2026, 1, 15), 13, utc(2024, 12, 1)),
        # 1 November 00:30 in Japan is still October in UTC, the partitions' calendar
        (datetime.fromisoformat("2026-11-01T00:30+09:00"), 24, utc(2024, 10, 1)),
    ],
)
def test_the_oldest_accepted_timestamp_is_the_start_of_the_oldest_month_kept(
    settings, now, retention, oldest
):
    settings.RAW_RETENTION_MONTHS = retention
    assert oldest_accepted_ts(now) == oldest


def test_the_jobs_are_scheduled():
    jobs = {job.name: job for job in JOBS}
    assert jobs["maintain-partitions"].interval == timedelta(hours=1)
    assert jobs["rollup-energy"].interval == timedelta(minutes=1)
    assert callable(jobs["maintain-partitions"].func) and callable(jobs["rollup-energy"].func)


# --- SQLite ----------------------------------------------------------------------------


@sqlite_only
@pytest.mark.django_db
def test_sqlite_retention_deletes_old_rows_and_keeps_the_rollups(settings):
    settings.RAW_RETENTION_MONTHS = 2
    now = utc(2026, 11, 24, 10)
    gw = factories.gateway()
    put(gw, utc(2026, 8, 31, 23), 0.0)
    put(gw, utc(2026, 9, 1, 1), 2.0)  # 1 kWh each side of 1 September 00:00 UTC
    put(gw, utc(2026, 11, 24, 9), 3.0)
    rollup_energy()
    months_before = list(EnergyRollup.objects.filter(period="month").values_list("pv_kwh"))
    assert ensure_partitions(now) == []
    assert drop_expired_partitions(now) == []
    assert list(Sample.objects.order_by("ts").values_list("ts", flat=True)) == [
        utc(2026, 9, 1, 1),
        utc(2026, 11, 24, 9),
    ]
    rollup_energy()  # nothing new: the rollups of the deleted rows stay as they were
    assert list(EnergyRollup.objects.filter(period="month").values_list("pv_kwh")) == (
        months_before
    )


# --- PostgreSQL ------------------------------------------------------------------------


@postgresql_only
@pytest.mark.django_db
def test_the_sample_table_is_range_partitioned_by_ts():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT p.partstrat, a.attname FROM pg_partitioned_table p"
            " JOIN pg_attribute a ON a.attrelid = p.partrelid AND a.attnum = p.partattrs[0]"
            " WHERE p.partrelid = 'telemetry_sample'::regclass"
        )
        assert cursor.fetchall() == [("r", "ts")]


@postgresql_only
@pytest.mark.django_db
def test_migrating_made_the_partitions_from_the_oldest_month_to_three_ahead():
    """Made by the post_migrate hook when the test database was created."""
    now = timezone.now()
    expected = months(oldest_accepted_ts(now), add_months(month_start(now), 3))
    assert len(expected) == 24 + 1 + 3
    assert set(expected) <= partitions()
    assert ensure_partitions(now) == []  # nothing left to make


@postgresql_only
@pytest.mark.django_db
def test_ensure_partitions_follows_the_settings(settings):
    settings.RAW_RETENTION_MONTHS = 2
    settings.SAMPLE_PARTITIONS_AHEAD = 5
    now = utc(2031, 6, 15)
    made = ensure_partitions(now)
    assert made == months(utc(2031, 4, 1), utc(2031, 11, 1))
    assert set(made) <= partitions()
    assert ensure_partitions(now) == []


@postgresql_only
@pytest.mark.django_db
def test_a_sample_goes_into_its_months_partition():
    gw = factories.gateway()
    now = timezone.now()
    ahead = add_months(month_start(now), 3) + timedelta(days=27, hours=23)
    for ts in (now, ahead, oldest_accepted_ts(now)):
        put(gw, ts)
        assert partition_of(gw, ts) == partition_name(month_start(ts))
    assert Sample.objects.filter(gateway=gw).count() == 3


@postgresql_only
@pytest.mark.django_db
def test_a_sample_for_a_month_without_partition_is_refused_by_the_database():
    """Why the ingest must refuse samples older than oldest_accepted_ts()."""
    gw = factories.gateway()
    with pytest.raises(IntegrityError, match="no partition"), transaction.atomic():
        put(gw, add_months(oldest_accepted_ts(), -1))


@postgresql_only
@pytest.mark.django_db
def test_dropping_expired_partitions_drops_whole_old_months_and_keeps_the_rollups(settings):
    # Years in the past, so that the partitions of the real calendar are younger than any
    # month dropped here.
    settings.RAW_RETENTION_MONTHS = 2
    gw = factories.gateway()
    ensure_partitions(utc(2011, 3, 15))  # 2011-01 to 2011-06
    put(gw, utc(2011, 1, 31, 23), 0.0)
    put(gw, utc(2011, 2, 1, 1), 2.0)
    put(gw, utc(2011, 3, 31, 23), 3.0)
    rollup_energy()
    rollups = set(EnergyRollup.objects.values_list("period", "start", "pv_kwh"))
    # The inserts' deferred foreign key checks would otherwise still be pending on the
    # tables to drop; the job never runs in a transaction that inserted samples.
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    # in May 2011 the oldest month kept is March: January and February go, whole
    dropped = drop_expired_partitions(utc(2011, 5, 1))
    assert dropped == ["telemetry_sample_p201101", "telemetry_sample_p201102"]
    assert {"telemetry_sample_p201101", "telemetry_sample_p201102"}.isdisjoint(partitions())
    assert {"telemetry_sample_p201103", "telemetry_sample_p201104"} <= partitions()
    assert list(Sample.objects.values_list("ts", flat=True)) == [utc(2011, 3, 31, 23)]
    assert set(EnergyRollup.objects.values_list("period", "start", "pv_kwh")) == rollups
    assert drop_expired_partitions(utc(2011, 5, 1)) == []
    # the partitions of the real calendar, made at migration, are years younger
    assert set(months(oldest_accepted_ts(), timezone.now())) <= partitions()


def _drop_tables(names: list[str]) -> None:
    with connection.cursor() as cursor:
        for name in names:
            cursor.execute(f"DROP TABLE IF EXISTS {connection.ops.quote_name(name)}")


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_two_processes_making_partitions_at_once_make_each_once():
    now = utc(2041, 6, 15)
    expected = months(oldest_accepted_ts(now), utc(2041, 9, 1))
    results: list[list[str]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def make() -> None:
        try:
            start.wait()
            results.append(ensure_partitions(now))
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=make) for _ in range(2)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert errors == []
        assert sorted(results[0] + results[1]) == expected  # each made once, by either
        assert set(expected) <= partitions()
    finally:
        _drop_tables(expected)


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_expired_partitions_are_detached_concurrently(settings):
    settings.RAW_RETENTION_MONTHS = 1
    made = ensure_partitions(utc(2012, 2, 15))  # 2012-01 to 2012-05
    try:
        gw = factories.gateway()
        put(gw, utc(2012, 1, 10))
        put(gw, utc(2012, 3, 10))
        with connection.cursor() as cursor:
            cursor.execute(
                "ALTER TABLE telemetry_sample DETACH PARTITION telemetry_sample_p201202 CONCURRENTLY"
            )
        # ... as a run stopped between detaching and dropping leaves it
        assert drop_expired_partitions(utc(2012, 4, 1)) == [
            "telemetry_sample_p201201",
            "telemetry_sample_p201202",
        ]
        with connection.cursor() as cursor:
            cursor.execute("SELECT to_regclass('telemetry_sample_p201202')")
            assert cursor.fetchone() == (None,)
        assert list(Sample.objects.values_list("ts", flat=True)) == [utc(2012, 3, 10)]
    finally:
        _drop_tables(made)


class _HoldsTheTable(threading.Thread):
    """Another connection with an open transaction on the sample table, until released."""

    def __init__(self, sql: str) -> None:
        super().__init__()
        self.sql, self.holding, self.release = sql, threading.Event(), threading.Event()

    def run(self) -> None:
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(self.sql)
                self.holding.set()
                self.release.wait(30)
                transaction.set_rollback(True)
        finally:
            connection.close()


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_making_a_partition_does_not_wait_for_an_ingest_in_progress(settings):
    settings.RAW_RETENTION_MONTHS = settings.SAMPLE_PARTITIONS_AHEAD = 1
    gw = factories.gateway()
    now = timezone.now().replace(microsecond=0)
    ingest = _HoldsTheTable(
        "INSERT INTO telemetry_sample SELECT * FROM (VALUES"
        f" ({gw.pk}, '{now.isoformat()}'::timestamptz, 1, 0.0, 0.0, 0.0, 0.0, 50.0, 25.0,"
        " 'running', 'economy', 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, now())) v"
    )
    ingest.start()
    made: list[str] = []
    try:
        assert ingest.holding.wait(10)
        started = time.monotonic()
        made = ensure_partitions(utc(2043, 6, 15))  # 2043-05 to 2043-07
        assert time.monotonic() - started < 2
        assert made == months(utc(2043, 5, 1), utc(2043, 7, 1))
    finally:
        ingest.release.set()
        ingest.join(30)
        _drop_tables(made)


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_a_busy_table_is_left_for_the_next_run_quickly(settings, monkeypatch):
    settings.RAW_RETENTION_MONTHS = settings.SAMPLE_PARTITIONS_AHEAD = 1
    monkeypatch.setattr(partitions_module, "DDL_LOCK_TIMEOUT", "200ms")
    # e.g. a long VACUUM or index build on the parent, which ATTACH PARTITION waits for
    busy = _HoldsTheTable("LOCK TABLE telemetry_sample IN SHARE MODE")
    busy.start()
    try:
        assert busy.holding.wait(10)
        started = time.monotonic()
        with pytest.raises(PartitionMaintenanceError, match="telemetry_sample_p204405"):
            ensure_partitions(utc(2044, 6, 15))
        assert time.monotonic() - started < 3
    finally:
        busy.release.set()
        busy.join(30)
    expected = months(utc(2044, 5, 1), utc(2044, 7, 1))
    try:
        assert ensure_partitions(utc(2044, 6, 15)) == expected  # the next run makes them
    finally:
        _drop_tables(expected)
