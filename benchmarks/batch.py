"""CPU per sample of the MQTT worker's batch step, ``process_messages``, without the
broker: 20 batches of 1,000 one-sample telemetry messages (the benchmark's rows, 100
gateways), the first untimed. Run it in two checkouts against their own databases to
compare commits (docs/performance.md, "Ingest").

    ESSMON_DATABASE_URL=postgres://postgres@127.0.0.1:5432/<db> \\
        .venv/bin/python benchmarks/batch.py [--profile]

The database must be migrated (``essmon migrate``); the script adds gateways ``96PM…``
and removes them and their samples before and after.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import rows

GATEWAYS = 100
MESSAGES = 20_000
BATCH = 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", action="store_true", help="print cProfile's top frames")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "essmon.settings")
    import django

    django.setup()
    from essmon.gateways.models import Gateway
    from essmon.mqtt.process import DeadLetterCap, GatewayCache, Incoming, process_messages
    from essmon.telemetry.connectivity import ContactBuffer
    from essmon.telemetry.models import Sample

    def gateway_id(g: int) -> str:
        return f"96PM{g:08d}"

    def clean() -> None:
        ids = list(
            Gateway.objects.filter(gateway_id__startswith="96PM").values_list("pk", flat=True)
        )
        Sample.objects.filter(gateway_id__in=ids).delete()
        Gateway.objects.filter(pk__in=ids).delete()

    clean()
    now = datetime.now(UTC)
    Gateway.objects.bulk_create(
        Gateway(gateway_id=gateway_id(g), provisioned_at=now - timedelta(days=30))
        for g in range(GATEWAYS)
    )
    plan = rows.Plan.make(gateways=GATEWAYS, total=MESSAGES, now=now)
    messages = []
    for i in range(MESSAGES):
        g, seq = i % GATEWAYS, i // GATEWAYS
        body = rows.batch_json(gateway_id(g), [rows.sample_json(g, seq, plan.ts(seq))])
        messages.append(Incoming(f"essmon/v1/{gateway_id(g)}/telemetry", body.encode()))
    batches = [messages[i : i + BATCH] for i in range(0, MESSAGES, BATCH)]
    cache, cap, contacts = GatewayCache(), DeadLetterCap(), ContactBuffer()
    profile = cProfile.Profile()
    try:
        process_messages(batches[0], cache=cache, cap=cap, contacts=contacts)
        start = time.process_time()
        if args.profile:
            profile.enable()
        accepted = 0
        for batch in batches[1:]:
            outcome = process_messages(batch, cache=cache, cap=cap, contacts=contacts)
            accepted += outcome.counts["samples_accepted"]
        profile.disable()
        used = time.process_time() - start
    finally:
        clean()
    timed = MESSAGES - BATCH
    print(
        f"{used / timed * 1e6:.1f} µs of CPU per sample in process_messages ({accepted:,} stored)"
    )
    if accepted != timed:
        sys.exit(f"{timed - accepted} samples not stored")
    if args.profile:
        pstats.Stats(profile).sort_stats("tottime").print_stats(20)


if __name__ == "__main__":
    main()
