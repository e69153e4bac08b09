"""The sample table's monthly partitions on PostgreSQL, and the retention of raw samples.

Partition ``telemetry_sample_pYYYYMM`` holds the samples whose ``ts`` falls in that UTC
calendar month. ``ensure_partitions`` makes them from the oldest month kept up to
``settings.SAMPLE_PARTITIONS_AHEAD`` months ahead; ``drop_expired_partitions`` drops the
months wholly older than ``settings.RAW_RETENTION_MONTHS``. The ingest refuses samples
older than ``oldest_accepted_ts()``, so no insert ever needs a partition that is missing.

SQLite has the same table without partitions: there ``ensure_partitions`` does nothing and
``drop_expired_partitions`` deletes the expired rows instead. The statements below the
"PostgreSQL" line are PostgreSQL's alone (its catalogs, partitions and advisory locks), so
they stay here rather than in ``essmon.telemetry.sql``, which holds what both databases do
in different words.

Both jobs may run in several processes at once: they take one advisory lock, skip what
exists, and bound every wait for a table lock so that they never hold up the ingest for
more than a few seconds (see docs/architecture.md, "Storage").
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, OperationalError, connections, transaction
from django.utils import timezone

from essmon.telemetry.sql import is_postgresql

logger = logging.getLogger(__name__)

PARENT = "telemetry_sample"
PARTITION_NAME = re.compile(r"^telemetry_sample_p(\d{4})(\d{2})$")
# Any fixed number will do; every process maintaining partitions must use the same one.
ADVISORY_LOCK_KEY = 0x6573736D6F6E7031  # b"essmonp1"
ADVISORY_LOCK_WAIT_SECONDS = 30.0
# Making or dropping a partition needs a lock on the parent table that queues behind the
# ingest's inserts and holds back the inserts that come after it; past this it gives up
# and the next hourly run tries again.
DDL_LOCK_TIMEOUT = "3s"
# DETACH ... CONCURRENTLY blocks nobody while it waits for older transactions to finish.
DETACH_LOCK_TIMEOUT = "60s"


class PartitionMaintenanceError(RuntimeError):
    """Some partitions could not be made or dropped this time (the table stayed busy)."""


def month_start(moment: datetime) -> datetime:
    """The start of ``moment``'s UTC calendar month."""
    return moment.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def add_months(start: datetime, months: int) -> datetime:
    """``start`` (the first of a month) moved by whole months."""
    index = start.year * 12 + start.month - 1 + months
    return start.replace(year=index // 12, month=index % 12 + 1)


def oldest_accepted_ts(now: datetime | None = None) -> datetime:
    """The start of the oldest month of raw samples kept: anything older is dropped, so the
    ingest must refuse it. With the default 24 months, on 2026-11-24 this is 2024-11-01
    00:00 UTC: raw data spans the 24 whole months before the current one, plus that one."""
    return add_months(month_start(now or timezone.now()), -settings.RAW_RETENTION_MONTHS)


def partition_name(start: datetime) -> str:
    return f"{PARENT}_p{start:%Y%m}"


def ensure_partitions(now: datetime | None = None, *, using: str = DEFAULT_DB_ALIAS) -> list[str]:
    """Make the monthly partitions from the oldest month kept to SAMPLE_PARTITIONS_AHEAD months
    past the current one; returns the names made (none when they all exist, and on SQLite)."""
    connection = connections[using]
    if not is_postgresql(connection):
        return []
    now = now or timezone.now()
    first = oldest_accepted_ts(now)
    count = settings.RAW_RETENTION_MONTHS + 1 + settings.SAMPLE_PARTITIONS_AHEAD
    months = [add_months(first, n) for n in range(count)]
    return _under_lock(
        connection,
        lambda cursor: _create_missing(cursor, connection, months, using=using),
        verb="made",
    )


def drop_expired_partitions(
    now: datetime | None = None, *, using: str = DEFAULT_DB_ALIAS
) -> list[str]:
    """Drop the partitions wholly older than RAW_RETENTION_MONTHS (the rollups made from them
    stay); returns their names. On SQLite, delete the samples older than
    ``oldest_accepted_ts(now)`` instead, and return an empty list."""
    connection = connections[using]
    keep_from = oldest_accepted_ts(now)
    if not is_postgresql(connection):
        from essmon.telemetry.models import Sample

        deleted, _ = Sample.objects.using(using).filter(ts__lt=keep_from).delete()
        if deleted:
            logger.info("deleted %d samples older than %s", deleted, keep_from.isoformat())
        return []
    return _under_lock(
        connection,
        lambda cursor: _drop_older(cursor, connection, keep_from, using=using),
        verb="dropped",
    )


def _under_lock(connection, work, *, verb: str) -> list[str]:
    """Run ``work(cursor) -> (done, busy)`` holding the maintenance lock (a no-op when
    another process holds it, or the table is not partitioned); log and report busy ones."""
    done: list[str] = []
    busy: list[str] = []
    with connection.cursor() as cursor:
        if not _is_partitioned(cursor):
            return []
        with _maintenance_lock(cursor) as locked:
            if locked:
                done, busy = work(cursor)
    if done:
        logger.info("sample partitions %s: %s", verb, ", ".join(done))
    if busy:
        raise PartitionMaintenanceError(f"sample table busy, not {verb} yet: {', '.join(busy)}")
    return done


def maintain_partitions() -> dict[str, list[str]]:
    """The hourly job: make the months ahead, then drop the expired ones; a busy table in
    the first step does not keep the second from running."""
    try:
        made = ensure_partitions()
    except PartitionMaintenanceError:
        drop_expired_partitions()
        raise
    return {"made": made, "dropped": drop_expired_partitions()}


# --- PostgreSQL -------------------------------------------------------------------------


@contextmanager
def _maintenance_lock(cursor) -> Iterator[bool]:
    """A session-level advisory lock, so that two processes never make or drop the same
    partition at once. Session level because DETACH ... CONCURRENTLY has to run outside a
    transaction. Yields False if another process kept it for ADVISORY_LOCK_WAIT_SECONDS."""
    deadline = time.monotonic() + ADVISORY_LOCK_WAIT_SECONDS
    while True:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [ADVISORY_LOCK_KEY])
        if cursor.fetchone()[0]:
            break
        if time.monotonic() > deadline:
            logger.warning("partition maintenance skipped: another process holds the lock")
            yield False
            return
        time.sleep(0.1)
    try:
        yield True
    finally:
        cursor.execute("SELECT pg_advisory_unlock(%s)", [ADVISORY_LOCK_KEY])


