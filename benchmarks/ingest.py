"""benchmarks/ingest: the same rows into PostgreSQL by several paths, in one run.

1. reference: ``psql \\copy`` of the rows as CSV into a table made like the sample table
   (same columns, keys, indexes, foreign key and partitions): what PostgreSQL alone does.
2. MQTT live, for each --workers count: one connection per gateway publishing one sample
   per QoS 1 message (at --rate, or as fast as the publishers go) → a Mosquitto of the
   benchmark's own → N × ``essmon ingest-mqtt`` on the shared subscription → PostgreSQL.
3. MQTT drain, for each --workers count: the workers' persistent sessions are made and
   left, every row is published while no worker runs (Mosquitto queues a shared
   subscription's messages in its offline members' sessions, in turn), then the workers
   start and the time until every row is stored is the figure.
4. HTTPS: gunicorn serving essmon, clients posting batches of one gateway's samples.

The publishers and clients make every MQTT packet and HTTP body before the timed part
and send them from raw sockets (MQTT) or keep-alive connections (HTTPS), so that they
take little of the machine from what they measure; their CPU is printed.

Each path starts from an empty sample table (the sample, live-state and connectivity
tables are emptied between paths) and the same gateways, and stores the same rows: all
of them for the reference and MQTT, as many as fit in --https-seconds for HTTPS. Every
row is then checked in the database. Beside each path's samples/s: its ratio to the
reference, the CPU per sample of essmon's processes (workers or gunicorn; psql for the
reference) and PostgreSQL's CPU per row, and the cores each group used. See
docs/performance.md.

Run from anywhere as ``benchmarks/ingest``; ``--help`` lists the options.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import multiprocessing
import os
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import load
import pyspy_summary
import rows
from infra import (
    MAX_QUEUED,
    Broker,
    CpuMeter,
    Postgres,
    Processes,
    Snapshot,
    broker_listeners,
    connections_to,
    essmon_command,
    free_port,
    postgres_server,
    py_spy,
    run_main,
    wait_listening,
)
from load import Stats

ROOT = Path(__file__).resolve().parent.parent
SERVICE_USER = "essmon-ingest"
PROGRESS_EVERY = 5.0


DEFAULT_ROWS = 600_000
SIZING_RATE = 10_000  # --seconds with --rate 0: as many rows as that long at this pace
ISSUE_16 = {"mqtt": 0.25, "https": 0.40, "worker_us": 25.0}  # issue 16's targets


@dataclass
class Result:
    path: str
    rows: int
    seconds: float
    lost: int
    notes: list[str] = field(default_factory=list)
    ingest_cpu: float | None = None  # CPU s of psql, the workers or gunicorn
    postgres_cpu: float | None = None  # CPU s of the PostgreSQL server
    cores: dict[str, float] = field(default_factory=dict)  # in the table's groups
    workers: int = 0

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    def per_row(self, cpu: float | None) -> float | None:
        return cpu / self.rows * 1e6 if cpu is not None and self.rows else None


def worker_counts(text: str) -> list[int]:
    try:
        counts = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: counts separated by commas") from None
    if not counts or any(n < 1 or n > 16 for n in counts):
        raise argparse.ArgumentTypeError(f"{text!r}: counts from 1 to 16, e.g. 1,2,4")
    return list(dict.fromkeys(counts))


def mqtt_modes(text: str) -> list[str]:
    modes = [part.strip() for part in text.split(",") if part.strip()]
    if any(mode not in ("live", "drain") for mode in modes):
        raise argparse.ArgumentTypeError(f"{text!r}: live, drain or both (live,drain); none: ''")
    return list(dict.fromkeys(modes))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="benchmarks/ingest",
        description="Samples per second into PostgreSQL: psql \\copy (the reference), MQTT "
        "live and draining a filled broker queue, for each count of workers, and HTTPS, on "
        "the same rows. Exits 1 if any row is lost.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add = parser.add_argument
    add(
        "--rows",
        type=int,
        default=argparse.SUPPRESS,
        help=f"rows of the reference and of each MQTT path (default: {DEFAULT_ROWS:,})",
    )
    add(
        "--seconds",
        type=float,
        default=argparse.SUPPRESS,
        help="instead of --rows: as many rows as this long at --rate (at "
        f"{SIZING_RATE:,}/s when --rate is 0)",
    )
    add(
        "--rate",
        type=float,
        default=0,
        help="MQTT live: samples (messages) per second; 0: as fast as the publishers go",
    )
    add("--gateways", type=int, default=1000, help="gateways, each with its own connection")
    add(
        "--workers",
        type=worker_counts,
        default="1,2,4",
        metavar="N,N,…",
        help="essmon ingest-mqtt processes on the shared subscription: each MQTT path runs "
        "once for each count",
    )
    add("--mqtt", type=mqtt_modes, default="live,drain", help="MQTT paths: live, drain or both")
    add("--publishers", type=int, default=1, help="processes sharing the gateways' connections")
    add(
        "--drain-seconds",
        type=float,
        default=180,
        help="MQTT: wait at most this long for the rows to land, after the last publish "
        "(live) or the workers' start (drain)",
    )
    add("--https-seconds", type=float, default=20, help="HTTPS: post for this long (0: skip)")
    add("--https-batch", type=int, default=100, help="HTTPS: samples per request")
    add("--https-clients", type=int, default=16, help="HTTPS: concurrent connections")
    add("--web-workers", type=int, default=2, help="HTTPS: gunicorn worker processes")
    add("--web-threads", type=int, default=8, help="HTTPS: threads per gunicorn worker")
    add(
        "--profile",
        type=float,
        default=0,
        metavar="SECONDS",
        help="MQTT: profile the first worker of the first live path with py-spy from 5 s "
        "into it, this long holding the GIL, then this long on the CPU",
    )
    add(
        "--pg",
        default="postgres@127.0.0.1:5432",
        metavar="USER@HOST:PORT",
        help="PostgreSQL server (trust authentication)",
    )
    add("--database", default="essmon_bench", help="made for the run; must not exist")
    add("--keep", action="store_true", help="keep the database and the run's folder")
    args = parser.parse_args(argv)
    if "rows" in args and "seconds" in args:
        parser.error("--rows or --seconds, not both")
    if "seconds" in args:
        if args.seconds <= 0:
            parser.error("--seconds must be positive")
        args.rows = round(args.seconds * (args.rate or SIZING_RATE))
    elif "rows" not in args:
        args.rows = DEFAULT_ROWS
    if args.gateways < 1 or args.rows < 1 or args.rate < 0:
        parser.error("--gateways and --rows must be positive, --rate 0 or more")
    if args.rows > MAX_QUEUED:
        parser.error(f"--rows: at most {MAX_QUEUED:,} (the broker's queue per session)")
    if -(-args.rows // args.gateways) > load.MAX_PER_GATEWAY:
        parser.error(
            f"at most {load.MAX_PER_GATEWAY:,} rows per gateway (MQTT packet ids): more --gateways"
        )
    if not 1 <= args.https_batch <= 1000:
        parser.error("--https-batch: from 1 to 1000 (the protocol's largest batch)")
    args.publishers = max(1, min(args.publishers, args.gateways))
    return args


def main(argv: list[str] | None = None) -> int:
    return run_main("ingest", Bench(parse_args(argv)))


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        user, _, address = args.pg.rpartition("@")
        host, _, port = address.partition(":")
        self.pg = Postgres(host or "127.0.0.1", int(port or 5432), user or "postgres")
        self.folder = Path(tempfile.mkdtemp(prefix="essmon-bench-"))
        self.processes = Processes()
        self.created_database = False
        self.env: dict[str, str] = {}
        self.gateways: list[load.Gateway] = []
        self.pks: dict[int, int] = {}
        self.results: list[Result] = []
        self.reconnects = 0  # PostgreSQL connections lost during the run
        self.profiled = False  # --profile: on the first live path only

    # --- set-up and tear-down -----------------------------------------------------------

    def run(self) -> int:
        for tool in ("psql", "mosquitto"):
            if not shutil.which(tool):
                raise RuntimeError(f"{tool} is not on PATH")
        args = self.args
        try:
            self.plan = rows.Plan.make(gateways=args.gateways, total=args.rows)
        except ValueError as exc:
            raise RuntimeError(str(exc)) from exc
        print(self.machine_line())
        print(
            f"rows: {self.plan.total:,} ({args.gateways:,} gateways × up to "
            f"{self.plan.count_for(0):,} samples, ts from {self.plan.first_ts:%Y-%m-%d %H:%M} UTC "
            f"one second apart); run folder {self.folder}"
        )
        self.set_up_database()
        self.results.append(self.reference())
        for mode in args.mqtt:
            for workers in args.workers:
                self.empty_sample_tables()
                self.results.append(self.mqtt(mode, workers))
        if args.https_seconds > 0:
            self.empty_sample_tables()
            self.results.append(self.https())
        self.print_table()
        return 1 if any(r.lost for r in self.results) else 0

    def machine_line(self) -> str:
        # the figures hold only for a machine doing nothing else: say how busy it was
        load = Path("/proc/loadavg").read_text().split()[0]
        return (
            f"{time.strftime('%Y-%m-%d %H:%M %Z')}, essmon {code_version()}\n"
            f"machine: {os.cpu_count()} CPUs, PostgreSQL {self.pg.version()}, "
            f"Mosquitto {Broker.version()}, Python {sys.version.split()[0]}; "
            f"load average {load} before the run"
        )

    def set_up_database(self) -> None:
        args = self.args
        if self.pg.exists(args.database):
            raise RuntimeError(
                f"database {args.database} exists (another run, or one that was killed); "
                f"drop it (dropdb -h {self.pg.host} -U {self.pg.user} {args.database}) "
                f"or pass --database"
            )
        self.pg.create(args.database)
        self.created_database = True
        # a clean environment: ESSMON_* of the caller's shell (ESSMON_PRODUCTION, another
        # database) must not leak into the processes under test
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("ESSMON_")}
        self.env.update(
            DJANGO_SETTINGS_MODULE="essmon.settings",
            ESSMON_DATABASE_URL=self.pg.url(args.database),
            ESSMON_DATA_DIR=str(self.folder / "data"),
            ESSMON_SECRET_KEY=secrets.token_urlsafe(50),
            ESSMON_DEBUG="0",  # DEBUG keeps every query in memory
            ESSMON_LOG_LEVEL="WARNING",
        )
        started = time.monotonic()
        migrate = self.processes.start(
            essmon_command("migrate", "--no-input", "-v", "0"),
            env=self.env,
            log=self.folder / "migrate.log",
        )
        if migrate.wait():
            raise RuntimeError(
                f"essmon migrate failed: {(self.folder / 'migrate.log').read_text()}"
            )
        os.environ.update(self.env)
        import django

        django.setup()
        (self.pg_started,) = self.sql("SELECT pg_postmaster_start_time()")[0]
        self.provision()
        print(
            f"set-up: database {args.database} migrated, {args.gateways:,} gateways "
            f"provisioned in {time.monotonic() - started:.1f} s"
        )

    def provision(self) -> None:
        """The gateways, each with a device secret, provisioned 30 days before the first
        sample so that the ingest accepts them all. Written straight into the registry:
        ``provision-gateways`` also hashes a registration password with Argon2 per gateway
        (about a minute for a thousand), which no ingest path ever reads."""
        from essmon.gateways.models import Gateway
        from essmon.gateways.services.credentials import generate_device_secret, hash_device_secret

        provisioned_at = self.plan.first_ts - timedelta(days=30)
        made = []
        for g in range(self.args.gateways):
            secret = generate_device_secret()
            self.gateways.append(load.Gateway(g, rows.gateway_id(g), secret))
            made.append(
                Gateway(
                    gateway_id=rows.gateway_id(g),
                    password_hash="!",  # no registration password: never claimed in a run
                    device_secret_hash=hash_device_secret(secret),
                    provisioned_at=provisioned_at,
                )
            )
        Gateway.objects.bulk_create(made, batch_size=1000)
        by_id = dict(Gateway.objects.values_list("gateway_id", "pk"))
        self.pks = {gw.g: by_id[gw.gateway_id] for gw in self.gateways}

    def cleanup(self) -> None:
        self.processes.stop_all()
        with contextlib.suppress(Exception):  # Django may never have been set up
            from django.db import connection

            connection.close()
        if self.created_database and not self.args.keep:
            try:
                self.pg.drop(self.args.database)
            except RuntimeError as exc:
                print(f"could not drop database {self.args.database}: {exc}", file=sys.stderr)
        if self.args.keep:
            print(f"kept: database {self.args.database}, folder {self.folder}")
        else:
            shutil.rmtree(self.folder, ignore_errors=True)

    # --- database helpers ---------------------------------------------------------------

    def sql(self, query: str, params: tuple = ()) -> list[tuple]:
        """Run a query; a connection lost meanwhile (a PostgreSQL restart) is made again,
        once: the run's figures are then suspect, and the run says so."""
        from django.db import InterfaceError, OperationalError, connection

        for attempt in (1, 2):
            try:
                with connection.cursor() as cursor:
                    cursor.execute(query, params)
                    return cursor.fetchall() if cursor.description else []
            except (OperationalError, InterfaceError):
                if attempt == 2 or connection.in_atomic_block:
                    raise
                self.reconnects += 1
                connection.close()
        raise AssertionError("unreachable")

    def sample_table(self) -> str:
        from essmon.telemetry.models import Sample

        return Sample._meta.db_table

    def empty_sample_tables(self) -> None:
        """Each path starts as the first did: no samples, no live states, no intervals."""
        from essmon.telemetry.models import ConnectivityInterval, GatewayLiveState

        tables = [
            self.sample_table(),
            GatewayLiveState._meta.db_table,
            ConnectivityInterval._meta.db_table,
        ]
        self.sql(f"TRUNCATE {', '.join(tables)}")

    def checkpoint(self) -> None:
        # the previous path's dirty pages are written now, not during the next path
        self.sql("CHECKPOINT")

    def stored_check(self, expected: dict[int, int]) -> tuple[int, int, list[str]]:
        """(rows stored, rows missing, problems) against ``expected`` rows per gateway index,
        each gateway's seqs being 0 … n − 1; values are compared through sums."""
        table = self.sample_table()
        found = {
            pk: row
            for pk, *row in self.sql(
                f"SELECT gateway_id, count(*), count(DISTINCT seq), min(seq), max(seq),"
                f" sum(seq), sum(pv_w + soc_pct) FROM {table} GROUP BY gateway_id"
            )
        }
        stored = sum(row[0] for row in found.values())
        missing, problems = 0, []
        seq_sum, value_sum, expected_seq_sum, expected_value_sum = 0, 0.0, 0, 0.0
        for g, n in expected.items():
            count, distinct, low, high, seqs, vals = found.pop(
                self.pks[g], (0, 0, None, None, 0, 0.0)
            )
            if n and (count != n or distinct != n or low != 0 or high != n - 1):
                problems.append(f"gateway {g}: {count} rows, seq {low}…{high}, expected 0…{n - 1}")
            missing += max(0, n - distinct)
            seq_sum += seqs
            value_sum += vals
            for seq in range(n):
                v = rows.values(g, seq)
                expected_seq_sum += seq
                expected_value_sum += v[0] + v[4]
        if found:
            problems.append(f"{len(found)} gateways have rows that were never sent")
        if seq_sum != expected_seq_sum or abs(value_sum - expected_value_sum) > 1e-6 * max(
            1.0, abs(expected_value_sum)
        ):
            problems.append("stored values differ from the values sent")
        return stored, missing, problems

    # --- 1. the reference -------------------------------------------------------------------

    def reference(self) -> Result:
        print("\n[reference] psql \\copy of the rows as CSV into bench_ref")
        csv_path = self.folder / "rows.csv"
        received_at = self.plan.first_ts.isoformat()
        with open(csv_path, "w") as out:
            for seq in range(self.plan.count_for(0)):
                ts = self.plan.ts(seq)
                for g in range(self.plan.gateways):
                    if seq < self.plan.count_for(g):
                        out.write(rows.csv_line(self.pks[g], g, seq, ts, received_at))
        self.make_reference_table()
        self.checkpoint()
        server = postgres_server()
        meter = CpuMeter(
            lambda: {"postgres": [server] if server else [], "benchmark": [os.getpid()]},
            trees=frozenset({"postgres"}),
        )
        # psql's CPU: it is the benchmark's only child to end meanwhile
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = meter.snap()
        self.pg.psql(
            self.args.database,
            "-c",
            f"\\copy bench_ref ({', '.join(rows.COLUMNS)}) FROM '{csv_path}' WITH (FORMAT csv)",
        )
        ended = meter.snap()
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        psql = (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)
        seconds = ended.at - started.at
        (count,) = self.sql("SELECT count(*) FROM bench_ref")[0]
        self.sql("DROP TABLE bench_ref")
        csv_path.unlink()
        result = Result("reference", count, seconds, self.plan.total - count)
        result.ingest_cpu = psql
        result.postgres_cpu = ended.groups["postgres"] - started.groups["postgres"]
        cores = CpuMeter.cores(started, ended)
        result.cores = table_cores(cores, ingest=psql / max(seconds, 1e-9))
        result.notes += [
            self.reference_shape,
            f"{count:,} rows in {seconds:.2f} s",
            CpuMeter.line(started, ended, "during the \\copy") + f"; psql {psql:.2f} s",
            cpu_per_row_line(result, "psql"),
        ]
        for note in result.notes:
            print(f"  {note}")
        return result

    def make_reference_table(self) -> None:
        """bench_ref: the sample table's columns, keys, indexes and foreign keys, and, when
        the sample table is partitioned, its partition key and the same partitions."""
        table = self.sample_table()
        (kind,) = self.sql("SELECT relkind FROM pg_class WHERE oid = %s::regclass", (table,))[0]
        if kind == "p":
            (key,) = self.sql("SELECT pg_get_partkeydef(%s::regclass)", (table,))[0]
            self.sql(f"CREATE TABLE bench_ref (LIKE {table} INCLUDING ALL) PARTITION BY {key}")
            partitions = self.sql(
                "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i"
                " JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = %s::regclass",
                (table,),
            )
            for name, bound in partitions:
                suffix = name.removeprefix(table)
                self.sql(f"CREATE TABLE bench_ref{suffix} PARTITION OF bench_ref {bound}")
            self.reference_shape = f"partitioned like {table}: {len(partitions)} partitions"
        else:
            self.sql(f"CREATE TABLE bench_ref (LIKE {table} INCLUDING ALL)")
            self.reference_shape = f"a plain table like {table}"
        # LIKE copies no foreign key, and checking one is part of every insert's cost
        for name, definition in self.sql(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conrelid = %s::regclass AND contype = 'f'",
            (table,),
        ):
            self.sql(f"ALTER TABLE bench_ref ADD CONSTRAINT bench_ref_{name} {definition}")

    # --- 2. MQTT --------------------------------------------------------------------------

    def mqtt(self, mode: str, workers: int) -> Result:
        args = self.args
        path = f"mqtt {mode} ×{workers}"
        pace = f"{args.rate:,.0f} samples/s" if args.rate > 0 else "as fast as they go"
        if mode == "live":
            print(
                f"\n[{path}] {args.gateways:,} gateways over {args.publishers} publisher "
                f"process(es), {pace} → Mosquitto → {workers} × essmon ingest-mqtt → "
                f"PostgreSQL; QoS 1, one sample per message"
            )
        else:
            print(
                f"\n[{path}] the workers' sessions made and left; {self.plan.total:,} rows "
                f"published while no worker runs; then {workers} × essmon ingest-mqtt drain "
                f"the broker's queue into PostgreSQL"
            )
        broker, port, service_port, worker_env = self.start_broker(f"{mode}-{workers}")
        # unguessable, as essmon's own (essmon.mqtt.worker.worker_client_id)
        client_ids = [f"essmon-bench-{n}-{secrets.token_hex(16)}" for n in range(workers)]
        result = Result(path, 0, 0.0, 0, workers=workers)
        shown = 0
        if mode == "drain":
            # the sessions and their shared subscription, left with no worker running
            first_start = self.start_workers(client_ids, worker_env)
            broker.wait_subscribed(client_ids)
            for worker in first_start:
                self.processes.stop(worker)
            fleet = self.publish_all(port, result)
            shown = len(result.notes)  # printed as they came
            self.checkpoint()
            broker.pause()  # the workers connect meanwhile and wait for their CONNACK
            processes = self.start_workers(client_ids, worker_env)
            self.wait_connected(service_port, processes)
        else:
            processes = self.start_workers(client_ids, worker_env)
            broker.wait_subscribed(client_ids)
            fleet = Fleet(self, port, args.rate)
            self.checkpoint()
        server = postgres_server()
        publishers = fleet.processes if mode == "live" else []
        meter = CpuMeter(
            lambda: {
                "workers": [w.pid for w in processes],
                "mosquitto": [broker.process.pid],
                "publishers": [p.pid for p in publishers],
                "postgres": [server] if server else [],
                "benchmark": [os.getpid()],
            },
            trees=frozenset({"postgres"}),
        )
        stored_rows = StoredRows(self)
        outcome = Outcome(snapshots={"start": meter.snap()})
        profiler = None
        if mode == "live":
            start = fleet.go(time.monotonic() + 0.2)
            if args.profile and not self.profiled:
                self.profiled = True
                profiler = Profiler(self, processes[0].pid)
        else:
            start = time.monotonic()
            broker.resume()
        servers = {"mosquitto": broker.process}
        servers.update((f"worker {n}", w) for n, w in enumerate(processes))
        self.watch_mqtt(
            outcome,
            meter,
            fleet if mode == "live" else None,
            servers,
            stored_rows,
            start,
            profiler,
        )
        outcome.ended_at = time.monotonic()
        outcome.snapshots["end"] = meter.snap()
        if profiler:
            profiler.finish()
        if mode == "live":
            fleet.stop()
        for worker in processes:
            self.processes.stop(worker)
        broker_log = broker.log_file.read_text() if broker.log_file.exists() else ""
        self.processes.stop(broker.process)

        expected = {g: self.plan.count_for(g) for g in range(self.plan.gateways)}
        stored, missing, problems = self.stored_check(expected)
        end = outcome.all_stored_at or outcome.ended_at
        result.rows, result.lost = stored, missing
        start_snap, end_snap = outcome.snapshots["start"], outcome.snapshots["end"]
        result.ingest_cpu = end_snap.groups["workers"] - start_snap.groups["workers"]
        result.postgres_cpu = end_snap.groups["postgres"] - start_snap.groups["postgres"]
        result.cores = table_cores(CpuMeter.cores(start_snap, end_snap))
        if mode == "live":
            first = fleet.first_sent()
            result.seconds = end - first
            result.notes += self.live_notes(fleet, outcome, first, end)
        else:
            result.seconds = end - start
            result.notes += [
                f"{stored:,} rows stored {result.seconds:.2f} s after the broker let the "
                f"workers in",
                CpuMeter.line(start_snap, end_snap, "while draining"),
            ]
        result.notes.append(cpu_per_row_line(result, "workers'"))
        if not outcome.all_stored_at:
            result.notes.append(
                f"gave up waiting: {stored:,} of {self.plan.total:,} rows stored ({outcome.reason})"
            )
        result.notes += problems[:10]
        if "ERROR" in broker_log.upper():
            result.notes.append(f"the broker logged errors; see {broker.log_file} (--keep)")
        if profiler:
            result.notes.append(profiler.summary())
        for note in result.notes[shown:]:
            print(f"  {note}")
        return result

    def start_broker(self, tag: str) -> tuple[Broker, int, int, dict[str, str]]:
        """A Mosquitto of its own for each MQTT path, so that no session of an earlier one
        (a shared subscription's member that would be handed its share of the messages)
        is left in it; and the workers' environment."""
        from essmon.mqtt.broker import (
            BrokerAddress,
            BrokerFiles,
            write_broker_files,
        )

        port, service_port = free_port(), free_port()
        service = BrokerAddress(
            "127.0.0.1", service_port, SERVICE_USER, secrets.token_urlsafe(24), False
        )
        folder = self.folder / f"broker-{tag}"
        files = BrokerFiles.beside(str(folder / "passwd"), str(folder / "acl"))
        write_broker_files(files, service=service)
        broker = Broker(folder, port, service_port, broker_listeners(files, port, service_port))
        broker.start()
        self.processes.add(broker.process)
        worker_env = {
            **self.env,
            "ESSMON_MQTT_URL": f"mqtt://{SERVICE_USER}:{service.password}@127.0.0.1:{service_port}",
        }
        return broker, port, service_port, worker_env

    def start_workers(self, client_ids: list[str], env: dict[str, str]) -> list:
        return [
            self.processes.start(
                essmon_command("ingest-mqtt", "--client-id", cid),
                env=env,
                log=self.folder / f"{cid}.log",
            )
            for cid in client_ids
        ]

    def wait_connected(self, service_port: int, workers: list, timeout: float = 60) -> None:
        """Until every worker has loaded Django and connected (the paused broker's kernel
        has taken each connection), so that they start together when the broker resumes."""
        deadline = time.monotonic() + timeout
        while connections_to(service_port) < len(workers):
            if any(w.poll() is not None for w in workers):
                raise RuntimeError("a worker ended while connecting; see its log (--keep)")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the workers did not connect within {timeout:.0f} s")
            time.sleep(0.05)

    def publish_all(self, port: int, result: Result) -> Fleet:
        """Every row published, unpaced, with no worker running: each PUBACK (reason 0)
        means the broker queued the message in a worker's session."""
        fleet = Fleet(self, port, 0)
        fleet.go(time.monotonic() + 0.1)
        deadline = time.monotonic() + self.args.drain_seconds
        while not fleet.done():
            if fleet.sum(Stats.RESENT):
                fleet.stop()
                raise RuntimeError(
                    "the broker answered PUBACK 0x10 (no matching subscribers) with every "
                    "worker's session subscribed but offline: it does not queue for a shared "
                    "subscription whose members are all offline, so the drain path cannot run"
                )
            if any(p.exitcode is not None for p in fleet.processes):
                raise RuntimeError("a publisher ended before every row was acknowledged")
            if time.monotonic() > deadline:
                raise RuntimeError("the rows were not all acknowledged within --drain-seconds")
            time.sleep(0.05)
        fleet.stop()
        published, seconds = fleet.sum(Stats.PUBLISHED), fleet.last_ack() - fleet.first_sent()
        result.notes += [
            f"publishers (not timed): {published:,} published and queued in the workers' "
            f"sessions in {seconds:.2f} s ({published / max(seconds, 1e-9):,.0f}/s); "
            f"refused: {fleet.sum(Stats.REFUSED)}; disconnects: {fleet.sum(Stats.DISCONNECTS)}",
            fleet.cpu_line(),
        ]
        for note in result.notes:
            print(f"  {note}")
        return fleet

    def live_notes(self, fleet: Fleet, outcome: Outcome, first: float, end: float) -> list[str]:
        args = self.args
        taken = fleet.sum(Stats.ACKED)
        all_taken = min(fleet.all_acked_at() or end, end)
        taken_rate = taken / max(all_taken - first, 1e-9)
        lag = end - all_taken
        asked = f"asked {args.rate:,.0f}/s" if args.rate > 0 else "unpaced"
        notes = [
            f"publishers: {taken:,} of {fleet.sum(Stats.PUBLISHED):,} published taken by the "
            f"broker (PUBACK) at {taken_rate:,.0f}/s ({asked}); resent after PUBACK 0x10: "
            f"{fleet.sum(Stats.RESENT)}; refused: {fleet.sum(Stats.REFUSED)}; disconnects: "
            f"{fleet.sum(Stats.DISCONNECTS)}",
            fleet.cpu_line(),
            (
                f"last row committed {lag:.2f} s after the broker took the last one; "
                if outcome.all_stored_at
                else ""
            )
            + f"largest backlog {outcome.max_backlog:,} rows",
            *outcome.cpu_lines(),
        ]
        if args.rate > 0:
            kept_pace = taken_rate >= 0.99 * args.rate and lag <= 2.0
            verdict = "MET" if kept_pace and outcome.all_stored_at else "NOT MET"
            notes.append(
                f"pace {args.rate:,.0f} samples/s kept end to end (last row within 2 s of the "
                f"last publish): {verdict}"
            )
        return notes

    def watch_mqtt(self, outcome, meter, fleet, servers, stored_rows, start, profiler) -> None:
        """Follow the path until every row is stored, a process under test ends, the rows
        stop arriving, or --drain-seconds have passed since the last publish (live) or
        the start (drain, where ``fleet`` is None: every row is already at the broker);
        print progress meanwhile."""
        args, total = self.args, self.plan.total
        last_print = last_growth = start
        printed = (0 if fleet else total, 0)
        stored_before = 0
        while True:
            time.sleep(0.1)
            now = time.monotonic()
            # "at the broker": taken by it (its PUBACK), so what a worker could have had
            published = fleet.sum(Stats.ACKED) if fleet else total
            stored = stored_rows.read(now, published)
            outcome.max_backlog = max(outcome.max_backlog, published - stored)
            if fleet and published >= total and "published" not in outcome.snapshots:
                outcome.snapshots["published"] = meter.snap()
            if stored > stored_before:
                stored_before, last_growth = stored, now
            if profiler:
                profiler.poll(now - start)
            if stored >= total:
                outcome.all_stored_at = now
                break
            if fleet and any(p.exitcode is not None for p in fleet.processes):
                outcome.reason = "a publisher ended"
                break
            ended = [name for name, process in servers.items() if process.poll() is not None]
            if ended:
                outcome.reason = f"{', '.join(ended)} ended"
                break
            last_taken = (fleet.all_acked_at() if fleet else start) or now
            if published >= total and now - last_taken > args.drain_seconds:
                outcome.reason = f"--drain-seconds {args.drain_seconds:.0f} passed"
                break
            if published >= total and now - max(last_growth, last_taken) > 30:
                outcome.reason = "no row arrived for 30 s"
                break
            if fleet and not published and now - start > 60:
                outcome.reason = "the broker took no row in 60 s"
                break
            if now - last_print >= PROGRESS_EVERY:
                span = now - last_print
                print(
                    f"  +{now - start:5.1f} s  at the broker {published:>9,} "
                    f"({(published - printed[0]) / span:>7,.0f}/s)  stored {stored:>9,} "
                    f"({(stored - printed[1]) / span:>7,.0f}/s)  backlog {published - stored:>9,}"
                )
                last_print, printed = now, (published, stored)

    # --- 4. HTTPS -------------------------------------------------------------------------

    def https(self) -> Result:
        args = self.args
        port = free_port()
        print(
            f"\n[https] {args.https_clients} keep-alive clients posting {args.https_batch} "
            f"samples per request, bodies made beforehand, for {args.https_seconds:.0f} s → "
            f"gunicorn ({args.web_workers} workers × {args.web_threads} threads) → PostgreSQL"
        )
        # left as written (fmt: skip): a command line, each option beside its value
        web = self.processes.start(
            [sys.executable, "-m", "gunicorn", "essmon.wsgi:application",
             "--bind", f"127.0.0.1:{port}", "--workers", str(args.web_workers),
             "--worker-class", "gthread", "--threads", str(args.web_threads),
             "--log-level", "warning", "--no-control-socket"],
            env=self.env, log=self.folder / "gunicorn.log",
        )  # fmt: skip
        wait_listening(port, web, "gunicorn")
        self.warm_up(f"http://127.0.0.1:{port}")
        context = multiprocessing.get_context("spawn")
        stats = context.RawArray("d", Stats.SIZE)
        ready, go, stop = context.Event(), context.Event(), context.Event()
        start_at = context.RawValue("d", 0.0)
        poster = context.Process(
            target=load.post,
            name="https-clients",
            args=(self.gateways, self.plan, f"http://127.0.0.1:{port}"),
            kwargs=dict(
                batch=args.https_batch,
                concurrency=args.https_clients,
                seconds=args.https_seconds,
                stats=stats,
                ready=ready,
                go=go,
                start_at=start_at,
                stop=stop,
            ),
        )
        poster.start()
        self.processes.add(poster)
        wait_ready([ready], [poster], timeout=120)
        server = postgres_server()
        meter = CpuMeter(
            lambda: {
                "gunicorn": [web.pid],
                "clients": [poster.pid],
                "postgres": [server] if server else [],
                "benchmark": [os.getpid()],
            },
            trees=frozenset({"gunicorn", "postgres"}),
        )
        self.checkpoint()
        started = meter.snap()
        start_at.value = time.monotonic()
        go.set()
        deadline = time.monotonic() + args.https_seconds + 120
        while not stats[Stats.DONE] and poster.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        ended = meter.snap()
        stop.set()
        poster.join(10)
        self.processes.stop(web)

        accepted = int(stats[Stats.ACCEPTED])
        chunk_rows = self.https_expected(accepted)
        stored, _, problems = self.stored_check(chunk_rows)
        seconds = stats[Stats.LAST_ACK] - stats[Stats.FIRST]
        requests = int(stats[Stats.REQUESTS])
        lost = max(0, accepted - stored)
        result = Result("https", stored, seconds, lost)
        result.ingest_cpu = ended.groups["gunicorn"] - started.groups["gunicorn"]
        result.postgres_cpu = ended.groups["postgres"] - started.groups["postgres"]
        result.cores = table_cores(CpuMeter.cores(started, ended))
        clients_cpu = stats[Stats.TIMED_CPU]
        posted = int(stats[Stats.PUBLISHED])
        result.notes += [
            f"{requests:,} requests ({requests / max(seconds, 1e-9):,.0f}/s), mean latency "
            f"{1000 * stats[Stats.LATENCY_SUM] / max(requests, 1):.0f} ms; accepted {accepted:,}, "
            f"duplicates {int(stats[Stats.DUPLICATES])}, rejected {int(stats[Stats.REJECTED])}, "
            f"failed requests {int(stats[Stats.ERRORS])}",
            CpuMeter.line(started, ended, "while posting"),
            cpu_per_row_line(result, "gunicorn's"),
            f"clients' CPU: {clients_cpu:.2f} s for {posted:,} samples posted, "
            f"{clients_cpu / max(posted, 1) * 1e6:.1f} µs per sample beside gunicorn's "
            f"{(result.per_row(result.ingest_cpu) or 0):.1f} (making the bodies beforehand: "
            f"{stats[Stats.SETUP_CPU]:.1f} s, not timed)",
        ]
        if not stats[Stats.ERRORS]:
            result.notes += problems[:10]
        for note in result.notes:
            print(f"  {note}")
        return result

    @staticmethod
    def warm_up(url: str, timeout: float = 30) -> None:
        """Until gunicorn's workers answer: they load Django after the port opens, and that
        second or two is no part of what the path costs."""
        import httpx

        deadline = time.monotonic() + timeout
        answered = 0
        while answered < 20:
            try:
                httpx.get(f"{url}/api/v1/telemetry", timeout=5)  # 405: GET is not allowed
                answered += 1
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise RuntimeError("gunicorn did not answer") from None
                time.sleep(0.2)

    def https_expected(self, accepted: int) -> dict[int, int]:
        """Rows per gateway after ``accepted`` samples posted in (chunk, gateway) order: a
        prefix of each gateway's rows (exact when no request failed)."""
        expected = dict.fromkeys(range(self.plan.gateways), 0)
        left, chunk = accepted, 0
        while left > 0:
            for g in range(self.plan.gateways):
                n = min(
                    self.args.https_batch, self.plan.count_for(g) - chunk * self.args.https_batch
                )
                if n <= 0 or left <= 0:
                    continue
                take = min(n, left)
                expected[g] += take
                left -= take
            chunk += 1
            if chunk * self.args.https_batch >= self.plan.count_for(0):
                break
        return expected

    # --- report ----------------------------------------------------------------------------

    def print_table(self) -> None:
        reference = self.results[0].rate
        cpus = os.cpu_count() or 1
        print()
        header = (
            f"{'path':<15} {'rows':>10} {'seconds':>8} {'samples/s':>10} {'vs ref':>7} "
            f"{'ingest µs':>10} {'PG µs/row':>10} {'lost':>6}"
        )
        print(header)
        print("-" * len(header))
        for r in self.results:
            ratio = r.rate / reference if reference else 0.0
            print(
                f"{r.path:<15} {r.rows:>10,} {r.seconds:>8.2f} {r.rate:>10,.0f} {ratio:>7.3f} "
                f"{fmt_us(r.per_row(r.ingest_cpu)):>10} {fmt_us(r.per_row(r.postgres_cpu)):>10} "
                f"{r.lost:>6,}"
            )
        print(
            "ingest µs: CPU per sample of psql (reference), the workers (mqtt) or gunicorn "
            "(https); PG µs/row: the PostgreSQL server's CPU per row stored"
        )
        print(f"\ncores used over each path's timed part ({cpus} on this machine):")
        header = f"{'path':<15} " + " ".join(f"{name:>10}" for name in TABLE_GROUPS)
        print(header)
        print("-" * len(header))
        for r in self.results:
            full = r.cores.get("machine", 0.0) >= 0.9 * cpus
            print(
                f"{r.path:<15} "
                + " ".join(f"{r.cores.get(name, 0.0):>10.2f}" for name in TABLE_GROUPS)
                + ("  cores the limit" if full else "")
            )
        print(
            "ingest: psql, the workers or gunicorn; load: the publishers or the HTTPS clients; "
            "other: the rest of the machine (the benchmark, other users); 'cores the limit': "
            "the machine was 90 % busy or more"
        )
        for line in self.scaling_lines():
            print(line)
        for line in self.target_lines(reference):
            print(line)
        (restarted,) = self.sql("SELECT pg_postmaster_start_time() <> %s", (self.pg_started,))[0]
        if restarted or self.reconnects:
            print("\nWARNING: PostgreSQL restarted during the run; these figures are not valid")

    def scaling_lines(self) -> list[str]:
        """Throughput per worker added, from each count to the next of the same path."""
        lines = []
        for mode in self.args.mqtt:
            runs = [r for r in self.results if r.path.startswith(f"mqtt {mode} ")]
            for a, b in itertools.pairwise(runs):
                per_worker = (b.rate - a.rate) / (b.workers - a.workers)
                lines.append(
                    f"  mqtt {mode}: {a.workers} → {b.workers} workers: {per_worker:+,.0f} "
                    f"samples/s per worker added (×{b.rate / max(a.rate, 1e-9):.2f}; machine "
                    f"{a.cores.get('machine', 0):.2f} → {b.cores.get('machine', 0):.2f} cores)"
                )
        return ["\nworkers added:", *lines] if lines else []

    def target_lines(self, reference: float) -> list[str]:
        lines = []
        for r in self.results[1:]:
            kind = "https" if r.path == "https" else "mqtt"
            ratio = r.rate / reference if reference else 0.0
            met = ratio >= ISSUE_16[kind] and not r.lost
            parts = [f"{ratio:.3f} of \\copy (≥ {ISSUE_16[kind]:.2f})"]
            worker_us = r.per_row(r.ingest_cpu)
            if kind == "mqtt" and worker_us is not None:
                met = met and worker_us <= ISSUE_16["worker_us"]
                parts.append(f"{worker_us:.1f} µs of worker CPU per sample (≤ 25)")
            lines.append(f"  {r.path}: {', '.join(parts)}: {'met' if met else 'not met'}")
        return ["\nissue 16's targets (nothing lost, and):", *lines] if lines else []


