"""Microseconds per row for storing a batch of samples on PostgreSQL, the old statement
(one text-rendered array per column through ``unnest``, every key parsed back from
``RETURNING``) beside the current ``essmon.telemetry.sql.insert_samples`` (binary COPY
into a temporary table, one INSERT ... SELECT), in one run, batches alternating.

    ESSMON_DATABASE_URL=postgres://postgres@127.0.0.1:5432/<db> \\
        .venv/bin/python benchmarks/storage.py [--batches 40] [--rows 1000]

The database must be migrated (``essmon migrate``); the script adds 100 gateways
``97ST…`` (removing them and their samples first and at the end). Per row: wall time of
the batch's transaction, CPU of this process, and CPU of the PostgreSQL backend serving
it (from /proc, so the server must run on this machine). See docs/performance.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import rows

GATEWAYS = 100


def backend_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=40, help="per path")
    parser.add_argument("--rows", type=int, default=1000, help="per batch")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "essmon.settings")
    import django

    django.setup()
    from django.db import connection, transaction

    from essmon.gateways.models import Gateway
    from essmon.telemetry import sql
    from essmon.telemetry.ingest import CHOICES, NUMBERS, SAMPLE_COLUMNS
    from essmon.telemetry.models import Sample

    def old_insert(flat: list[tuple], received_at: datetime) -> set:
        # the statement insert_samples ran before issue 16's COPY, as it was
        kinds = ("bigint", "timestamptz", "bigint", *["float8"] * 12, *["text"] * 2)
        names = [f"c{n}" for n in range(len(kinds))]
        arrays = ", ".join(f"%s::{kind}[]" for kind in kinds)
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO telemetry_sample ({', '.join(SAMPLE_COLUMNS)})"
                f" SELECT {', '.join(names)}, %s FROM unnest({arrays}) AS u({', '.join(names)})"
                " ON CONFLICT (gateway_id, ts) DO NOTHING RETURNING gateway_id, ts",
                [received_at, *(list(column) for column in zip(*flat, strict=True))],
            )
            return set(cursor.fetchall())

    def new_insert(flat: list[tuple], received_at: datetime) -> set:
        kinds = (int, datetime, int, *[float] * len(NUMBERS), *[str] * len(CHOICES))
        return sql.insert_samples(SAMPLE_COLUMNS, kinds, flat, received_at=received_at)

    def clean() -> None:
        ids = list(
            Gateway.objects.filter(gateway_id__startswith="97ST").values_list("pk", flat=True)
        )
        Sample.objects.filter(gateway_id__in=ids).delete()
        Gateway.objects.filter(pk__in=ids).delete()

    clean()
    now = datetime.now(UTC)
    gateways = Gateway.objects.bulk_create(
        Gateway(gateway_id=f"97ST{g:08d}", provisioned_at=now - timedelta(days=30))
        for g in range(GATEWAYS)
    )
    pks = [g.pk for g in gateways]
    base = now - timedelta(hours=20)
    per_batch = args.rows // GATEWAYS
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]

    def batch(number: int) -> list[tuple]:
        flat = []
        for i in range(args.rows):
            g, seq = i % GATEWAYS, number * per_batch + i // GATEWAYS
            v = rows.values(g, seq)  # the CSV's order: the two states after the powers
            flat.append((pks[g], base + timedelta(seconds=seq), seq, *v[:6], *v[8:], *v[6:8]))
        return flat

    paths = {"old: unnest, text arrays": old_insert, "new: binary COPY + stage": new_insert}
    totals = {name: [0.0, 0.0, 0.0, 0] for name in paths}
    try:
        for number in range(args.batches * len(paths)):
            name = list(paths)[number % len(paths)]
            flat = batch(number)
            wall, cpu, server = time.perf_counter(), time.process_time(), backend_cpu(backend)
            with transaction.atomic():
                stored = paths[name](flat, now)
            total = totals[name]
            total[0] += time.perf_counter() - wall
            total[1] += time.process_time() - cpu
            total[2] += backend_cpu(backend) - server
            total[3] += len(stored)
            if len(stored) != len(flat):
                sys.exit(f"{name}: {len(stored)} of {len(flat)} rows reported new")
    finally:
        clean()
    print(f"{args.batches} batches of {args.rows:,} rows per path, alternating")
    print(f"{'path':28} {'wall µs/row':>12} {'client CPU':>11} {'server CPU':>11}")
    for name, (wall, cpu, server, count) in totals.items():
        print(
            f"{name:28} {wall / count * 1e6:12.2f} {cpu / count * 1e6:11.2f}"
            f" {server / count * 1e6:11.2f}"
        )


if __name__ == "__main__":
    main()