def _is_partitioned(cursor) -> bool:
    # False before the storage migration and after migrating back past it
    cursor.execute("SELECT 1 FROM pg_partitioned_table WHERE partrelid = to_regclass(%s)", [PARENT])
    return cursor.fetchone() is not None


def _partitions(cursor, *, include_detached: bool = False) -> list[tuple[str, str]]:
    """(name, state) of the parent's partitions, state "attached" or "detaching" (a DETACH
    CONCURRENTLY that was interrupted); with include_detached also our partition-named
    tables that are no longer attached (a drop interrupted after its detach)."""
    cursor.execute(
        "SELECT c.relname, CASE WHEN i.inhdetachpending THEN 'detaching' ELSE 'attached' END"
        " FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = to_regclass(%s)",
        [PARENT],
    )
    found = list(cursor.fetchall())
    if include_detached:
        cursor.execute(
            "SELECT c.relname, 'detached' FROM pg_class c"
            " WHERE c.relkind = 'r' AND c.relnamespace = current_schema()::regnamespace"
            " AND c.relname LIKE %s"
            " AND NOT EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = c.oid)",
            [PARENT.replace("_", r"\_") + r"\_p%"],
        )
        found += cursor.fetchall()
    return found


def _month_of(name: str) -> datetime | None:
    match = PARTITION_NAME.match(name)
    if not match or not 1 <= int(match[2]) <= 12:
        return None
    return datetime(int(match[1]), int(match[2]), 1, tzinfo=UTC)


