"""CPU per sample of the MQTT worker's batch step, ``process_messages``, without the
broker: batches of 1,000 one-sample telemetry messages (the benchmark's rows, 100
gateways), the first untimed; CPU of this process (``time.process_time``) and of the
PostgreSQL backend serving it (from /proc, so the server must run on this machine).

    ESSMON_DATABASE_URL=postgres://postgres@127.0.0.1:5432/<db> \\
        .venv/bin/python benchmarks/batch.py [--messages 20000] [--rounds 1] \\
        [--base ../checkout --base-database postgres://…/<other db>] [--profile]

With ``--base`` the same measurement runs, round for round in turn, in another checkout
(its own ``essmon``, against ``--base-database``), and both are printed side by side: the
before and after of a change in one run (docs/performance.md, "Ingest"). The databases
must be migrated (``essmon migrate``); the script adds gateways ``96PM…`` and removes
them and their samples before and after.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
GATEWAYS = 100
BATCH = 1000


def backend_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(total: int, profile: bool) -> dict[str, float]:
    """One round in this process, against the essmon on sys.path."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "essmon.settings")
    import django

    django.setup()
    import rows
    from django.db import connection

    from essmon.gateways.models import Gateway
    from essmon.mqtt.process import DeadLetterCap, GatewayCache, Incoming, process_messages
    from essmon.telemetry.connectivity import ContactBuffer
    from essmon.telemetry.models import ConnectivityInterval, GatewayLiveState, Sample

    def gateway_id(g: int) -> str:
        return f"96PM{g:08d}"

    def clean() -> None:
        ids = list(
            Gateway.objects.filter(gateway_id__startswith="96PM").values_list("pk", flat=True)
        )
        Sample.objects.filter(gateway_id__in=ids).delete()
        GatewayLiveState.objects.filter(gateway_id__in=ids).delete()
        ConnectivityInterval.objects.filter(gateway_id__in=ids).delete()
        Gateway.objects.filter(pk__in=ids).delete()

    clean()
    now = datetime.now(UTC)
    Gateway.objects.bulk_create(
        Gateway(gateway_id=gateway_id(g), provisioned_at=now - timedelta(days=30))
        for g in range(GATEWAYS)
    )
    plan = rows.Plan.make(gateways=GATEWAYS, total=total, now=now)
    messages = []
    for i in range(total):
        g, seq = i % GATEWAYS, i // GATEWAYS
        body = rows.batch_json(gateway_id(g), [rows.sample_json(g, seq, plan.ts(seq))])
        messages.append(Incoming(f"essmon/v1/{gateway_id(g)}/telemetry", body.encode()))
    batches = [messages[i : i + BATCH] for i in range(0, total, BATCH)]
    cache, cap, contacts = GatewayCache(), DeadLetterCap(), ContactBuffer()
    profiler = cProfile.Profile()
    try:
        process_messages(batches[0], cache=cache, cap=cap, contacts=contacts)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            backend = cursor.fetchone()[0]
        server = backend_cpu(backend)
        start = time.process_time()
        if profile:
            profiler.enable()
        accepted = 0
        for batch in batches[1:]:
            outcome = process_messages(batch, cache=cache, cap=cap, contacts=contacts)
            accepted += outcome.counts["samples_accepted"]
        profiler.disable()
        used = time.process_time() - start
        server = backend_cpu(backend) - server
    finally:
        clean()
    timed = total - BATCH
    if accepted != timed:
        sys.exit(f"{timed - accepted} samples not stored")
    if profile:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    return {"sample_us": used / timed * 1e6, "server_sample_us": server / timed * 1e6}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000, help="per round")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--base", type=Path, help="another checkout to measure in turn")
    parser.add_argument("--base-database", help="its database (ESSMON_DATABASE_URL)")
    parser.add_argument("--profile", action="store_true", help="print cProfile's top frames")
    parser.add_argument("--one-round", type=Path, help=argparse.SUPPRESS)  # essmon root
    args = parser.parse_args()
    if args.one_round is not None:
        sys.path.insert(0, str(HERE))
        sys.path.insert(0, str(args.one_round))
        print(json.dumps(measure(args.messages, args.profile)))
        return
    if args.base is not None and not args.base_database:
        parser.error("--base needs --base-database")
    checkouts = {"this checkout": (HERE.parent, os.environ.get("ESSMON_DATABASE_URL"))}
    if args.base is not None:
        checkouts[f"base {args.base}"] = (args.base.resolve(), args.base_database)
    figures: dict[str, list[dict[str, float]]] = {name: [] for name in checkouts}
    for number in range(args.rounds):
        for name, (root, database) in checkouts.items():
            env = {**os.environ, "ESSMON_DATABASE_URL": database or ""}
            command = [sys.executable, __file__, "--one-round", str(root)]
            command += ["--messages", str(args.messages)] + (["--profile"] * args.profile)
            # a process of its own per round: each checkout imports its own essmon
            done = subprocess.run(command, env=env, cwd=root, capture_output=True, text=True)
            if done.returncode != 0:
                sys.exit(f"{name}: {done.stderr.strip() or done.stdout.strip()}")
            *profile_lines, result = done.stdout.strip().splitlines()
            if args.profile:
                print("\n".join(profile_lines))
            figures[name].append(json.loads(result))
            row = figures[name][-1]
            print(
                f"round {number + 1} {name}: {row['sample_us']:.1f} µs of CPU per sample in"
                f" process_messages; PostgreSQL backend {row['server_sample_us']:.1f} µs"
            )
    timed = args.messages - BATCH
    print(
        f"\n{timed:,} one-sample messages timed per round, in batches of {BATCH:,};"
        f" {args.rounds} round(s); medians, CPU µs per sample:"
    )
    print(f"{'':40} {'process_messages':>17} {'PostgreSQL':>11}")
    for name, rounds in figures.items():
        print(
            f"{name[:40]:40} {statistics.median(r['sample_us'] for r in rounds):17.1f}"
            f" {statistics.median(r['server_sample_us'] for r in rounds):11.1f}"
        )


if __name__ == "__main__":
    main()
