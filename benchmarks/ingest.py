"""benchmarks/ingest: the same rows into PostgreSQL three ways, in one run.

1. reference: ``psql \\copy`` of the rows as CSV into a table made like the sample table
   (same columns, keys, indexes, foreign key and partitions): what PostgreSQL alone does.
2. MQTT, end to end: one connection per gateway publishing one sample per QoS 1 message at
   a set pace → a Mosquitto of the benchmark's own → ``essmon ingest-mqtt`` → PostgreSQL.
3. HTTPS: gunicorn serving essmon, clients posting batches of one gateway's samples.

Each path starts from an empty sample table (the sample, live-state and connectivity
tables are emptied between paths) and the same gateways, and stores the same rows: all
of them for the reference and MQTT, as many as fit in --https-seconds for HTTPS. Every
row is then checked in the database. See docs/performance.md.

Run from anywhere as ``benchmarks/ingest``; ``--help`` lists the options.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
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
    Broker,
    CpuMeter,
    Postgres,
    Processes,
    Snapshot,
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


@dataclass
class Result:
    path: str
    rows: int
    seconds: float
    lost: int
    notes: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="benchmarks/ingest",
        description="Samples per second into PostgreSQL: psql \\copy (the reference), MQTT end "
        "to end and HTTPS, on the same rows. Exits 1 if any row is lost.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add = parser.add_argument
    add("--seconds", type=float, default=60, help="MQTT: publish for this long at --rate")
    add("--rate", type=float, default=10_000, help="MQTT: samples (messages) per second")
    add("--gateways", type=int, default=1000, help="gateways, each with its own connection")
    add("--workers", type=int, default=1, help="essmon ingest-mqtt processes")
    add("--publishers", type=int, default=2, help="processes sharing the gateways' connections")
    add(
        "--drain-seconds",
        type=float,
        default=180,
        help="MQTT: after the last publish, wait at most this long for the rows to land",
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
        help="MQTT: profile the first worker with py-spy from 5 s into the run, this long "
        "holding the GIL, then this long on the CPU",
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
    if args.gateways < 1 or args.rate <= 0 or args.seconds <= 0 or args.workers < 1:
        parser.error("--gateways, --rate, --seconds and --workers must be positive")
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

    # --- set-up and tear-down -----------------------------------------------------------

    def run(self) -> int:
        for tool in ("psql", "mosquitto"):
            if not shutil.which(tool):
                raise RuntimeError(f"{tool} is not on PATH")
        args = self.args
        try:
            self.plan = rows.Plan.make(
                gateways=args.gateways, total=round(args.rate * args.seconds)
            )
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
        self.empty_sample_tables()
        self.results.append(self.mqtt())
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
        started = time.monotonic()
        self.pg.psql(
            self.args.database,
            "-c",
            f"\\copy bench_ref ({', '.join(rows.COLUMNS)}) FROM '{csv_path}' WITH (FORMAT csv)",
        )
        seconds = time.monotonic() - started
        (count,) = self.sql("SELECT count(*) FROM bench_ref")[0]
        self.sql("DROP TABLE bench_ref")
        csv_path.unlink()
        result = Result("reference", count, seconds, self.plan.total - count)
        result.notes.append(self.reference_shape)
        print(f"  {count:,} rows in {seconds:.2f} s")
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

    def mqtt(self) -> Result:
        args = self.args
        print(
            f"\n[mqtt] {args.gateways:,} gateways over {args.publishers} publisher processes → "
            f"Mosquitto → {args.workers} × essmon ingest-mqtt → PostgreSQL; "
            f"{args.rate:,.0f} samples/s for {args.seconds:.0f} s, QoS 1, one sample per message"
        )
        from essmon.mqtt.broker import (
            BrokerAddress,
            BrokerFiles,
            mosquitto_listeners,
            write_broker_files,
        )

        port, service_port = free_port(), free_port()
        service = BrokerAddress(
            "127.0.0.1", service_port, SERVICE_USER, secrets.token_urlsafe(24), False
        )
        folder = self.folder / "broker"
        files = BrokerFiles.beside(str(folder / "passwd"), str(folder / "acl"))
        write_broker_files(files, service=service)
        # the gateways' listener as in production: with essmon's plugin when it is built
        # (`make mosquitto`), else with the generated ACL file
        plugin = ROOT / "build" / "essmon_gateway_acl.so"
        listeners = mosquitto_listeners(
            files,
            gateway_listener=f"{port} 127.0.0.1",
            service_listener=f"{service_port} 127.0.0.1",
            acl_plugin=plugin if plugin.exists() else None,
        )
        broker = Broker(folder, port, service_port, listeners)
        broker.start()
        self.processes.add(broker.process)
        worker_env = {
            **self.env,
            "ESSMON_MQTT_URL": f"mqtt://{SERVICE_USER}:{service.password}@127.0.0.1:{service_port}",
        }
        # unguessable, as essmon's own (essmon.mqtt.worker.worker_client_id)
        client_ids = [f"essmon-bench-{n}-{secrets.token_hex(16)}" for n in range(args.workers)]
        workers = [
            self.processes.start(
                essmon_command("ingest-mqtt", "--client-id", cid),
                env=worker_env,
                log=self.folder / f"{cid}.log",
            )
            for cid in client_ids
        ]
        broker.wait_subscribed(client_ids)

        context = multiprocessing.get_context("spawn")
        stats = [context.RawArray("d", Stats.SIZE) for _ in range(args.publishers)]
        ready = [context.Event() for _ in range(args.publishers)]
        go, stop = context.Event(), context.Event()
        start_at = context.RawValue("d", 0.0)
        publishers = []
        for slot in range(args.publishers):
            mine = self.gateways[slot :: args.publishers]
            process = context.Process(
                target=load.publish,
                name=f"publisher-{slot}",
                args=(
                    slot,
                    mine,
                    self.plan,
                    port,
                    args.rate,
                    stats[slot],
                    ready[slot],
                    go,
                    start_at,
                    stop,
                ),
            )
            process.start()
            self.processes.add(process)
            publishers.append(process)
        self.wait_ready(ready, publishers)
        server = postgres_server()
        meter = CpuMeter(
            lambda: {
                "workers": [w.pid for w in workers],
                "mosquitto": [broker.process.pid],
                "publishers": [p.pid for p in publishers],
                "postgres": [server] if server else [],
                "benchmark": [os.getpid()],
            },
            trees=frozenset({"postgres"}),
        )
        self.checkpoint()
        stored_rows = StoredRows(self)
        outcome = Outcome(snapshots={"start": meter.snap()})
        start_at.value = time.monotonic() + 0.2
        go.set()
        profiler = Profiler(self, workers[0].pid) if args.profile else None
        servers = {"mosquitto": broker.process}
        servers.update((f"worker {n}", w) for n, w in enumerate(workers))
        self.watch_mqtt(
            outcome, meter, stats, publishers, servers, stored_rows, start_at.value, profiler
        )
        outcome.ended_at = time.monotonic()
        outcome.snapshots["end"] = meter.snap()
        if profiler:
            profiler.finish()
        stop.set()
        for process in publishers:
            process.join(10)
        for worker in workers:
            self.processes.stop(worker)
        broker_log = broker.log_file.read_text() if broker.log_file.exists() else ""
        self.processes.stop(broker.process)

        expected = {g: self.plan.count_for(g) for g in range(self.plan.gateways)}
        stored, missing, problems = self.stored_check(expected)
        first = min(s[Stats.FIRST] for s in stats)
        published = int(sum(s[Stats.PUBLISHED] for s in stats))
        end = outcome.all_stored_at or outcome.ended_at
        # a publisher that never got to its last row has no LAST_SENT: the run's end stands in
        last_sent = min(max(s[Stats.LAST_SENT] or end for s in stats), end)
        result = Result("mqtt", stored, end - first, missing)
        publish_rate = published / max(last_sent - first, 1e-9)
        lag = end - last_sent
        result.notes += [
            f"publishers: {published:,} published at {publish_rate:,.0f}/s "
            f"(asked {args.rate:,.0f}/s); resent after PUBACK 0x10: "
            f"{int(sum(s[Stats.RESENT] for s in stats))}; refused: "
            f"{int(sum(s[Stats.REFUSED] for s in stats))}; disconnects: "
            f"{int(sum(s[Stats.DISCONNECTS] for s in stats))}",
            (
                f"last row committed {lag:.2f} s after the last publish; "
                if outcome.all_stored_at
                else ""
            )
            + f"largest backlog {outcome.max_backlog:,} rows",
            *outcome.cpu_lines(),
            outcome.worker_cpu_line(stored),
        ]
        kept_pace = publish_rate >= 0.99 * args.rate and lag <= 2.0
        verdict = "MET" if kept_pace and not missing and not problems else "NOT MET"
        result.notes.append(
            f"target {args.rate:,.0f} samples/s for {args.seconds:.0f} s with no loss: {verdict}"
        )
        if not outcome.all_stored_at:
            result.notes.append(
                f"gave up waiting: {stored:,} of {self.plan.total:,} rows stored ({outcome.reason})"
            )
        result.notes += problems[:10]
        if "ERROR" in broker_log.upper():
            result.notes.append(f"the broker logged errors; see {broker.log_file} (--keep)")
        if profiler:
            result.notes.append(profiler.summary())
        for note in result.notes:
            print(f"  {note}")
        return result

    @staticmethod
    def wait_ready(ready, processes, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not all(r.is_set() for r in ready):
            if any(p.exitcode not in (None, 0) for p in processes):
                raise RuntimeError("a load process failed while connecting")
            if time.monotonic() > deadline:
                raise RuntimeError("the load processes did not get ready in time")
            time.sleep(0.05)

    def watch_mqtt(
        self, outcome, meter, stats, publishers, servers, stored_rows, start, profiler
    ) -> None:
        """Follow the run until every row is stored, a process under test ends, the rows
        stop arriving, or --drain-seconds have passed since the last publish; print
        progress meanwhile."""
        args, total = self.args, self.plan.total
        last_print = last_growth = start
        printed = (0, 0)
        stored_before = 0
        while True:
            time.sleep(0.1)
            now = time.monotonic()
            published = int(sum(s[Stats.PUBLISHED] for s in stats))
            stored = stored_rows.read(now, published)
            outcome.max_backlog = max(outcome.max_backlog, published - stored)
            if published >= total and "published" not in outcome.snapshots:
                outcome.snapshots["published"] = meter.snap()
            if stored > stored_before:
                stored_before, last_growth = stored, now
            if profiler:
                profiler.poll(now - start)
            if stored >= total:
                outcome.all_stored_at = now
                break
            if any(p.exitcode is not None for p in publishers):
                outcome.reason = "a publisher ended"
                break
            ended = [name for name, process in servers.items() if process.poll() is not None]
            if ended:
                outcome.reason = f"{', '.join(ended)} ended"
                break
            last_sent = max(s[Stats.LAST_SENT] for s in stats)
            if published >= total and now - last_sent > args.drain_seconds:
                outcome.reason = f"--drain-seconds {args.drain_seconds:.0f} passed"
                break
            if published >= total and now - max(last_growth, last_sent) > 30:
                outcome.reason = "no row arrived for 30 s"
                break
            if now - start > args.seconds + args.drain_seconds + 60:
                outcome.reason = "the publishers never finished"
                break
            if now - last_print >= PROGRESS_EVERY:
                span = now - last_print
                print(
                    f"  +{now - start:5.1f} s  published {published:>9,} "
                    f"({(published - printed[0]) / span:>7,.0f}/s)  stored {stored:>9,} "
                    f"({(stored - printed[1]) / span:>7,.0f}/s)  backlog {published - stored:>9,}"
                )
                last_print, printed = now, (published, stored)

    # --- 3. HTTPS -------------------------------------------------------------------------

    def https(self) -> Result:
        args = self.args
        port = free_port()
        print(
            f"\n[https] {args.https_clients} clients posting {args.https_batch} samples per "
            f"request for {args.https_seconds:.0f} s → gunicorn ({args.web_workers} workers × "
            f"{args.web_threads} threads) → PostgreSQL"
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
        self.wait_ready([ready], [poster])
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
        result.notes += [
            f"{requests:,} requests ({requests / max(seconds, 1e-9):,.0f}/s), mean latency "
            f"{1000 * stats[Stats.LATENCY_SUM] / max(requests, 1):.0f} ms; accepted {accepted:,}, "
            f"duplicates {int(stats[Stats.DUPLICATES])}, rejected {int(stats[Stats.REJECTED])}, "
            f"failed requests {int(stats[Stats.ERRORS])}",
            CpuMeter.line(started, ended, "while posting"),
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
        print()
        header = f"{'path':<10} {'rows':>10} {'seconds':>9} {'samples/s':>11} {'vs reference':>13} {'lost':>6}"
        print(header)
        print("-" * len(header))
        for r in self.results:
            ratio = r.rate / reference if reference else 0.0
            print(
                f"{r.path:<10} {r.rows:>10,} {r.seconds:>9.2f} {r.rate:>11,.0f} "
                f"{ratio:>13.3f} {r.lost:>6,}"
            )
        (restarted,) = self.sql("SELECT pg_postmaster_start_time() <> %s", (self.pg_started,))[0]
        if restarted or self.reconnects:
            print("\nWARNING: PostgreSQL restarted during the run; these figures are not valid")


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


@dataclass
class Outcome:
    all_stored_at: float | None = None
    max_backlog: int = 0
    reason: str = ""
    ended_at: float = 0.0
    snapshots: dict[str, Snapshot] = field(default_factory=dict)

    def worker_cpu_line(self, stored: int) -> str:
        """The workers' CPU per stored sample over the whole path (issue 16's target)."""
        start, end = self.snapshots["start"], self.snapshots["end"]
        used = max(0.0, end.groups["workers"] - start.groups["workers"])
        per_sample = used / stored * 1e6 if stored else float("nan")
        return f"workers' CPU: {used:.2f} s for {stored:,} samples, {per_sample:.1f} µs per sample"

    def cpu_lines(self) -> list[str]:
        start, end = self.snapshots["start"], self.snapshots["end"]
        published = self.snapshots.get("published")
        if published is None:
            return [CpuMeter.line(start, end, "while publishing")]
        return [
            CpuMeter.line(start, published, "while publishing"),
            CpuMeter.line(published, end, "after the last publish"),
        ]


class StoredRows:
    """How many samples the MQTT workers have committed, read often and cheaply: the
    workers' own counter (mqtt IngestCounter, samples_accepted), added just after each
    batch commits. Should that counter be missing or stand still while the broker has
    taken messages, fall back to count(*) once a second, which costs the database more."""

    def __init__(self, bench: Bench) -> None:
        self.bench = bench
        self.use_counter = True
        self.counted_at = 0.0
        self.value = 0
        self.started = time.monotonic()

    def read(self, now: float, published: int) -> int:
        from django.db import InterfaceError, OperationalError, ProgrammingError

        try:
            if self.use_counter:
                try:
                    from essmon.mqtt.models import IngestCounter

                    (value,) = self.bench.sql(
                        f"SELECT coalesce(sum(count), 0) FROM {IngestCounter._meta.db_table}"
                        " WHERE transport = 'mqtt' AND name = 'samples_accepted'"
                    )[0]
                except (ImportError, ProgrammingError):
                    self.use_counter = False
                else:
                    if value or published == 0 or now - self.started < 10:
                        self.value = int(value)
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
