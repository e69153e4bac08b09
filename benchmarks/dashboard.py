"""benchmarks/dashboard: the monitoring site's server time, next to its SQL run in psql.

1. Load: a fleet of ``--gateways`` (1,000) owned gateways with their owners and 案件, of
   which one has ``--days`` (730) of 1-minute samples (about a million rows) and the others
   the last ``--fleet-hours`` (24) of them, written by the simulator's physics and loaded
   with ``psql \\copy``; live states, connectivity and events; the energy rollups made by
   the real job (``rollup_energy``). For the fleet page, ``--fleet`` (5,000) gateways in
   all: the others carry a live state, events and a week of hourly rollups but no samples.
   One dealer is linked to the first 1,000, another to all 5,000.
2. Measure: each view ``--requests`` times (the fleet page ``--fleet-requests`` times)
   through Django's whole request/response cycle in this process (``django.test.Client``,
   logged in as the gateway's owner or the dealer), after a warm-up.
3. Reference: the statements one request of the view ran (captured), run the same number of
   times in one ``psql`` session with ``\\timing on``: what the database alone takes.

Also: the year view of the two-year gateway next to that of a gateway with one day of
samples, and the tables its statements read (EXPLAIN). Exits 1 if a target is missed.
See docs/performance.md ("Dashboard (monitoring site)").

Run from anywhere as ``benchmarks/dashboard``; ``--help`` lists the options.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import multiprocessing
import os
import random
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import dashboard_data
import rows
from dashboard_data import Series
from infra import CpuMeter, Postgres, essmon_command, postgres_server, run_main

ROOT = Path(__file__).resolve().parent.parent
JST = ZoneInfo("Asia/Tokyo")
META_TABLE = "bench_dashboard_meta"
# databases this benchmark must never drop, whatever --database says
PROTECTED = re.compile(r"^(test.*|essmon|essmon_me|postgres|template[01])$")
GATEWAY_PREFIX = "98DB"  # the protocol's ID shape; lot 98 is not a real year's
BIG, ONE_DAY = 0, 1  # gateway indexes: the two-year one, and one with a day of samples
FLEET_DEALER_EMAIL = "fleet-dealer@bench.example"
SMALL_DEALER_EMAIL = "dealer@bench.example"
SURNAMES = (
    "佐藤",
    "鈴木",
    "高橋",
    "田中",
    "伊藤",
    "渡辺",
    "山本",
    "中村",
    "小林",
    "加藤",
    "吉田",
    "山田",
    "佐々木",
    "山口",
    "松本",
    "井上",
    "木村",
    "林",
    "斎藤",
    "清水",
    "御室",
    "嵯峨",
)
PREFECTURES = ("京都府", "大阪府", "滋賀県", "奈良県", "兵庫県", "三重県")
EVENT_CODES = (
    ("E101", "minor"),
    ("E204", "major"),
    ("E305", "critical"),
    ("N001", "info"),
    ("N010", "info"),
    ("E150", "minor"),
)
READS = re.compile(r"\s*(SELECT|WITH)\b", re.IGNORECASE)
TIME_LINE = re.compile(r"^Time: ([0-9.]+) ms", re.MULTILINE)


DESCRIPTION = (
    "Server time of the monitoring site's day, month, year and lifetime views, live "
    "endpoint and dealer fleet page over two years of one gateway's 1-minute samples, next "
    "to the same SQL run in psql (the reference). Exits 1 if a target is missed."
)


def parse_args(
    argv: list[str] | None,
    *,
    prog: str = "benchmarks/dashboard",
    description: str = DESCRIPTION,
    database: str = "essmon_bench_dashboard",
) -> argparse.Namespace:
    """The options of this benchmark, and of benchmarks/api, which loads the same data."""
    parser = argparse.ArgumentParser(
        prog=prog, description=description, formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    add = parser.add_argument
    add("--days", type=int, default=730, help="days of 1-minute samples of the big gateway")
    add("--gateways", type=int, default=1000, help="gateways with samples (the big one included)")
    add("--fleet-hours", type=int, default=24, help="hours of 1-minute samples of the others")
    add("--fleet", type=int, default=5000, help="gateways linked to the fleet dealer, in all")
    add("--requests", type=int, default=200, help="timed requests per gateway view")
    add("--fleet-requests", type=int, default=50, help="timed requests per fleet page")
    add("--warmup", type=int, default=10, help="untimed requests before each view's timing")
    add(
        "--pg",
        default="postgres@127.0.0.1:5432",
        metavar="USER@HOST:PORT",
        help="PostgreSQL server (trust authentication)",
    )
    add("--database", default=database, help="dropped and made for the run")
    add(
        "--keep",
        action="store_true",
        help="keep the database; reuse it when it holds a complete load with the same sizes "
        "(the data then ends when it was loaded, not now)",
    )
    args = parser.parse_args(argv)
    if args.days < 2 or args.gateways < 2 or args.fleet_hours < 24:
        parser.error("--days and --gateways must be at least 2, --fleet-hours at least 24")
    if args.fleet < args.gateways:
        parser.error("--fleet counts every gateway: at least --gateways")
    if min(args.requests, args.fleet_requests) < 20 or args.warmup < 0:
        parser.error("--requests and --fleet-requests: at least 20 (for a 95th percentile)")
    if PROTECTED.match(args.database):
        parser.error(f"--database {args.database}: not a database this benchmark may drop")
    return args


def main(argv: list[str] | None = None) -> int:
    return run_main("dashboard", Bench(parse_args(argv)), database_errors=True)


# --- figures --------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    """Nearest rank: the smallest value with at least p % of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