def code_version() -> str:
    """The commit measured, and whether essmon's code differed from it."""

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=False
        )
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "HEAD")
    if not commit:
        return "(not a git checkout)"
    changed = git("status", "--porcelain", "--", "essmon")
    return f"commit {commit}" + (" with uncommitted changes in essmon/" if changed else "")


TABLE_GROUPS = ("ingest", "mosquitto", "postgres", "load", "other", "machine")


def table_cores(cores: dict[str, float], *, ingest: float | None = None) -> dict[str, float]:
    """A path's cores in the summary's columns: ingest is the workers, gunicorn or psql
    (``ingest``, which no group holds and so sits in ``other`` until taken out of it);
    load the publishers or the HTTPS clients; the benchmark's own process goes to other."""
    table = {
        "ingest": cores.get("workers", cores.get("gunicorn", 0.0)),
        "mosquitto": cores.get("mosquitto", 0.0),
        "postgres": cores.get("postgres", 0.0),
        "load": cores.get("publishers", cores.get("clients", 0.0)),
        "other": cores.get("other", 0.0) + cores.get("benchmark", 0.0),
        "machine": cores["machine"],
    }
    if ingest is not None:
        table["ingest"] = ingest
        table["other"] = max(0.0, table["other"] - ingest)
    return table


def fmt_us(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def cpu_per_row_line(result: Result, who: str) -> str:
    return (
        f"{who} CPU: {result.ingest_cpu or 0:.2f} s for {result.rows:,} samples, "
        f"{fmt_us(result.per_row(result.ingest_cpu))} µs per sample; PostgreSQL's: "
        f"{result.postgres_cpu or 0:.2f} s, {fmt_us(result.per_row(result.postgres_cpu))} µs "
        f"per row"
    )


def wait_ready(ready, processes, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not all(r.is_set() for r in ready):
        if any(p.exitcode not in (None, 0) for p in processes):
            raise RuntimeError("a load process failed while getting ready")
        if time.monotonic() > deadline:
            raise RuntimeError("the load processes did not get ready in time")
        time.sleep(0.05)


class Fleet:
    """The publisher processes of one MQTT path (load.publish), each with its share of the
    gateways; made ready (packets made, every gateway connected) before it returns."""

    def __init__(self, bench: Bench, port: int, rate: float) -> None:
        n = bench.args.publishers
        context = multiprocessing.get_context("spawn")
        self.stats = [context.RawArray("d", Stats.SIZE) for _ in range(n)]
        ready = [context.Event() for _ in range(n)]
        self.go_event, self.stop_event = context.Event(), context.Event()
        self.start_at = context.RawValue("d", 0.0)
        self.processes = []
        for slot in range(n):
            process = context.Process(
                target=load.publish,
                name=f"publisher-{slot}",
                args=(
                    slot,
                    bench.gateways[slot::n],
                    bench.plan,
                    port,
                    rate,
                    self.stats[slot],
                    ready[slot],
                    self.go_event,
                    self.start_at,
                    self.stop_event,
                ),
            )
            process.start()
            bench.processes.add(process)
            self.processes.append(process)
        wait_ready(ready, self.processes, timeout=120 + bench.plan.total / 20_000)

    def go(self, at: float) -> float:
        self.start_at.value = at
        self.go_event.set()
        return at

    def stop(self) -> None:
        self.stop_event.set()
        for process in self.processes:
            process.join(10)

    def sum(self, slot: int) -> int:
        return int(sum(s[slot] for s in self.stats))

    def done(self) -> bool:
        return all(s[Stats.DONE] for s in self.stats)

    def first_sent(self) -> float:
        return min((s[Stats.FIRST] for s in self.stats if s[Stats.FIRST]), default=0.0)

    def all_acked_at(self) -> float:
        """When the broker had taken every row (its PUBACK); 0 until then."""
        return max(s[Stats.LAST_ACK] for s in self.stats) if self.done() else 0.0

    def last_ack(self) -> float:
        return max(s[Stats.LAST_ACK] for s in self.stats)

    def cpu_line(self) -> str:
        """The publishers' own CPU (time.process_time in each), per message."""
        timed, setup = self.sum_float(Stats.TIMED_CPU), self.sum_float(Stats.SETUP_CPU)
        published = max(self.sum(Stats.PUBLISHED), 1)
        return (
            f"publishers' CPU: {timed:.2f} s from the start to the last PUBACK, "
            f"{timed / published * 1e6:.1f} µs per message; making the packets and "
            f"connecting beforehand: {setup:.2f} s, not timed"
        )

    def sum_float(self, slot: int) -> float:
        return sum(s[slot] for s in self.stats)


@dataclass
class Outcome:
    all_stored_at: float | None = None
    max_backlog: int = 0
    reason: str = ""
    ended_at: float = 0.0
    snapshots: dict[str, Snapshot] = field(default_factory=dict)

    def cpu_lines(self) -> list[str]:
        start, end = self.snapshots["start"], self.snapshots["end"]
        published = self.snapshots.get("published")
        if published is None:
            return [CpuMeter.line(start, end, "while the broker took the rows")]
        return [
            CpuMeter.line(start, published, "until the broker had every row"),
            CpuMeter.line(published, end, "after"),
        ]


class StoredRows:
    """How many samples the MQTT workers have committed, read often and cheaply: the
    workers' own counter (mqtt IngestCounter, samples_accepted), added just after each
    batch commits. Should that counter be missing or stand still while the broker has
    taken messages, fall back to count(*) once a second, which costs the database more.
    The counter runs on across the run's paths: what it held when the path began is taken
    off."""

    def __init__(self, bench: Bench) -> None:
        self.bench = bench
        self.use_counter = True
        self.counted_at = 0.0
        self.value = 0
        self.started = time.monotonic()
        self.baseline = 0
        self.baseline = self.counter() or 0

    def counter(self) -> int | None:
        from django.db import ProgrammingError

        try:
            from essmon.mqtt.models import IngestCounter

            (value,) = self.bench.sql(
                f"SELECT coalesce(sum(count), 0) FROM {IngestCounter._meta.db_table}"
                " WHERE transport = 'mqtt' AND name = 'samples_accepted'"
            )[0]
        except (ImportError, ProgrammingError):
            self.use_counter = False
            return None
        return int(value) - self.baseline

    def read(self, now: float, published: int) -> int:
        from django.db import InterfaceError, OperationalError

        try:
            if self.use_counter:
                value = self.counter()
                if value is not None:
                    if value or published == 0 or now - self.started < 10:
                        self.value = value
                        return self.value
                    self.use_counter = False
            if now - self.counted_at >= 1.0:
                self.counted_at = now
                table = self.bench.sample_table()
                self.value = int(self.bench.sql(f"SELECT count(*) FROM {table}")[0][0])
        except (OperationalError, InterfaceError):
            pass  # the database is away for now: the last figure stands, the run notes it
        return self.value


class Profiler:
    """py-spy on a worker, from 5 s into the run, twice for --profile seconds each: first
    only the samples holding the GIL (Python code running: what a faster worker must cut),
    then every thread not idle (which adds the time spent waiting for the GIL)."""

    RATE = 100
    DELAY = 5.0
    PASSES = (
        ("holding the GIL", ["--gil"]),
        ("on the CPU or waiting for the GIL (py-spy's default)", []),
    )

    def __init__(self, bench: Bench, pid: int) -> None:
        self.bench, self.pid = bench, pid
        self.seconds = max(1, round(bench.args.profile))
        self.runs: list[tuple[str, Path, object]] = []
        self.tool = py_spy()
        if self.tool is None:
            print("  --profile: py-spy is not installed (.venv/bin/pip install py-spy)")

    def poll(self, elapsed: float) -> None:
        if not self.tool or len(self.runs) == len(self.PASSES):
            return
        if self.runs and self.runs[-1][2].poll() is None:
            return
        if elapsed < self.DELAY + len(self.runs) * (self.seconds + 1):
            return
        label, flags = self.PASSES[len(self.runs)]
        output = self.bench.folder / f"worker-{len(self.runs)}.pyspy.raw"
        process = pyspy_summary.record(
            self.tool, self.pid, seconds=self.seconds, rate=self.RATE, output=output, flags=flags
        )
        self.bench.processes.add(process)
        self.runs.append((label, output, process))

    def finish(self) -> None:
        for _, _, process in self.runs:
            process.wait(self.seconds + 30)

    def summary(self) -> str:
        if not self.runs:
            return "profile: the run ended before py-spy started"
        parts = []
        for label, output, process in self.runs:
            if not output.exists():
                error = process.stderr.read().decode()[-300:]
                parts.append(f"profile ({label}): py-spy wrote nothing ({error})")
                continue
            parts.append(
                f"profile of the first worker, {label}:\n"
                + pyspy_summary.summarize(
                    output, seconds=self.seconds, rate=self.RATE, root=str(ROOT)
                )
            )
        return "\n".join(parts)


if __name__ == "__main__":
    sys.exit(main())
