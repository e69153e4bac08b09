"""Energy per hour, Japanese day and Japanese month, made from the samples' cumulative
counters and kept after the raw samples are dropped (docs/architecture.md, "Storage").

The energy between two consecutive samples of a gateway is the growth of each counter,
unless that is impossible: a counter that went down (a reset, a replaced unit) or grew by
more than the model's rating allows in the time is a discontinuity, and the pair's energy
comes from the samples' powers instead, bounded the same way, or is left out across a gap
too long to fill; each such pair and counter is recorded as a CounterDiscontinuity. The
energy is spread over the hours the pair spans in proportion to time, as if the counter
had grown evenly between them. So the energy around a gap or a late batch does not pile up
in one hour, and no hour holds more than the rating allows.

``rollup_energy`` runs every minute and recomputes only the hours that changed: those the
pairs around each newly received sample overlap. Recomputing an hour from the samples is
idempotent, so reprocessing is always safe. Days and months are then summed from the hours.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from essmon.core.jst import JST, JST_OFFSET
from essmon.gateways.models import Gateway
from essmon.gateways.schema import SUPPLY_KW, schema_for
from essmon.telemetry.models import (
    COUNTERS,
    CounterDiscontinuity,
    EnergyRollup,
    RollupWatermark,
    Sample,
)
from essmon.telemetry.sql import Dialect, cursor_without_jit, dialect

logger = logging.getLogger(__name__)

HOUR = 3600
DAY = 24 * HOUR
# Each run rereads the samples received this long before the previous run started: an
# ingest transaction that started before it but committed after it is not missed.
OVERLAP = timedelta(minutes=5)
# (gateway, day) pieces per statement; a gateway's stretch to recompute is cut at Japanese
# midnights so that a long backfill becomes many bounded statements, not one huge one.
CHUNK = 500
# A run holds a lease, renewed after every statement; a run that died frees it after this.
LEASE = timedelta(minutes=10)
WATERMARK = "energy"


def rollup_energy(now: datetime | None = None, *, from_start: bool = False) -> int | None:
    """Recompute the hours touched by the samples received since the last run (less
    OVERLAP), or with ``from_start`` every hour of the samples still kept, then their days
    and months; returns the number of hours written. A run that finds another one still
    going does nothing and returns None."""
    now = now or timezone.now()
    if not _take_lease():
        logger.info("energy rollup skipped: another run holds the lease")
        return None
    try:
        mark = RollupWatermark.objects.get(pk=WATERMARK)
        since = mark.received_upto - OVERLAP if mark.received_upto and not from_start else None
        stretches = _dirty_stretches(since)
        written = 0
        models = dict(Gateway.objects.filter(pk__in=stretches).values_list("pk", "model"))
        pieces = [
            (gateway_id, lo, hi, rating_kw(models.get(gateway_id, "")))
            for gateway_id, (start, end) in sorted(stretches.items())
            for lo, hi in _cut_at_midnights(start, end)
        ]
        for chunk in _chunks(pieces, CHUNK):
            count, marked = _roll_hours(chunk, now)
            written += count
            # rare, so the hot path stays one statement (and one look-up): only pieces of
            # gateways with a discontinuity, now or recorded before in the chunk's time,
            # are read a second time
            recorded = CounterDiscontinuity.objects.filter(
                gateway_id__in={p[0] for p in chunk},
                to_ts__gt=datetime.fromtimestamp(min(p[1] for p in chunk), UTC),
                to_ts__lte=datetime.fromtimestamp(max(p[2] for p in chunk), UTC),
            )
            marked |= set(recorded.values_list("gateway_id", flat=True).distinct())
            if marked:
                _record_discontinuities([p for p in chunk if p[0] in marked], now)
            _renew_lease()
        days = [
            (gateway_id, _jst_day(start), _jst_day(end - 1) + DAY)
            for gateway_id, (start, end) in sorted(stretches.items())
        ]
        for chunk in _chunks(days, CHUNK):
            _roll_up(chunk, EnergyRollup.Period.HOUR, EnergyRollup.Period.DAY, now)
            _renew_lease()
        months = [(gateway_id, *_jst_months(lo, hi)) for gateway_id, lo, hi in days]
        for chunk in _chunks(months, CHUNK):
            _roll_up(chunk, EnergyRollup.Period.DAY, EnergyRollup.Period.MONTH, now)
            _renew_lease()
        RollupWatermark.objects.filter(pk=WATERMARK).update(received_upto=now)
    finally:
        RollupWatermark.objects.filter(pk=WATERMARK).update(running_until=None)
    return written


# --- what to recompute ----------------------------------------------------------------


def _dirty_stretches(since: datetime | None) -> dict[int, tuple[int, int]]:
    """{gateway id: (first hour, end hour)} as epoch seconds, end exclusive: the hours that
    the pairs around the samples received after ``since`` overlap.

    A new sample changes the pair it closes (from the sample before it) and the pair it
    opens (to the sample after it, when it was backfilled), so a gateway's stretch runs from
    the sample before its earliest new one to the sample after its latest new one."""
    d = dialect()
    table = connection.ops.quote_name(Sample._meta.db_table)
    where, params = "", []
    if since is not None:
        where, params = "WHERE received_at > %s", [connection.ops.adapt_datetimefield_value(since)]
    before = f"SELECT MAX(s.ts) FROM {table} s WHERE s.gateway_id = f.gateway_id AND s.ts < f.lo"
    after = f"SELECT MIN(s.ts) FROM {table} s WHERE s.gateway_id = f.gateway_id AND s.ts > f.hi"
    sql = f"""
        WITH fresh AS (
            SELECT gateway_id, MIN(ts) AS lo, MAX(ts) AS hi FROM {table} {where}
            GROUP BY gateway_id
        )
        SELECT f.gateway_id,
            {d.epoch.format(f"COALESCE(({before}), f.lo)")},
            {d.epoch.format(f"COALESCE(({after}), f.hi)")}
        FROM fresh f
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {
            gateway_id: (int(first // HOUR) * HOUR, int(last // HOUR) * HOUR + HOUR)
            for gateway_id, first, last in cursor.fetchall()
        }


def _cut_at_midnights(start: int, end: int) -> Iterator[tuple[int, int]]:
    while start < end:
        cut = min(_jst_day(start) + DAY, end)
        yield start, cut
        start = cut


def _jst_day(epoch: int) -> int:
    """The epoch second of the Japanese midnight starting the day of ``epoch``."""
    return (epoch + JST_OFFSET) // DAY * DAY - JST_OFFSET


def _jst_months(lo: int, hi: int) -> tuple[int, int]:
    """The Japanese months covering the days [lo, hi), as epoch seconds."""
    first = datetime.fromtimestamp(lo, JST).replace(day=1)
    last = datetime.fromtimestamp(hi - DAY, JST).replace(day=1)
    end = last.replace(year=last.year + last.month // 12, month=last.month % 12 + 1)
    return int(first.timestamp()), int(end.timestamp())


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# --- the statements -------------------------------------------------------------------


# Each counter's power (W) in a sample, and the rate (kW) it can grow at: the PCS rating
# for what goes through the power conditioner, the supply for what the grid delivers.
# ``{s}`` is "0" for the pair's first sample, "" for its second.
POWERS = {
    "pv_kwh": "pv_w{s}",
    "load_kwh": "load_w{s}",
    "grid_import_kwh": "CASE WHEN grid_w{s} > 0 THEN grid_w{s} ELSE 0 END",
    "grid_export_kwh": "CASE WHEN grid_w{s} < 0 THEN -grid_w{s} ELSE 0 END",
    "charge_kwh": "CASE WHEN battery_w{s} < 0 THEN -battery_w{s} ELSE 0 END",
    "discharge_kwh": "CASE WHEN battery_w{s} > 0 THEN battery_w{s} ELSE 0 END",
}
WATTS = ("pv_w", "load_w", "grid_w", "battery_w")
RATES = {
    "pv_kwh": "kw",
    "load_kwh": f"(kw + {SUPPLY_KW!r})",  # the grid's supply and the PCS's output at once
    "grid_import_kwh": repr(SUPPLY_KW),
    "grid_export_kwh": "kw",
    "charge_kwh": "kw",
    "discharge_kwh": "kw",
}
# A counter may grow by up to MARGIN times its rate over a pair's time, plus SLACK_KWH for
# counters that step by 0.01 kWh and are read a moment apart from the timestamp; more is a
# jump. A counter that goes down by no more than SLACK_KWH (a reading taken just before the
# next step, a state restored a moment back) grew by nothing. The slack is per pair, so it
# would add up over many short pairs: each hour's sum is bounded again by MARGIN times the
# rate over the time its pairs cover, plus SLACK_KWH once (a real counter's pairs add up to
# its growth over the hour, within one step), and what that clips is counted as filled.
MARGIN = 1.25
SLACK_KWH = 0.01
# The powers fill in a pair of at most this many seconds; across a longer gap nothing is
# known of what happened, and the pair counts nothing (欠測) rather than a guess.
FILL_LIMIT_S = 600


def rating_kw(model: str) -> float:
    return schema_for(model).power_kw


def _pairs_sql(d: Dialect, count: int) -> str:
    """The CTEs shared by the hour rollup and the discontinuity record: ``judged`` has
    one row per pair of consecutive samples of each piece (gateway, first hour, end hour,
    PCS rating), with each counter's growth ``{c}_up``, the powers' energy ``{c}_pe`` (the
    trapezoid of the pair's two samples) and the most it could have grown, ``{c}_cap``."""
    table = connection.ops.quote_name(Sample._meta.db_table)
    values = ", ".join([f"({d.int}, {d.ts}, {d.ts}, {d.num}, {d.num}, {d.num})"] * count)

    def each(template: str, sep: str = ", ") -> str:
        return sep.join(template.format(c=c, rate=RATES[c]) for c in COUNTERS)

    watts = ", ".join(f"LAG({w}) OVER w AS {w}0, {w}" for w in WATTS)
    samples = d.join_each.format(
        outer="edges e",
        table=table,
        alias="s",
        on="s.gateway_id = e.gateway_id AND s.ts >= e.first_ts AND s.ts <= e.last_ts",
    )
    bound = f"{{c}}_up, {{rate}} * (t1 - t0) / 3600.0 * {MARGIN!r} + {SLACK_KWH!r} AS {{c}}_cap"
    # the trapezoid of the pair's two powers, in kWh
    energy = ", ".join(
        f"({POWERS[c].format(s='0')} + {POWERS[c].format(s='')}) * (t1 - t0) / 7200000.0 AS {c}_pe"
        for c in COUNTERS
    )
    return f"""
        pieces(gateway_id, lo, hi, lo_s, hi_s, kw) AS (VALUES {values}),
        edges AS MATERIALIZED (
            SELECT p.gateway_id, p.lo_s, p.hi_s, p.kw,
                COALESCE((SELECT MAX(s.ts) FROM {table} s
                          WHERE s.gateway_id = p.gateway_id AND s.ts < p.lo), p.lo) AS first_ts,
                COALESCE((SELECT MIN(s.ts) FROM {table} s
                          WHERE s.gateway_id = p.gateway_id AND s.ts >= p.hi), p.hi) AS last_ts
            FROM pieces p
        ),
        points AS (
            SELECT e.gateway_id, e.lo_s, e.hi_s, e.kw, s.ts, {d.epoch.format("s.ts")} AS t,
                {each("s.{c}")}, {", ".join(f"s.{w}" for w in WATTS)}
            FROM {samples}
        ),
        pairs AS (
            SELECT gateway_id, lo_s, hi_s, kw, LAG(ts) OVER w AS ts0, ts AS ts1,
                LAG(t) OVER w AS t0, t AS t1, {watts},
                {each("{c} - LAG({c}) OVER w AS {c}_up")}
            FROM points
            WINDOW w AS (PARTITION BY gateway_id, lo_s ORDER BY t)
        ),
        judged AS (
            SELECT gateway_id, lo_s, hi_s, kw, ts0, ts1, t0, t1, {each(bound)}, {energy}
            FROM pairs
            WHERE t0 IS NOT NULL
        )"""


def _energy(c: str) -> str:
    """A pair's energy for counter ``c`` (over ``judged``): its growth when possible, else
    the powers' energy bounded by the same rating, or nothing across a long gap."""
    return (
        f"CASE WHEN {_fine(c)} THEN (CASE WHEN {c}_up > 0 THEN {c}_up ELSE 0 END)"
        f" WHEN t1 - t0 > {FILL_LIMIT_S} THEN 0"
        f" WHEN {c}_pe <= 0 THEN 0 WHEN {c}_pe < {c}_cap THEN {c}_pe ELSE {c}_cap END"
    )


def _fine(c: str, alias: str = "") -> str:
    return f"({alias}{c}_up >= {-SLACK_KWH!r} AND {alias}{c}_up <= {alias}{c}_cap)"


def _pieces_params(pieces: Sequence[tuple[int, int, int, float]]) -> list[Any]:
    params: list[Any] = []
    for gateway_id, lo, hi, kw in pieces:
        params += [gateway_id, _adapt_epoch(lo), _adapt_epoch(hi), lo, hi, kw]
    return params


def _hours_sql(d: Dialect) -> str:
    """The CTEs, after ``_pairs_sql``'s, that give ``hours``: per gateway and hour of the
    pieces, each counter's energy ``{c}`` (each pair's spread over the hours it overlaps in
    proportion to time: a recursive CTE yields one row per pair and hour), the most the hour
    can hold, ``{c}_hcap`` (MARGIN times the rate over the seconds its pairs cover, plus one
    SLACK_KWH), and the pairs filled in and left out."""

    def each(template: str, sep: str = ", ") -> str:
        return sep.join(template.format(c=c, rate=RATES[c]) for c in COUNTERS)

    # the part of a pair's time [t0, t1] that falls into the hour starting at h, in seconds
    seconds = "(CASE WHEN t1 < h + 3600 THEN t1 ELSE h + 3600 END) - (CASE WHEN t0 > h THEN t0 ELSE h END)"
    fine = " AND ".join(_fine(c) for c in COUNTERS)
    return f"""
        spread(gateway_id, kw, hi_s, h, t0, t1, {each("{c}")}, filled, missing) AS (
            SELECT gateway_id, kw, hi_s,
                CASE WHEN t0 > lo_s THEN {d.floor.format("t0 / 3600")} * 3600 ELSE lo_s END,
                t0, t1, {", ".join(_energy(c) for c in COUNTERS)},
                CASE WHEN {fine} THEN 0 WHEN t1 - t0 > {FILL_LIMIT_S} THEN 0 ELSE 1 END,
                CASE WHEN {fine} THEN 0 WHEN t1 - t0 <= {FILL_LIMIT_S} THEN 0 ELSE 1 END
            FROM judged
            WHERE t1 > lo_s AND t0 < hi_s
            UNION ALL
            SELECT gateway_id, kw, hi_s, h + 3600, t0, t1, {each("{c}")}, filled, missing
            FROM spread
            WHERE h + 3600 < t1 AND h + 3600 < hi_s
        ),
        covered AS (
            SELECT gateway_id, h, MAX(kw) AS kw, SUM({seconds}) AS secs,
                {each(f"SUM({{c}} * ({seconds}) / (t1 - t0)) AS {{c}}")},
                SUM(filled) AS filled, SUM(missing) AS missing
            FROM spread
            GROUP BY gateway_id, h
        ),
        hours AS (
            SELECT gateway_id, h, filled, missing, {each("{c}")},
                {each(f"{{rate}} * secs / 3600.0 * {MARGIN!r} + {SLACK_KWH!r} AS {{c}}_hcap")}
            FROM covered
        )"""


def _roll_hours(
    pieces: Sequence[tuple[int, int, int, float]], now: datetime
) -> tuple[int, set[int]]:
    """Recompute the hour rollups of (gateway id, first hour, end hour, PCS rating) pieces
    in one statement: the samples from the one before each piece to the one after it, their
    pairs (LAG), each pair's energy spread over the hours it overlaps, summed per hour,
    bounded by the hour's time, and upserted. Pieces of one gateway must not overlap.
    Returns the hours written and the gateways with a discontinuity."""
    d = dialect()
    ops = connection.ops
    rollups = ops.quote_name(EnergyRollup._meta.db_table)

    def each(template: str, sep: str = ", ") -> str:
        return sep.join(template.format(c=c) for c in COUNTERS)

    start = ops.quote_name("start")
    sql = f"""
        WITH RECURSIVE {_pairs_sql(d, len(pieces))}, {_hours_sql(d)},
        energy AS (
            SELECT gateway_id, h,
                {each("CASE WHEN {c} > {c}_hcap THEN {c}_hcap ELSE {c} END AS {c}")}, 0 AS n,
                filled + {each("CASE WHEN {c} > {c}_hcap THEN 1 ELSE 0 END", " + ")} AS filled,
                missing
            FROM hours
            UNION ALL
            SELECT gateway_id, {d.floor.format("t / 3600")} * 3600,
                {each("CAST(0 AS DOUBLE PRECISION)")}, COUNT(*), 0, 0
            FROM points
            WHERE t >= lo_s AND t < hi_s
            GROUP BY gateway_id, {d.floor.format("t / 3600")} * 3600
        )
        INSERT INTO {rollups}
            (gateway_id, period, {start}, {each("{c}")}, samples, filled, missing, updated_at)
        SELECT gateway_id, %s, {d.from_epoch.format("h")}, {each("SUM({c})")}, SUM(n),
            SUM(filled), SUM(missing), {d.ts}
        FROM energy
        WHERE TRUE
        GROUP BY gateway_id, h
        ON CONFLICT (gateway_id, period, {start}) DO UPDATE SET
            {each("{c} = excluded.{c}")}, samples = excluded.samples,
            filled = excluded.filled, missing = excluded.missing,
            updated_at = excluded.updated_at
        RETURNING gateway_id, filled + missing
    """
    params = _pieces_params(pieces)
    params += [EnergyRollup.Period.HOUR.value, ops.adapt_datetimefield_value(now)]
    # counted from RETURNING: SQLite reports no rowcount for a statement that starts WITH
    rows = _run(sql, params)
    return len(rows), {gateway_id for gateway_id, marked in rows if marked}


def _record_discontinuities(pieces: Sequence[tuple[int, int, int, float]], now: datetime) -> None:
    """Write a CounterDiscontinuity per impossible counter of each pair that ends in the
    pieces (after the piece's start, up to its end: so in exactly one piece), or rewrite it
    as it is now, keeping the first detection time; then delete those of the pieces that
    were not found again (a late sample turned their pair into fine ones)."""
    d = dialect()
    ops = connection.ops
    table = ops.quote_name(CounterDiscontinuity._meta.db_table)
    kinds = CounterDiscontinuity.Kind
    found = " UNION ALL ".join(
        f"""SELECT gateway_id, ts0, ts1, '{c}' AS counter,
                CASE WHEN t1 - t0 > {FILL_LIMIT_S} THEN '{kinds.GAP.value}'
                     WHEN {c}_up < 0 THEN '{kinds.RESET.value}' ELSE '{kinds.JUMP.value}' END
                    AS kind,
                {c}_up AS reported, {_energy(c)} AS used
            FROM judged WHERE NOT {_fine(c)} AND t1 > lo_s AND t1 <= hi_s"""
        for c in COUNTERS
    )
    # an hour whose pairs were each possible but add up to more than the hour allows (the
    # slack of many short pairs): one record for the hour, unless a pair ending with the
    # hour already has one for that counter
    clipped = " UNION ALL ".join(
        f"""SELECT gateway_id, {d.from_epoch.format("h")}, {d.from_epoch.format("h + 3600")},
                '{c}', '{kinds.JUMP.value}', {c}, {c}_hcap
            FROM hours x WHERE {c} > {c}_hcap AND NOT EXISTS (
                SELECT 1 FROM judged j WHERE j.gateway_id = x.gateway_id
                    AND j.t1 = x.h + 3600 AND NOT {_fine(c, "j.")})"""
        for c in COUNTERS
    )
    sql = f"""
        WITH RECURSIVE {_pairs_sql(d, len(pieces))}, {_hours_sql(d)}
        INSERT INTO {table} (gateway_id, from_ts, to_ts, counter, kind, reported_kwh,
            used_kwh, detected_at, checked_at)
        SELECT gateway_id, ts0, ts1, counter, kind, reported, used, {d.ts}, {d.ts}
        FROM ({found} UNION ALL {clipped}) found
        WHERE TRUE
        ON CONFLICT (gateway_id, to_ts, counter) DO UPDATE SET
            from_ts = excluded.from_ts, kind = excluded.kind,
            reported_kwh = excluded.reported_kwh, used_kwh = excluded.used_kwh,
            checked_at = excluded.checked_at
    """
    stamp = ops.adapt_datetimefield_value(now)
    with transaction.atomic():
        _run(sql, [*_pieces_params(pieces), stamp, stamp])
        within = Q()
        for gateway_id, lo, hi, _ in pieces:
            within |= Q(
                gateway_id=gateway_id,
                to_ts__gt=datetime.fromtimestamp(lo, UTC),
                to_ts__lte=datetime.fromtimestamp(hi, UTC),
            )
        CounterDiscontinuity.objects.filter(within, checked_at__lt=now).delete()


def _roll_up(
    spans: Sequence[tuple[int, int, int]],
    source: EnergyRollup.Period,
    target: EnergyRollup.Period,
    now: datetime,
) -> None:
    """Recompute the ``target`` rollups (days or months) that start within (gateway id, lo,
    hi) spans as sums of their ``source`` rollups. One span per gateway."""
    d = dialect()
    ops = connection.ops
    rollups = ops.quote_name(EnergyRollup._meta.db_table)
    start = ops.quote_name("start")
    bucket = (d.day_start if target == EnergyRollup.Period.DAY else d.month_start).format(
        f"r.{start}"
    )
    values = ", ".join([f"({d.int}, {d.ts}, {d.ts})"] * len(spans))
    params: list[Any] = []
    for gateway_id, lo, hi in spans:
        params += [gateway_id, _adapt_epoch(lo), _adapt_epoch(hi)]
    summed = (*COUNTERS, "samples", "filled", "missing")
    sums = ", ".join(f"SUM(r.{c})" for c in summed)
    updates = ", ".join(f"{c} = excluded.{c}" for c in (*summed, "updated_at"))
    columns = ", ".join(summed)
    sources = d.join_each.format(
        outer="spans p",
        table=rollups,
        alias="r",
        on=f"r.gateway_id = p.gateway_id AND r.period = %s"
        f" AND r.{start} >= p.lo AND r.{start} < p.hi",
    )
    sql = f"""
        WITH spans(gateway_id, lo, hi) AS (VALUES {values})
        INSERT INTO {rollups} (gateway_id, period, {start}, {columns}, updated_at)
        SELECT r.gateway_id, %s, {bucket}, {sums}, {d.ts}
        FROM {sources}
        WHERE TRUE
        GROUP BY r.gateway_id, {bucket}
        ON CONFLICT (gateway_id, period, {start}) DO UPDATE SET {updates}
    """
    params += [target.value, ops.adapt_datetimefield_value(now), source.value]
    _run(sql, params)


def _run(statement: str, params: list[Any]) -> list[tuple[Any, ...]]:
    """Execute a rollup statement without PostgreSQL's JIT (essmon.telemetry.sql)."""
    with cursor_without_jit() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall() if cursor.description else []


def _adapt_epoch(epoch: int) -> object:
    return connection.ops.adapt_datetimefield_value(datetime.fromtimestamp(epoch, UTC))


# --- one run at a time ------------------------------------------------------------------


def _take_lease() -> bool:
    now = timezone.now()
    RollupWatermark.objects.get_or_create(name=WATERMARK)
    free = Q(running_until__isnull=True) | Q(running_until__lt=now)
    claimed = RollupWatermark.objects.filter(free, name=WATERMARK)
    return claimed.update(running_until=now + LEASE) == 1


def _renew_lease() -> None:
    RollupWatermark.objects.filter(pk=WATERMARK).update(running_until=timezone.now() + LEASE)
