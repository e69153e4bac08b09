"""The telemetry statements that PostgreSQL and SQLite spell differently, in one place.

The feature modules (``ingest``, ``connectivity``, ``rollups``, ``partitions``) write the SQL
both databases share and call these functions where the two differ, so a change to a
statement's vendor-specific part is made here once (docs/architecture.md, "Storage"):

- batch inserts: PostgreSQL gets samples by binary COPY (straight into the sample table,
  or through a stage when some may be stored already) and other rows as one array per
  column through ``unnest`` (a thousand-row batch is a handful of parameters, not one per
  value); SQLite gets VALUES lists of at most ``SQLITE_ROWS`` rows;
- the rollups' date arithmetic and placeholder casts (``Dialect``);
- PostgreSQL's JIT turned off for statements whose plans it misjudges.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import connection, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.utils import CursorWrapper

from essmon.core.replicas import current_read_alias
from essmon.telemetry.models import ConnectivityInterval, GatewayLiveState, Sample

# rows per INSERT ... VALUES statement on SQLite, well under its limit of parameters
SQLITE_ROWS = 500


def is_postgresql(db: BaseDatabaseWrapper | None = None) -> bool:
    """Whether the connection (the default one unless given) is to PostgreSQL; otherwise
    it is SQLite, the only other database essmon runs on."""
    return (db or connection).vendor == "postgresql"


@contextmanager
def cursor_without_jit() -> Iterator[CursorWrapper]:
    """A cursor in a transaction in which PostgreSQL does not JIT-compile: the planner cannot
    tell how few rows a VALUES list of gateways or a correlated subquery touches, expects
    thousands of times more, and then spends a second compiling a plan that runs in
    milliseconds (docs/performance.md). On the database reads go to now: a read replica
    within ``reading_replica()`` (essmon/core/replicas.py)."""
    alias = current_read_alias()
    with transaction.atomic(using=alias), connections[alias].cursor() as cursor:
        if is_postgresql(connections[alias]):
            cursor.execute("SET LOCAL jit = off")
        yield cursor


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# --- ingest -----------------------------------------------------------------------------


# PostgreSQL's type for a value of the Python type: array elements and COPY columns
_PG_TYPE: dict[type, str] = {
    int: "bigint",
    float: "float8",
    str: "text",
    datetime: "timestamptz",
}
# The batch's rows go to this temporary table by binary COPY, then into the sample table
# in one INSERT ... SELECT that empties it. Temporary: one per session, so workers never
# share it (ON COMMIT DELETE ROWS lets no dead row outlive a transaction: nothing vacuums
# a temporary table). Made in every batch (IF NOT EXISTS): a batch rolled back takes the
# table it made with it, and a pooler may hand over another session.
SAMPLE_STAGE = "essmon_sample_stage"


def copy_samples(
    columns: Sequence[str],
    kinds: Sequence[type],
    rows: list[tuple[Any, ...]],
    *,
    received_at: datetime,
) -> None:
    """PostgreSQL: the rows (values of ``columns`` but the last, which is ``received_at``
    for all; ``kinds`` their Python types) by binary COPY straight into the sample table:
    the cheapest way in, for both sides. COPY has no ON CONFLICT, so a sample stored
    already (a resend, or the same one twice in ``rows``) fails it with IntegrityError, as
    does a gateway removed meanwhile; the caller then rolls back and takes
    ``insert_samples``. ``rows`` are sorted by (gateway, ts) first, so that concurrent
    batches take their index locks in one order."""
    if not rows:
        return
    rows.sort()
    types = [*(_PG_TYPE[kind] for kind in kinds), _PG_TYPE[datetime]]
    table = connection.ops.quote_name(Sample._meta.db_table)
    with (
        connection.wrap_database_errors,  # psycopg's errors as Django's, as execute() does
        connection.cursor() as cursor,
        cursor.cursor.copy(
            f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)"
        ) as copy,
    ):
        copy.set_types(types)
        write = copy.write_row
        for row in rows:
            write((*row, received_at))


def insert_samples(
    columns: Sequence[str],
    kinds: Sequence[type],
    rows: list[tuple[Any, ...]],
    *,
    received_at: datetime,
) -> set[tuple[int, datetime]] | None:
    """INSERT the rows (as ``copy_samples`` takes them; the first two values the gateway id
    and ts, an aware datetime) ON CONFLICT DO NOTHING. Returns None when every row was new,
    else the (gateway id, ts) keys of the rows that were. A copy stored by a concurrent
    request meanwhile is a duplicate, not an error losing the rest of the batch. Call it
    inside a transaction."""
    if not rows:
        return None
    table = connection.ops.quote_name(Sample._meta.db_table)
    insert = f"INSERT INTO {table} ({', '.join(columns)})"
    conflict = " ON CONFLICT (gateway_id, ts) DO NOTHING RETURNING gateway_id, ts"
    inserted: set[tuple[int, datetime]] = set()
    if is_postgresql():
        types = [_PG_TYPE[k] for k in kinds]
        with connection.cursor() as cursor:
            # Binary COPY into a stage and one INSERT ... SELECT: no value is rendered as
            # text or parsed back by the server, and the statements are the same text for
            # every batch (docs/performance.md).
            values = columns[:-1]
            cursor.execute(
                f"CREATE TEMPORARY TABLE IF NOT EXISTS {SAMPLE_STAGE}"
                f" ({', '.join(f'{c} {t}' for c, t in zip(values, types, strict=True))})"
                " ON COMMIT DELETE ROWS"
            )
            copy_sql = f"COPY {SAMPLE_STAGE} ({', '.join(values)}) FROM STDIN (FORMAT BINARY)"
            with cursor.cursor.copy(copy_sql) as copy:
                copy.set_types(types)
                for row in rows:
                    copy.write_row(row)
            # the stage is emptied as it is read: a transaction may hold several batches;
            # in (gateway, ts) order, so concurrent batches take their locks in one order
            cursor.execute(
                f"WITH staged AS (DELETE FROM {SAMPLE_STAGE} RETURNING *)"
                f" {insert} SELECT {', '.join(values)}, %s FROM staged"
                f" ORDER BY gateway_id, ts{conflict}",
                [received_at],
            )
            if cursor.rowcount == len(rows):
                return None
            inserted.update(cursor.fetchall())
            return inserted
    adapt = connection.ops.adapt_datetimefield_value
    placeholders = "(" + ", ".join(["%s"] * len(columns)) + ")"
    with connection.cursor() as cursor:
        for chunk in _chunks(rows, SQLITE_ROWS):
            params: list[Any] = []
            for gateway_id, ts, *values in chunk:
                params += [gateway_id, adapt(ts), *values, adapt(received_at)]
            cursor.execute(
                f"{insert} VALUES {', '.join([placeholders] * len(chunk))}{conflict}", params
            )
            inserted.update((gateway_id, _as_datetime(ts)) for gateway_id, ts in cursor.fetchall())
    return None if len(inserted) == len(rows) else inserted


def _as_datetime(value: object) -> datetime:
    # SQLite hands back the stored UTC time, naive, as text or (by its column type) a datetime
    parsed = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# --- live states and connectivity intervals ---------------------------------------------


# Opening connectivity intervals: the partial unique index admits one open interval per
# gateway, so one already online keeps its own (open_intervals, touch_live_states).
_OPEN_INTERVALS = f'INSERT INTO "{ConnectivityInterval._meta.db_table}" (gateway_id, online_from)'
_OPEN_CONFLICT = (
    " ON CONFLICT (gateway_id) WHERE online_until IS NULL DO NOTHING RETURNING gateway_id"
)


def touch_live_states(
    rows: Sequence[tuple[int, Any, int | None, str]],
    *,
    seen: Any,
    silent_before: Any,
    transport: str | None = None,
) -> tuple[dict[int, datetime], list[int]]:
    """Each (gateway id, sample ts, seq, latest values as JSON text) gateway is seen at
    ``seen`` (adapted, as ``silent_before``), and its latest values move to the row's where
    those are newer than what its live state holds (a row with ts None has none); rows in
    gateway order. With ``transport``, each is noted as heard over it (as
    ``note_transport`` would).

    Returns the gateways whose live state had them silent since ``silent_before`` (id →
    last seen, as it was before), and those of the others for which a connectivity
    interval was opened from ``seen`` (``open_intervals``: they had none open). The
    silent ones get none here: their caller closes the interval the silence left open
    first. On PostgreSQL this is one statement; its parts see the live states as they
    were before it, and take their locks in the order of the separate statements."""
    if not rows:
        return {}, []
    live = connection.ops.quote_name(GatewayLiveState._meta.db_table)
    newer = (
        f"excluded.last_sample_ts IS NOT NULL AND ({live}.last_sample_ts IS NULL"
        f" OR excluded.last_sample_ts > {live}.last_sample_ts)"
    )
    upsert = (
        f" ON CONFLICT (gateway_id) DO UPDATE SET"
        f" last_seen_at = CASE WHEN excluded.last_seen_at > {live}.last_seen_at"
        f" THEN excluded.last_seen_at ELSE {live}.last_seen_at END,"
        f" last_sample_ts = CASE WHEN {newer} THEN excluded.last_sample_ts"
        f" ELSE {live}.last_sample_ts END,"
        f" last_seq = CASE WHEN {newer} THEN excluded.last_seq ELSE {live}.last_seq END,"
        f" latest = CASE WHEN {newer} THEN excluded.latest ELSE {live}.latest END,"
        # heard after its last will: connected again
        f" connection_lost = CASE WHEN excluded.last_seen_at > {live}.last_seen_at"
        f" THEN FALSE ELSE {live}.connection_lost END"
        + (", transport = excluded.transport" if transport else "")
    )
    insert = (
        f"INSERT INTO {live} (gateway_id, last_seen_at, last_sample_ts, last_seq, latest,"
        f" firmware, settings_in_force, transport)"
    )
    silent_sql = (
        f"SELECT gateway_id, last_seen_at FROM {live} WHERE last_seen_at <= %s AND gateway_id"
    )
    ids = [row[0] for row in rows]
    with connection.cursor() as cursor:
        if is_postgresql():
            # arrays, not one placeholder per value: see insert_samples
            _, timestamps, seqs, latest = (list(c) for c in zip(*rows, strict=True))
            cursor.execute(
                f"WITH silent AS ({silent_sql} = ANY(%s::bigint[])),"
                f" upserted AS ({insert} SELECT g, %s, t, s, l::jsonb, '', '{{}}'::jsonb, %s"
                f" FROM unnest(%s::bigint[], %s::timestamptz[], %s::bigint[], %s::text[])"
                f" AS u(g, t, s, l){upsert}),"
                f" opened AS ({_OPEN_INTERVALS}"
                " SELECT g, %s FROM unnest(%s::bigint[]) AS u(g)"
                f" WHERE g NOT IN (SELECT gateway_id FROM silent){_OPEN_CONFLICT})"
                # the silent ones with their last_seen_at (never NULL), then the opened
                " SELECT gateway_id, last_seen_at FROM silent"
                " UNION ALL SELECT gateway_id, NULL FROM opened",
                [
                    *(silent_before, ids),
                    *(seen, transport or "", ids, timestamps, seqs, latest),
                    *(seen, ids),
                ],
            )
            found = cursor.fetchall()
            silent = {gateway_id: last_seen for gateway_id, last_seen in found if last_seen}
            return silent, [gateway_id for gateway_id, last_seen in found if not last_seen]
        silent = {}
        for chunk in _chunks(ids, SQLITE_ROWS):
            cursor.execute(
                f"{silent_sql} IN ({', '.join(['%s'] * len(chunk))})", [silent_before, *chunk]
            )
            silent.update((g, _as_datetime(last_seen)) for g, last_seen in cursor.fetchall())
        for chunk in _chunks(rows, SQLITE_ROWS):
            params: list[Any] = []
            for gateway_id, ts, seq, values in chunk:
                params += [gateway_id, seen, ts, seq, values, transport or ""]
            values_sql = ", ".join(["(%s, %s, %s, %s, %s, '', '{}', %s)"] * len(chunk))
            cursor.execute(f"{insert} VALUES {values_sql}{upsert}", params)
    return silent, open_intervals([g for g in ids if g not in silent], since=seen)


def note_transport(gateway_ids: Sequence[int], transport: str) -> None:
    """Set the live states' ``transport`` where it differs (connectivity.note_transport):
    one statement for a thousand gateways, without the ORM building it for each batch."""
    if not gateway_ids:
        return
    live = connection.ops.quote_name(GatewayLiveState._meta.db_table)
    update = f"UPDATE {live} SET transport = %s WHERE transport <> %s AND gateway_id"
    with connection.cursor() as cursor:
        if is_postgresql():
            cursor.execute(
                f"{update} = ANY(%s::bigint[])", [transport, transport, list(gateway_ids)]
            )
            return
        for chunk in _chunks(gateway_ids, SQLITE_ROWS):
            cursor.execute(
                f"{update} IN ({', '.join(['%s'] * len(chunk))})", [transport, transport, *chunk]
            )


def open_intervals(gateway_ids: Sequence[int], *, since: Any) -> list[int]:
    """Open a connectivity interval from ``since`` (adapted) for each gateway that has no
    open one: the partial unique index admits one, so a gateway already online keeps its.
    Returns the gateways whose interval was opened now (usually none)."""
    if not gateway_ids:
        return []
    insert, conflict = _OPEN_INTERVALS, _OPEN_CONFLICT
    opened: list[int] = []
    with connection.cursor() as cursor:
        if is_postgresql():
            cursor.execute(
                f"{insert} SELECT g, %s FROM unnest(%s::bigint[]) AS u(g){conflict}",
                [since, list(gateway_ids)],
            )
            return [row[0] for row in cursor.fetchall()]
        for chunk in _chunks(gateway_ids, SQLITE_ROWS):
            cursor.execute(
                f"{insert} VALUES {', '.join(['(%s, %s)'] * len(chunk))}{conflict}",
                [value for gateway_id in chunk for value in (gateway_id, since)],
            )
            opened.extend(row[0] for row in cursor.fetchall())
    return opened


# --- rollups ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Dialect:
    """The few SQL fragments of the rollups PostgreSQL and SQLite spell differently; ``{}``
    is the operand."""

    epoch: str  # seconds since 1970 as a float, exact to the millisecond at least
    floor: str  # of a non-negative number
    from_epoch: str
    day_start: str  # the Japanese midnight that starts the timestamp's day
    month_start: str
    ts: str  # placeholders for a timestamp, a number and a gateway id
    num: str
    int: str
    # "FROM outer JOIN table alias ON condition", as a loop over the outer rows that looks
    # each one up in the table's index; {outer}, {table}, {alias}, {on}
    join_each: str


POSTGRESQL = Dialect(
    epoch="EXTRACT(EPOCH FROM {})::float8",
    floor="FLOOR({})",
    from_epoch="to_timestamp({})",
    day_start="date_trunc('day', {}, 'Asia/Tokyo')",
    month_start="date_trunc('month', {}, 'Asia/Tokyo')",
    ts="%s::timestamptz",
    num="%s::float8",
    int="%s::bigint",
    # A plain join lets the planner, which cannot see how few rows a VALUES list of
    # gateways matches, choose a hash join over the whole table; a LATERAL subquery that
    # cannot be flattened (OFFSET 0) is always looked up row by row.
    join_each="{outer} CROSS JOIN LATERAL"
    " (SELECT * FROM {table} {alias} WHERE {on} OFFSET 0) {alias}",
)
SQLITE = Dialect(
    # julianday() parses every form Django stores; rounding to the millisecond removes
    # the float error that would put a sample at 11:00:00 into the hour before
    epoch="ROUND((julianday({}) - 2440587.5) * 86400.0, 3)",
    floor="CAST({} AS INTEGER)",
    from_epoch="datetime({}, 'unixepoch')",
    day_start="datetime({}, '+9 hours', 'start of day', '-9 hours')",
    month_start="datetime({}, '+9 hours', 'start of month', '-9 hours')",
    ts="%s",
    num="%s",
    int="%s",
    join_each="{outer} JOIN {table} {alias} ON {on}",  # SQLite always loops over the outer
)


def dialect() -> Dialect:
    """The rollups' fragments for the default connection's database."""
    return POSTGRESQL if is_postgresql() else SQLITE
