"""CPU per sample of the MQTT worker's batch step, ``process_messages``, without the
broker: batches of 1,000 one-sample telemetry messages (the benchmark's rows, 100
gateways), the first untimed; CPU of this process (``time.process_time``) and of the
PostgreSQL backend serving it (from /proc, so the server must run on this machine).

    ESSMON_DATABASE_URL=postgres://postgres@127.0.0.1:5432/<db> \\
        .venv/bin/python benchmarks/batch.py [--messages 20000] [--rounds 1] \\
        [--base ../checkout --base-database postgres://…/<other db>] [--profile] \\
        [--instructions]

With ``--base`` the same measurement runs, round for round in turn, in another checkout
(its own ``essmon``, against ``--base-database``), and both are printed side by side: the
before and after of a change in one run (docs/performance.md, "Ingest"); with
``--instructions``, also the instructions per sample this process executes (callgrind:
benchmarks/checkouts.py), which other load on the machine does not move. The databases
must be migrated (``essmon migrate``); the script adds gateways ``96PM…`` and removes
them and their samples before and after.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, datetime, timedelta

import checkouts

GATEWAYS = 1000
BATCH = 1000
PREFIX = "96PM"


def measure(total: int, profile: bool, *, gateways: int, python_gc: str) -> dict[str, float]:
    """One round in this process, against the essmon on sys.path."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "essmon.settings")
    import django

    django.setup()
    import rows
    from django.db import connection

    from essmon.gateways.models import Gateway
    from essmon.mqtt.process import DeadLetterCap, GatewayCache, Incoming, process_messages
    from essmon.telemetry.connectivity import ContactBuffer

    def gateway_id(g: int) -> str:
        return f"{PREFIX}{g:08d}"

    checkouts.remove_gateways(PREFIX)
    now = datetime.now(UTC)
    Gateway.objects.bulk_create(
        Gateway(gateway_id=gateway_id(g), provisioned_at=now - timedelta(days=30))
        for g in range(gateways)
    )
    plan = rows.Plan.make(gateways=gateways, total=total, now=now)
    messages = []
    for i in range(total):
        g, seq = i % gateways, i // gateways
        body = rows.batch_json(gateway_id(g), [rows.sample_json(g, seq, plan.ts(seq))])
        messages.append(Incoming(f"essmon/v1/{gateway_id(g)}/telemetry", body.encode()))
    batches = [messages[i : i + BATCH] for i in range(0, total, BATCH)]
    cache, cap, contacts = GatewayCache(), DeadLetterCap(), ContactBuffer()
    try:
        process_messages(batches[0], cache=cache, cap=cap, contacts=contacts)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            backend = cursor.fetchone()[0]
        server = checkouts.backend_cpu(backend)
        if python_gc == "worker":
            _settle_as_the_worker_does()
        accepted = 0
        with checkouts.timed_part(profile) as spent:
            for batch in batches[1:]:
                outcome = process_messages(batch, cache=cache, cap=cap, contacts=contacts)
                accepted += outcome.counts["samples_accepted"]
        server = checkouts.backend_cpu(backend) - server
    finally:
        checkouts.remove_gateways(PREFIX)
    timed = total - BATCH
    if accepted != timed:
        sys.exit(f"{timed - accepted} samples not stored")
    return {
        "sample_us": spent["cpu"] / timed * 1e6,
        "server_sample_us": server / timed * 1e6,
        "units": timed,
    }


def _settle_as_the_worker_does() -> None:
    try:
        from essmon.core.heap import settle_after_startup
    except ImportError:  # a checkout from before it: its worker left Python's default
        return
    settle_after_startup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000, help="per round")
    parser.add_argument("--gateways", type=int, default=GATEWAYS, help="the messages' senders")
    parser.add_argument(
        "--python-gc",
        choices=("worker", "default"),
        default="worker",
        help="the garbage collector as `essmon ingest-mqtt` sets it (essmon/core/heap.py),"
        " or Python's default",
    )
    parser.add_argument(
        "--compare-gc",
        action="store_true",
        help="also rounds of this checkout with Python's default garbage collector, in turn",
    )
    checkouts.add_arguments(parser)
    args = parser.parse_args()
    if checkouts.one_round(
        args,
        lambda: measure(
            args.messages, args.profile, gateways=args.gateways, python_gc=args.python_gc
        ),
    ):
        return
    figures = checkouts.run_rounds(
        __file__,
        args,
        parser,
        passed=["--messages", str(args.messages), "--gateways", str(args.gateways)],
        variants=(
            {"this checkout, default gc": ["--python-gc", "default"]} if args.compare_gc else None
        ),
        describe=lambda row: (
            f"{row['sample_us']:.1f} µs of CPU per sample in process_messages;"
            f" PostgreSQL backend {row['server_sample_us']:.1f} µs"
        ),
    )
    print(
        f"\n{args.messages - BATCH:,} one-sample messages of {args.gateways:,} gateways timed"
        f" per round, in batches of {BATCH:,}; {args.rounds} round(s); medians, CPU µs per"
        " sample:"
    )
    checkouts.print_medians(
        figures,
        [("process_messages", "sample_us", ".1f"), ("PostgreSQL", "server_sample_us", ".1f")],
        instructions=args.instructions,
    )


if __name__ == "__main__":
    main()