def _create_missing(
    cursor, connection, months: list[datetime], *, using: str
) -> tuple[list[str], list[str]]:
    """(made, busy): the missing partitions among ``months``, each in its own transaction so
    that one busy month does not undo the others."""
    created: list[str] = []
    busy: list[str] = []
    existing = {name for name, _ in _partitions(cursor)}
    for start in months:
        name = partition_name(start)
        if name in existing:
            continue
        try:
            with transaction.atomic(using=using):
                _create_partition(cursor, connection, name, start, add_months(start, 1))
        except OperationalError as exc:
            if not _is_lock_timeout(exc):
                raise
            busy.append(name)
            continue
        created.append(name)
    return created, busy


def _drop_older(
    cursor, connection, keep_from: datetime, *, using: str
) -> tuple[list[str], list[str]]:
    """(dropped, busy): our partitions, attached or not, of the months before ``keep_from``."""
    dropped: list[str] = []
    busy: list[str] = []
    for name, state in sorted(_partitions(cursor, include_detached=True)):
        month = _month_of(name)
        if month is None or month >= keep_from:
            continue
        try:
            _drop_partition(cursor, connection, name, state, using=using)
        except OperationalError as exc:
            if not _is_lock_timeout(exc):
                raise
            busy.append(name)
            continue
        dropped.append(name)
    return dropped, busy


def _create_partition(cursor, connection, name: str, start: datetime, end: datetime) -> None:
    """CREATE TABLE ... PARTITION OF would lock the parent ACCESS EXCLUSIVE, stopping every
    insert; ATTACH PARTITION takes only SHARE UPDATE EXCLUSIVE, which inserts pass. A CHECK
    constraint matching the bounds spares ATTACH its scan; it is redundant afterwards."""
    quote = connection.ops.quote_name
    table, parent, check = quote(name), quote(PARENT), quote(f"{name}_bounds")
    lo, hi = start.isoformat(), end.isoformat()  # our own datetimes, not user input
    cursor.execute(f"SET LOCAL lock_timeout = '{DDL_LOCK_TIMEOUT}'")
    cursor.execute(f"CREATE TABLE IF NOT EXISTS {table} (LIKE {parent} INCLUDING DEFAULTS)")
    cursor.execute(f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {check}")
    cursor.execute(
        f"ALTER TABLE {table} ADD CONSTRAINT {check} CHECK (ts >= '{lo}' AND ts < '{hi}')"
    )
    cursor.execute(
        f"ALTER TABLE {parent} ATTACH PARTITION {table} FOR VALUES FROM ('{lo}') TO ('{hi}')"
    )
    cursor.execute(f"ALTER TABLE {table} DROP CONSTRAINT {check}")


def _drop_partition(cursor, connection, name: str, state: str, *, using: str) -> None:
    """Detach without stopping the ingest where possible, then drop the detached table.

    DETACH ... CONCURRENTLY cannot run inside a transaction; inside one (the tests, a caller's
    atomic block) the partition is dropped directly, which locks the parent ACCESS EXCLUSIVE
    for a moment, bounded by DDL_LOCK_TIMEOUT."""
    quote = connection.ops.quote_name
    table, parent = quote(name), quote(PARENT)
    if state != "detached" and not connection.in_atomic_block:
        cursor.execute(f"SET lock_timeout = '{DETACH_LOCK_TIMEOUT}'")
        try:
            how = "FINALIZE" if state == "detaching" else "CONCURRENTLY"
            cursor.execute(f"ALTER TABLE {parent} DETACH PARTITION {table} {how}")
        finally:
            cursor.execute("RESET lock_timeout")
    with transaction.atomic(using=using):
        cursor.execute(f"SET LOCAL lock_timeout = '{DDL_LOCK_TIMEOUT}'")
        cursor.execute(f"DROP TABLE IF EXISTS {table}")


def _is_lock_timeout(exc: OperationalError) -> bool:
    return getattr(exc.__cause__, "sqlstate", None) == "55P03"  # lock_not_available