@dataclass
class View:
    label: str
    path: str
    who: str  # a key of Bench.users
    target_ms: float
    section: str = ""
    fleet: bool = False  # timed --fleet-requests times
    headers: dict = field(default_factory=dict)
    # filled by the measurement
    server_ms: list[float] = field(default_factory=list)
    psql_ms: list[float] = field(default_factory=list)
    statements: list[str] = field(default_factory=list)
    per_statement_ms: list[float] = field(default_factory=list)  # p50 of each statement
    size: int = 0
    other_cores: float = 0.0  # CPU of other processes while the view was timed
    jit_ms: float = 0.0  # JIT compilation of one request's statements (EXPLAIN ANALYZE)

    def missed(self) -> str | None:
        p95 = percentile(self.server_ms, 95)
        if p95 < self.target_ms:
            return None
        return f"{self.label}: p95 {p95:.1f} ms, target under {self.target_ms:.0f} ms"


# --- the run --------------------------------------------------------------------------


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        user, _, address = args.pg.rpartition("@")
        host, _, port = address.partition(":")
        self.pg = Postgres(host or "127.0.0.1", int(port or 5432), user or "postgres")
        self.folder = Path(tempfile.mkdtemp(prefix="essmon-dashboard-"))
        self.created_database = False
        self.generators: list = []
        self.meta: dict = {}
        self.users: dict = {}
        self.views: list[View] = []
        self.misses: list[str] = []
        self.year_pair: list[View] = []

    def run(self) -> int:
        if not shutil.which("psql"):
            raise RuntimeError("psql is not on PATH")
        started = time.monotonic()
        print(self.machine_line())
        reused = self.set_up_database()
        if not reused:
            self.load()
        (pg_started,) = self.sql("SELECT pg_postmaster_start_time()")[0]
        self.describe_data(reused)
        self.measure()
        self.year_against_raw_rows()
        self.print_table()
        print(f"\nwhole run: {time.monotonic() - started:.0f} s")
        if self.sql("SELECT pg_postmaster_start_time()")[0][0] != pg_started:
            print("WARNING: PostgreSQL restarted during the measurement: the figures are suspect")
        if self.misses:
            print("\nTARGETS MISSED:")
            for miss in self.misses:
                print(f"  {miss}")
            return 1
        print("\nall targets met")
        return 0

    def machine_line(self) -> str:
        load = Path("/proc/loadavg").read_text().split()[0]
        return (
            f"{time.strftime('%Y-%m-%d %H:%M %Z')}, essmon {code_version()}\n"
            f"machine: {os.cpu_count()} CPUs, PostgreSQL {self.pg.version()}, "
            f"Python {sys.version.split()[0]}; load average {load} before the run"
        )

    # --- database ------------------------------------------------------------------------

    def set_up_database(self) -> bool:
        """Make (or, with --keep, reuse) the database, migrate it and set Django up on it.
        Returns True when a complete earlier load is reused."""
        args = self.args
        reused = False
        if self.pg.exists(args.database):
            meta = self.stored_meta()
            if args.keep and meta and meta.get("sizes") == self.sizes():
                reused = True
                self.meta = meta
            else:
                why = "incomplete or other sizes" if args.keep else "no --keep"
                print(f"dropping the existing database {args.database} ({why})")
                self.pg.drop(args.database)
        if not reused:
            self.pg.create(args.database)
        self.created_database = True
        end = datetime.fromtimestamp(self.meta["end"], UTC) if reused else now_minute()
        first = end - timedelta(days=args.days)
        # every month of the samples kept, and a margin: the migration's post_migrate hook
        # makes the partitions from the oldest month kept (telemetry.partitions)
        months = (end.year - first.year) * 12 + end.month - first.month + 1
        env = {k: v for k, v in os.environ.items() if not k.startswith("ESSMON_")}
        env.update(
            DJANGO_SETTINGS_MODULE="essmon.settings",
            ESSMON_DATABASE_URL=self.pg.url(args.database),
            ESSMON_DATA_DIR=str(self.folder / "data"),
            ESSMON_SECRET_KEY=secrets.token_urlsafe(50),
            ESSMON_DEBUG="0",  # as in production; DEBUG also keeps every query in memory
            ESSMON_LOG_LEVEL="WARNING",
            ESSMON_RAW_RETENTION_MONTHS=str(max(25, months + 1)),
        )
        started = time.monotonic()
        done = subprocess.run(
            essmon_command("migrate", "--no-input", "-v", "0"),
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode:
            raise RuntimeError(f"essmon migrate failed: {done.stdout}{done.stderr}")
        os.environ.update(env)
        import django

        django.setup()
        from essmon.telemetry.partitions import ensure_partitions

        ensure_partitions()
        print(
            f"database {args.database}: "
            + ("reused (--keep), " if reused else "made, ")
            + f"migrated in {time.monotonic() - started:.1f} s; "
            f"ESSMON_RAW_RETENTION_MONTHS={env['ESSMON_RAW_RETENTION_MONTHS']}"
        )
        return reused

    def sizes(self) -> dict:
        a = self.args
        return {
            "days": a.days,
            "gateways": a.gateways,
            "fleet_hours": a.fleet_hours,
            "fleet": a.fleet,
        }

    def stored_meta(self) -> dict | None:
        """What an earlier run loaded, written as its load's last step; None when the
        database holds no complete load (the table is missing)."""
        try:
            text = self.pg.psql(
                self.args.database, "-c", f"SELECT value FROM {META_TABLE} WHERE key = 'load'"
            )
        except RuntimeError:
            return None
        return json.loads(text) if text.strip() else None

    def sql(self, query: str, params: tuple | list | None = None) -> list[tuple]:
        """Run a query; without params it is sent as is (a captured statement may hold
        a LIKE pattern's %, which params would make a placeholder)."""
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(query, params)
            return cursor.fetchall() if cursor.description else []

    def psql_command(self, *args: str) -> list[str]:
        # left as written (fmt: skip): a command line, each option beside its value
        return ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", self.pg.host,
                "-p", str(self.pg.port), "-U", self.pg.user, "-d", self.args.database,
                *args]  # fmt: skip

    def cleanup(self) -> None:
        for process in self.generators:
            if process.is_alive():
                process.terminate()
            process.join(5)
        with contextlib.suppress(Exception):  # Django may never have been set up
            from django.db import connections

            connections.close_all()
        if self.created_database and not self.args.keep:
            try:
                self.pg.drop(self.args.database)
            except RuntimeError as exc:
                print(f"could not drop database {self.args.database}: {exc}", file=sys.stderr)
        if self.args.keep and self.created_database:
            print(f"kept: database {self.args.database} (rerun with --keep to reuse it)")
        shutil.rmtree(self.folder, ignore_errors=True)

    # --- 1. the load -----------------------------------------------------------------------

    def load(self) -> None:
        args = self.args
        end = now_minute()
        self.meta = {"sizes": self.sizes(), "end": int(end.timestamp()), "steps": {}}
        steps = self.meta["steps"]
        print(f"\n[load] the data ends at {end:%Y-%m-%d %H:%M} UTC (now)")

        started = time.monotonic()
        pks = self.make_fleet(end)
        steps["registry"] = time.monotonic() - started
        print(
            f"  registry: {args.fleet:,} customers, 案件 and claimed gateways, 2 dealers "
            f"(links to {args.gateways:,} and {args.fleet:,}) in {steps['registry']:.1f} s"
        )

        newest = self.load_samples(pks, end)
        started = time.monotonic()
        self.make_states(pks, newest, end)
        steps["states"] = time.monotonic() - started
        print(f"  live states, connectivity and events in {steps['states']:.1f} s")

        from essmon.telemetry.rollups import rollup_energy

        started = time.monotonic()
        # one run reads every sample received since the last one (here: all of them)
        hours = rollup_energy(now=datetime.now(UTC))
        steps["rollup"] = time.monotonic() - started
        counts = dict(
            self.sql("SELECT period, count(*) FROM telemetry_energyrollup GROUP BY period")
        )
        print(
            f"  rollup_energy (the real job, one run): {hours:,} hours written in "
            f"{steps['rollup']:.1f} s; rollups now: {counts.get('hour', 0):,} hours, "
            f"{counts.get('day', 0):,} days, {counts.get('month', 0):,} months"
        )

        started = time.monotonic()
        light = self.light_rollups(pks, end)
        steps["light_rollups"] = time.monotonic() - started
        if light:
            print(
                f"  {light:,} hourly rollups (7 days) and their days and months written "
                f"directly for the {args.fleet - args.gateways:,} gateways without samples, "
                f"in {steps['light_rollups']:.1f} s"
            )

        started = time.monotonic()
        self.pg.psql(args.database, "-c", "VACUUM (ANALYZE)")
        # the load's dirty pages written now, not while the views are timed
        self.pg.psql(args.database, "-c", "CHECKPOINT")
        steps["vacuum"] = time.monotonic() - started
        print(
            f"  VACUUM (ANALYZE), as autovacuum would have by now, and CHECKPOINT: "
            f"{steps['vacuum']:.1f} s"
        )
        self.sql(f"CREATE TABLE {META_TABLE} (key text PRIMARY KEY, value text NOT NULL)")
        self.sql(f"INSERT INTO {META_TABLE} VALUES ('load', %s)", [json.dumps(self.meta)])

    def make_fleet(self, end: datetime) -> list[int]:
        """Customers, 案件, gateways, dealers and links, straight into the tables (bulk);
        returns the gateways' database ids in index order."""
        from django.db import transaction

        from essmon.accounts.models import User
        from essmon.dealers.models import Dealer, DealerLink
        from essmon.gateways.models import Gateway, Site

        args = self.args
        rng = random.Random("dashboard-fleet")
        claimed = end - timedelta(days=args.days + 3)
        with transaction.atomic():
            users = User.objects.bulk_create(
                [
                    User(
                        email=f"owner{n:05d}@bench.example",
                        password="!",  # unusable: the run logs in with force_login
                        role=User.Role.CUSTOMER,
                        name=f"{SURNAMES[n % len(SURNAMES)]} {n:05d}",
                        furigana="ベンチ",
                        prefecture=PREFECTURES[n % len(PREFECTURES)],
                        phone="+819012345678",
                        is_active=True,
                        activated_at=claimed,
                    )
                    for n in range(args.fleet)
                ],
                batch_size=1000,
            )
            sites = Site.objects.bulk_create(
                [
                    Site(
                        owner=user,
                        name=f"{SURNAMES[n % len(SURNAMES)]}邸 {n:05d}",
                        postal_code="6008216",
                        prefecture=PREFECTURES[n % len(PREFECTURES)],
                        address_rest=f"京都市下京区東塩小路町{n % 900 + 1}",
                    )
                    for n, user in enumerate(users)
                ],
                batch_size=1000,
            )
            gateways = Gateway.objects.bulk_create(
                [
                    Gateway(
                        gateway_id=gateway_code(n),
                        model="KP-GWBT-C" if n % 10 == 9 else "KP-GWBT-A",
                        password_hash="!",
                        state=Gateway.State.CLAIMED,
                        owner=user,
                        site=site,
                        provisioned_at=claimed - timedelta(days=30),
                        held_at=claimed,
                        claimed_at=claimed + timedelta(minutes=rng.randint(0, 10**5)),
                    )
                    for n, (user, site) in enumerate(zip(users, sites, strict=True))
                ],
                batch_size=1000,
            )
            dealers = []
            for email, code, name in (
                (SMALL_DEALER_EMAIL, "D9800001", "京都蓄電サービス"),
                (FLEET_DEALER_EMAIL, "D9800002", "関西エネルギー保守"),
            ):
                user = User.objects.create(
                    email=email,
                    password="!",
                    role=User.Role.DEALER,
                    name="販売 一郎",
                    phone="+81751112222",
                    is_active=True,
                    activated_at=claimed,
                )
                dealers.append(
                    Dealer.objects.create(user=user, dealer_code=code, company_name=name)
                )
            small, fleet = dealers
            DealerLink.objects.bulk_create(
                [
                    DealerLink(gateway=g, dealer=dealer, created_by=g.owner, created_at=claimed)
                    for dealer, linked in ((small, gateways[: args.gateways]), (fleet, gateways))
                    for g in linked
                ],
                batch_size=1000,
            )
        return [g.pk for g in gateways]

    def load_samples(self, pks: list[int], end: datetime) -> dict[int, dict]:
        """The samples, written as CSV by two processes (the simulator is pure Python) and
        loaded with ``psql \\copy``, both files at once; returns each gateway's newest."""
        args = self.args
        last = int(end.timestamp())
        big = Series(pks[BIG], "KP-GWBT-A", gateway_code(BIG), last, args.days * 1440)
        others = [
            Series(
                pks[n],
                "KP-GWBT-C" if n % 10 == 9 else "KP-GWBT-A",
                gateway_code(n),
                last,
                args.fleet_hours * 60,
            )
            for n in range(1, args.gateways)
        ]
        # two processes with about the same number of rows each
        share = max(0, (big.count + sum(s.count for s in others)) // 2 - big.count)
        cut = min(len(others), share // max(1, args.fleet_hours * 60))
        jobs = [[big, *others[:cut]], others[cut:]]
        total = sum(s.count for job in jobs for s in job)
        print(
            f"  samples: {big.count:,} for {gateway_code(BIG)} ({args.days} days), "
            f"{args.fleet_hours * 60:,} for each of the other {len(others):,}: {total:,} rows; "
            f"writing CSV with the simulator in {len(jobs)} processes …"
        )
        context = multiprocessing.get_context("spawn")
        results = context.Queue()
        started = time.monotonic()
        paths = []
        for n, job in enumerate(jobs):
            if not job:
                continue
            path = str(self.folder / f"samples-{n}.csv")
            paths.append(path)
            process = context.Process(
                target=dashboard_data.write_series_job,
                args=(job, path, results),
                name=f"csv-{n}",
            )
            process.start()
            self.generators.append(process)
        newest: dict[int, dict] = {}
        for _ in paths:
            path, written, found, seconds = results.get()
            if written is None:
                raise RuntimeError(f"writing {path} failed: {found}")
            newest.update(found)
            print(f"    {Path(path).name}: {written:,} rows in {seconds:.1f} s")
        for process in self.generators:
            process.join()
        generated = time.monotonic() - started

        started = time.monotonic()
        columns = ", ".join(rows.COLUMNS)  # the column order both benchmarks write
        copies = [
            subprocess.Popen(
                self.psql_command(
                    "-c", f"\\copy telemetry_sample ({columns}) FROM '{path}' WITH (FORMAT csv)"
                ),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for path in paths
        ]
        for copy in copies:
            _, error = copy.communicate()
            if copy.returncode:
                raise RuntimeError(f"psql \\copy failed: {error.strip()}")
        copied = time.monotonic() - started
        for path in paths:
            Path(path).unlink()
        self.meta["steps"].update(csv=generated, copy=copied)
        print(
            f"  CSV written in {generated:.1f} s; psql \\copy of {total:,} rows "
            f"({len(paths)} files at once) in {copied:.1f} s ({total / copied:,.0f} rows/s)"
        )
        return newest

    def make_states(self, pks: list[int], newest: dict[int, dict], end: datetime) -> None:
        """Live states as the ingest leaves them (the newest sample's values), an open
        connectivity interval for each gateway heard lately, and events: a few faults and
        notices per gateway over the last two months, some faults still open."""
        from django.db import transaction

        from essmon.alerts.models import Alert
        from essmon.simulator.physics import MODELS, SimulatedSite
        from essmon.telemetry.models import ConnectivityInterval, GatewayEvent, GatewayLiveState

        args = self.args
        rng = random.Random("dashboard-states")
        settings_in_force = {
            "mode": "economy",
            "charge_window": ["23:00", "07:00"],
            "discharge_window": ["07:00", "23:00"],
            "reserve_soc_pct": 30,
            "export_limit_w": 5900,
        }
        states, intervals, events = [], [], []
        alerts: dict[tuple, Alert] = {}  # one open alert per gateway and code at most
        for n, pk in enumerate(pks):
            found = newest.get(pk)
            if found is not None:
                ts = datetime.fromtimestamp(found["epoch"], UTC)
                seen = ts + timedelta(seconds=dashboard_data.RECEIVED_AFTER_SECONDS)
                values, seq = found["values"], found["seq"]
            else:
                # no samples: what a gateway of the same kind reports now
                model = "KP-GWBT-C" if n % 10 == 9 else "KP-GWBT-A"
                site = SimulatedSite(
                    MODELS[model],
                    start=end.timestamp() - 60,
                    seed=gateway_code(n),
                    weather_seed="dashboard",
                    vary_roof=True,
                )
                reading = site.step(60)
                sample = reading.as_sample(0)
                values = {k: v for k, v in sample.items() if k not in ("ts", "seq")}
                # one in thirty silent for a while (offline), the others heard within a minute
                silent = n % 30 == 7
                ts = end - (timedelta(hours=rng.randint(1, 96)) if silent else timedelta())
                seen = ts + timedelta(seconds=rng.randint(0, 50))
                seq = rng.randint(10**5, 10**6)
            states.append(
                GatewayLiveState(
                    gateway_id=pk,
                    last_seen_at=seen,
                    last_sample_ts=ts,
                    last_seq=seq,
                    latest=values,
                    firmware="2.4.1",
                    settings_in_force=settings_in_force,
                    status_ts=seen - timedelta(minutes=rng.randint(0, 60)),
                )
            )
            if end - seen < timedelta(minutes=10):
                intervals.append(
                    ConnectivityInterval(
                        gateway_id=pk, online_from=end - timedelta(days=rng.randint(1, 60))
                    )
                )
            span_days = args.days if n == BIG else 60
            for _ in range(rng.randint(1, 6) if n != BIG else 120):
                code, severity = rng.choice(EVENT_CODES)
                start = end - timedelta(minutes=rng.randint(60, span_days * 1440))
                events.append(
                    GatewayEvent(
                        gateway_id=pk, ts=start, code=code, severity=severity, state="start"
                    )
                )
                # one gateway in forty has a fault still open
                cleared = None
                if severity == "info" or n % 40 != 3:
                    cleared = start + timedelta(minutes=rng.randint(1, 50))
                    events.append(
                        GatewayEvent(
                            gateway_id=pk,
                            ts=cleared,
                            code=code,
                            severity=severity,
                            state="clear",
                        )
                    )
                if severity != "info":  # the alerts the checks made of them, open or closed
                    alerts[(pk, code, cleared is None)] = Alert(
                        gateway_id=pk,
                        kind="fault",
                        code=code,
                        severity=severity,
                        title=code,
                        since=start,
                        opened_at=start,
                        recovered_at=cleared,
                        closed_at=cleared and cleared + timedelta(minutes=5),
                    )
        with transaction.atomic():
            GatewayLiveState.objects.bulk_create(states, batch_size=1000)
            ConnectivityInterval.objects.bulk_create(intervals, batch_size=1000)
            GatewayEvent.objects.bulk_create(events, batch_size=2000, ignore_conflicts=True)
            Alert.objects.bulk_create(alerts.values(), batch_size=2000)
        self.meta["events"] = len(events)
        self.meta["alerts"] = len(alerts)

    def light_rollups(self, pks: list[int], end: datetime) -> int:
        """Hourly rollups for the last 7 days of the gateways without samples, with their
        days and months, so that the fleet page's per-gateway energy has rows to read.
        Written directly: a plausible PV day curve (5.5 kWp) and a flat household load."""
        light = pks[self.args.gateways :]
        if not light:
            return 0
        start = end.replace(minute=0, second=0, microsecond=0) - timedelta(days=7)
        self.sql(
            """
            WITH hours AS (
                SELECT g, h, extract(hour FROM h AT TIME ZONE 'Asia/Tokyo') AS jh
                FROM unnest(%s::bigint[]) AS g
                CROSS JOIN generate_series(%s::timestamptz, %s::timestamptz, '1 hour') AS h
            ), energy AS (
                SELECT g, h,
                    CASE WHEN jh BETWEEN 6 AND 17
                         THEN 5.5 * sin(pi() * (jh - 5.5) / 13) * (0.6 + 0.4 * random())
                         ELSE 0 END AS pv,
                    0.3 + 0.6 * random() AS load
                FROM hours
            )
            INSERT INTO telemetry_energyrollup (gateway_id, period, start, pv_kwh, load_kwh,
                grid_import_kwh, grid_export_kwh, charge_kwh, discharge_kwh, samples, updated_at)
            SELECT g, 'hour', h, pv, load, greatest(load - pv, 0), greatest(pv - load, 0) * 0.7,
                greatest(pv - load, 0) * 0.3, least(load, 0.2), 60, now()
            FROM energy
            """,
            [light, start, end.replace(minute=0, second=0, microsecond=0)],
        )
        for target, source, unit in (("day", "hour", "day"), ("month", "day", "month")):
            self.sql(
                f"""
                INSERT INTO telemetry_energyrollup (gateway_id, period, start, pv_kwh,
                    load_kwh, grid_import_kwh, grid_export_kwh, charge_kwh, discharge_kwh,
                    samples, updated_at)
                SELECT gateway_id, %s, date_trunc('{unit}', start, 'Asia/Tokyo'),
                    sum(pv_kwh), sum(load_kwh), sum(grid_import_kwh), sum(grid_export_kwh),
                    sum(charge_kwh), sum(discharge_kwh), sum(samples), now()
                FROM telemetry_energyrollup
                WHERE period = %s AND gateway_id = ANY(%s::bigint[])
                GROUP BY gateway_id, date_trunc('{unit}', start, 'Asia/Tokyo')
                """,
                [target, source, light],
            )
        (count,) = self.sql(
            "SELECT count(*) FROM telemetry_energyrollup WHERE period = 'hour'"
            " AND gateway_id = ANY(%s::bigint[])",
            [light],
        )[0]
        return count

    def describe_data(self, reused: bool) -> None:
        from essmon.gateways.models import Gateway

        end = datetime.fromtimestamp(self.meta["end"], UTC)
        if reused:
            steps = self.meta["steps"]
            print(
                f"\n[load] reused: loaded earlier, the data ends at {end:%Y-%m-%d %H:%M} UTC "
                f"(CSV {steps['csv']:.0f} s, \\copy {steps['copy']:.0f} s, rollup_energy "
                f"{steps['rollup']:.0f} s when it was loaded)"
            )
        big = Gateway.objects.get(gateway_id=gateway_code(BIG))
        one_day = Gateway.objects.get(gateway_id=gateway_code(ONE_DAY))
        self.big, self.one_day = big, one_day
        (total,) = self.sql("SELECT count(*) FROM telemetry_sample")[0]
        (mine,) = self.sql("SELECT count(*) FROM telemetry_sample WHERE gateway_id = %s", [big.pk])[
            0
        ]
        (theirs,) = self.sql(
            "SELECT count(*) FROM telemetry_sample WHERE gateway_id = %s", [one_day.pk]
        )[0]
        first, last = self.sql(
            "SELECT min(ts), max(ts) FROM telemetry_sample WHERE gateway_id = %s", [big.pk]
        )[0]
        partitions = self.sql(
            "SELECT count(*) FROM pg_inherits WHERE inhparent = 'telemetry_sample'::regclass"
        )[0][0]
        rollups = self.sql("SELECT count(*) FROM telemetry_energyrollup")[0][0]
        size = self.sql("SELECT pg_size_pretty(pg_database_size(current_database()))")[0][0]
        self.meta["rows"] = {"total": total, "big": mine, "one_day": theirs}
        print(
            f"  rows in telemetry_sample: {total:,} in {partitions} monthly partitions; "
            f"{big.gateway_id}: {mine:,} ({first:%Y-%m-%d %H:%M} … {last:%Y-%m-%d %H:%M} UTC), "
            f"{one_day.gateway_id}: {theirs:,}; energy rollups: {rollups:,}; "
            f"database {size}"
        )

    # --- 2. and 3. the measurement -----------------------------------------------------------

    def plan_views(self) -> list[View]:
        """What is timed: the gateway's views as its owner (the JSON the charts read, the
        live fragment htmx polls, and the two HTML pages around them), a dealer's fleet
        table sorted and filtered in the ways that cost the database most, and the live
        page as that dealer."""
        now = datetime.fromtimestamp(self.meta["end"], UTC).astimezone(JST)
        today = now.date()
        yesterday = today - timedelta(days=1)  # the last whole JST day
        big = self.big.gateway_id
        base = f"/monitoring/{big}"
        data = f"{base}/history/data/?view="
        owner = f"gateway {big} ({self.meta['rows']['big']:,} samples), as its owner"
        fleet = f"fleet table, as a dealer with {self.args.fleet:,} gateways"
        views = [
            View(
                "live fragment (htmx)",
                f"{base}/live/",
                "owner",
                50,
                owner,
                headers={"HX-Request": "true"},
            ),
            View(f"day {yesterday} (JSON)", f"{data}day&date={yesterday}", "owner", 50, owner),
            View(f"month {today:%Y-%m} (JSON)", f"{data}month&date={today}", "owner", 50, owner),
            View(f"year {today:%Y} (JSON)", f"{data}year&date={today}", "owner", 50, owner),
            View("lifetime (JSON)", f"{data}lifetime&date={today}", "owner", 50, owner),
            View("live page (HTML)", f"{base}/", "owner", 50, owner),
            View(
                f"history page, day {yesterday} (HTML)",
                f"{base}/history/?view=day&date={yesterday}",
                "owner",
                50,
                owner,
            ),
        ]
        last = -(-self.args.fleet // 50)  # 50 rows a page
        pages = [
            ("page 1", "?page=1"),
            (f"page {last} (the last)", f"?page={last}"),
            ("sort -soc", "?sort=-soc"),
            ("sort pv_today", "?sort=pv_today"),
            ("sort -alerts", "?sort=-alerts"),
            ("search 田中", "?q=田中"),
            ("status offline", "?status=offline"),
            ("status alerts", "?status=alerts"),
        ]
        views += [
            View(label, f"/monitoring/{query}", "fleet_dealer", 300, fleet, fleet=True)
            for label, query in pages
        ]
        views.append(View(f"live page of {big} (HTML)", f"{base}/", "fleet_dealer", 50, fleet))
        views.append(
            View(
                "page 1",
                "/monitoring/?page=1",
                "small_dealer",
                300,
                f"fleet table, as a dealer with {self.args.gateways:,} gateways",
                fleet=True,
            )
        )
        return views

    def log_in(self) -> None:
        from django.test import Client

        from essmon.accounts.models import User

        who = {
            "owner": self.big.owner,
            "one_day_owner": self.one_day.owner,
            "fleet_dealer": User.objects.get(email=FLEET_DEALER_EMAIL),
            "small_dealer": User.objects.get(email=SMALL_DEALER_EMAIL),
        }
        for key, user in who.items():
            # an allowed host of the default settings; no test environment set-up (it
            # instruments template rendering)
            client = Client(SERVER_NAME="127.0.0.1")
            client.force_login(user)
            self.users[key] = client

    def measure(self) -> None:
        args = self.args
        server = postgres_server()
        # this process with the psql it ran, and the database server, each as a whole; the
        # rest of the machine is "other": anything large there makes the figures suspect
        self.meter = CpuMeter(
            lambda: {"benchmark": [os.getpid()], "postgres": [server] if server else []},
            trees=frozenset({"benchmark", "postgres"}),
        )
        self.log_in()
        self.views = self.plan_views()
        print(
            f"\n[measure] each view {args.requests} times (fleet pages {args.fleet_requests}) "
            f"after {args.warmup} untimed; then its SQL as many times in psql"
        )
        section = None
        for view in self.views:
            if view.section != section:
                section = view.section
                print(f"  {section}:")
            n = args.fleet_requests if view.fleet else args.requests
            self.warm_up(view)
            before = self.meter.snap()
            for _ in range(n):
                self.time_request(view)
            view.other_cores = self.other_cores(before, self.meter.snap())
            self.capture(view)
            view.psql_ms, view.per_statement_ms = self.psql_reference(view.statements, n)
            self.progress(view)
            miss = view.missed()
            if miss:
                self.misses.append(miss)

    @staticmethod
    def other_cores(a, b) -> float:
        seconds = max(b.at - a.at, 1e-9)
        used = sum(max(0.0, b.groups[n] - a.groups[n]) for n in a.groups)
        return max(0.0, (b.machine - a.machine - used) / seconds)

    def warm_up(self, view: View) -> None:
        for _ in range(self.args.warmup):
            self.get(self.users[view.who], view)

    def time_request(self, view: View) -> None:
        started = time.perf_counter()
        response = self.get(self.users[view.who], view)
        view.server_ms.append((time.perf_counter() - started) * 1000)
        view.size = len(response.content)

    def capture(self, view: View) -> None:
        """The statements one request runs (not timed: capturing costs time)."""
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as captured:
            self.get(self.users[view.who], view)
        view.statements = [q["sql"] for q in captured.captured_queries]
        view.jit_ms = sum(self.jit_ms(s) for s in view.statements if READS.match(s))
        writes = [s for s in view.statements if not READS.match(s)]
        if writes:
            print(f"    note: {view.label} writes ({shorten(writes[0], 60)}); psql repeats it too")

    def jit_ms(self, statement: str) -> float:
        """The time PostgreSQL spends JIT-compiling ``statement`` (it does so for any plan
        costed over jit_above_cost, 100,000 by default), from one EXPLAIN ANALYZE."""
        (plan,) = self.sql(f"EXPLAIN (ANALYZE, FORMAT JSON) {statement}")[0]
        plan = json.loads(plan) if isinstance(plan, str) else plan
        total = plan[0].get("JIT", {}).get("Timing", {}).get("Total", 0.0)
        return float(total["Total"] if isinstance(total, dict) else total)  # PostgreSQL 17

    @staticmethod
    def progress(view: View) -> None:
        print(
            f"    {view.label}: server p50 {percentile(view.server_ms, 50):.1f} ms, "
            f"psql p50 {percentile(view.psql_ms, 50):.2f} ms, "
            f"{len(view.statements)} statements, {view.size:,} bytes"
        )

    def get(self, client, view: View):
        response = client.get(view.path, headers=view.headers)
        if response.status_code != 200:
            raise RuntimeError(f"{view.path}: HTTP {response.status_code} for {view.who}")
        return response

    def psql_reference(self, statements: list[str], n: int) -> tuple[list[float], list[float]]:
        """Run ``statements`` (one request's) ``warmup + n`` times in one psql session with
        ``\\timing on``; returns each of the n requests' total, and each statement's p50."""
        if not statements:
            return [0.0] * n, []
        rounds = self.args.warmup + n
        body = "".join(s.strip().rstrip(";") + ";\n" for s in statements)
        script = self.folder / "reference.sql"
        script.write_text("\\timing on\n" + body * rounds)
        done = subprocess.run(
            self.psql_command("-o", "/dev/null", "-f", str(script)),
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode:
            raise RuntimeError(f"psql reference failed: {done.stderr.strip()[:500]}")
        times = [float(t) for t in TIME_LINE.findall(done.stdout)]
        k = len(statements)
        if len(times) != k * rounds:
            raise RuntimeError(f"psql printed {len(times)} timings, expected {k * rounds}")
        times = times[k * self.args.warmup :]
        per_request = [sum(times[i * k : (i + 1) * k]) for i in range(n)]
        per_statement = [percentile(times[j::k], 50) for j in range(k)]
        return per_request, per_statement

    # --- the year view against the raw rows ---------------------------------------------

    def year_against_raw_rows(self) -> None:
        """The year view of the two-year gateway next to that of a gateway with one day of
        samples, their requests alternating so that whatever else the machine does weighs
        on both alike; and the tables the year view's statements read, from their plans."""
        today = datetime.fromtimestamp(self.meta["end"], UTC).astimezone(JST).date()
        rows = self.meta["rows"]
        pair = [
            View(
                f"{gateway.gateway_id} ({count:,} samples)",
                f"/monitoring/{gateway.gateway_id}/history/data/?view=year&date={today}",
                who,
                50,
            )
            for gateway, count, who in (
                (self.big, rows["big"], "owner"),
                (self.one_day, rows["one_day"], "one_day_owner"),
            )
        ]
        n = self.args.requests
        print(f"\n[year {today:%Y} against raw rows] {n} requests each, alternating")
        for view in pair:
            self.warm_up(view)
        before = self.meter.snap()
        for _ in range(n):
            for view in pair:
                self.time_request(view)
        after = self.meter.snap()
        for view in pair:
            view.other_cores = self.other_cores(before, after)
            self.capture(view)
            view.psql_ms, view.per_statement_ms = self.psql_reference(view.statements, n)
            print(
                f"  {view.label}: server p50 {percentile(view.server_ms, 50):.1f} ms, "
                f"p95 {percentile(view.server_ms, 95):.1f} ms; psql p50 "
                f"{percentile(view.psql_ms, 50):.2f} ms, p95 {percentile(view.psql_ms, 95):.2f} "
                f"ms; {len(view.statements)} statements, {view.size:,} bytes"
            )
        big, small = pair
        big50, small50 = percentile(big.server_ms, 50), percentile(small.server_ms, 50)
        print(f"  ratio of the server p50s: {big50 / small50:.2f}")
        touched: set[str] = set()
        print(f"  what the year view of {self.big.gateway_id} reads (EXPLAIN of each statement):")
        for statement in big.statements:
            relations = self.relations(statement)
            touched |= relations
            print(f"    {shorten(statement, 88)}\n      → {', '.join(sorted(relations)) or '—'}")
        reads_samples = any(r.startswith("telemetry_sample") for r in touched)
        print(
            "  telemetry_sample: "
            + ("READ by the year view" if reads_samples else "not read by the year view")
        )
        self.year_pair = pair
        self.misses += [miss for miss in map(View.missed, pair) if miss]
        # independent: no raw row read, and no slower (beyond noise) with a million more
        if reads_samples:
            self.misses.append("year view: its statements read telemetry_sample")
        if big50 > 1.25 * small50 + 1.0:
            self.misses.append(
                f"year view: p50 {big50:.1f} ms with {rows['big']:,} samples against "
                f"{small50:.1f} ms with {rows['one_day']:,}"
            )

    def relations(self, statement: str) -> set[str]:
        head = statement.lstrip().split(None, 1)[0].upper()
        if head not in ("SELECT", "WITH"):
            return set()
        (plan,) = self.sql(f"EXPLAIN (FORMAT JSON) {statement}")[0]
        plan = json.loads(plan) if isinstance(plan, str) else plan
        found: set[str] = set()

        def walk(node: dict) -> None:
            if "Relation Name" in node:
                found.add(node["Relation Name"])
            for child in node.get("Plans", []):
                walk(child)

        walk(plan[0]["Plan"])
        return found

    # --- the report -----------------------------------------------------------------------

    def print_table(self) -> None:
        header = (
            f"{'view':<38} {'N':>4} {'server p50':>10} {'p95':>6} {'max':>6} "
            f"{'psql p50':>9} {'p95':>6} {'SQL':>4} {'JIT':>5} {'other':>5} {'target':>6}"
        )
        print(f"\n{header}\n{'-' * (len(header) + 7)}")
        groups: dict[str, list[View]] = {}
        for view in self.views:
            groups.setdefault(view.section, []).append(view)
        groups["year view against raw rows (requests alternating)"] = self.year_pair
        for section, views in groups.items():
            if not views:
                continue
            print(f"{section}:")
            for view in views:
                s, p = view.server_ms, view.psql_ms
                verdict = "ok" if not view.missed() else "MISSED"
                print(
                    f"  {pad(view.label, 36)} {len(s):>4} {percentile(s, 50):>10.1f} "
                    f"{percentile(s, 95):>6.1f} {max(s):>6.1f} {percentile(p, 50):>9.2f} "
                    f"{percentile(p, 95):>6.2f} {len(view.statements):>4} {view.jit_ms:>5.1f} "
                    f"{view.other_cores:>5.2f} {f'<{view.target_ms:.0f}':>6} {verdict}"
                )
        print(
            "milliseconds; server: the whole Django request in this process; psql: the "
            "request's statements\nin one psql session (\\timing); SQL: statements per request; "
            "JIT: PostgreSQL's JIT compilation\nin one request (EXPLAIN ANALYZE); other: CPU "
            "cores used by processes other than this one, its\npsql and PostgreSQL while the "
            f"view was timed (of {os.cpu_count()})"
        )
        for view in self.views + self.year_pair:
            if not view.missed():
                continue
            server, sql = percentile(view.server_ms, 50), percentile(view.psql_ms, 50)
            worst = max(range(len(view.statements)), key=view.per_statement_ms.__getitem__)
            statement = view.statements[worst]
            print(
                f"\n{view.label}: its statements take {sql:.1f} of its {server:.1f} ms (p50); "
                f"the slowest, {view.per_statement_ms[worst]:.2f} ms in psql:\n{statement}"
            )
            if view.jit_ms:
                print(f"(PostgreSQL JIT-compiles it: {view.jit_ms:.1f} ms of each request)")
            if sql < 0.5 * server:
                print("(most of the time is spent outside the database)")
                continue
            with contextlib.suppress(Exception):
                for (line,) in self.sql(f"EXPLAIN (ANALYZE, BUFFERS) {statement}"):
                    print(f"  {line}")


def now_minute() -> datetime:
    return datetime.now(UTC).replace(second=0, microsecond=0)


def gateway_code(n: int) -> str:
    return f"{GATEWAY_PREFIX}{n:08d}"


def pad(text: str, width: int) -> str:
    """``text`` left-aligned in ``width`` terminal columns (a kanji takes two)."""
    columns = sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)
    return text + " " * max(0, width - columns)


def shorten(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


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


if __name__ == "__main__":
    sys.exit(main())
