"""Microseconds of CPU per sample for the ingest's per-sample validation, the old path
(``validate_sample`` per sample) beside the new one (``sample_checker``), in one run; then
the whole of a telemetry body, decoded and checked, by the general way
(``decode_message`` and ``check_samples``) beside the typed fast path
(``decode_sample_batch``), for bodies of one sample (an MQTT message) and of 100 (an HTTPS
request).

    .venv/bin/python benchmarks/validation.py [--samples 10000] [--repeat 7]

No database: the gateway is an unsaved model instance. The samples are the benchmark's
rows (benchmarks/rows.py); each figure is the best of ``--repeat`` passes over all of
them (docs/performance.md, "Ingest").
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "essmon.settings")
    import django

    django.setup()
    from essmon.gateways.models import Gateway
    from essmon.telemetry.ingest import (
        check_samples,
        decode_message,
        decode_sample_batch,
        partition_items,
        sample_checker,
        validate_sample,
    )
    from essmon.telemetry.partitions import oldest_accepted_ts

    now = datetime.now(UTC)
    plan = rows.Plan.make(gateways=1, total=args.samples, now=now)
    samples = [json.loads(rows.sample_json(0, seq, plan.ts(seq))) for seq in range(args.samples)]
    gateway = Gateway(gateway_id=rows.gateway_id(0), provisioned_at=now - timedelta(days=30))
    oldest = oldest_accepted_ts(now)
    paths = {
        "old: validate_sample": lambda: partial(
            validate_sample, gateway=gateway, now=now, oldest=oldest
        ),
        "new: sample_checker": lambda: sample_checker(gateway=gateway, now=now, oldest=oldest),
    }
    results = {}
    for name, make in paths.items():
        best = float("inf")
        for _ in range(args.repeat):
            start = time.process_time()
            result, valid = partition_items(samples, make(), lambda c: c["ts"])
            best = min(best, time.process_time() - start)
        results[name] = (result, valid)
        print(f"{name:24} {best / len(samples) * 1e6:6.2f} µs of CPU per sample")
    (old_result, old_valid), (new_result, new_valid) = results.values()
    same = old_result == new_result and list(old_valid.items()) == list(new_valid.items())
    print(f"{len(samples):,} samples, the same result from both: {same}")
    if not same:
        sys.exit(1)

    def best_of(work) -> float:
        best = float("inf")
        for _ in range(args.repeat):
            start = time.process_time()
            work()
            best = min(best, time.process_time() - start)
        return best / len(samples) * 1e6

    for size in (1, 100):
        texts = [rows.sample_json(0, seq, plan.ts(seq)) for seq in range(args.samples)]
        bodies = [
            rows.batch_json(gateway.gateway_id, texts[i : i + size]).encode()
            for i in range(0, len(texts), size)
        ]
        general = [
            check_samples(gateway, decode_message(b)["samples"], now=now, oldest=oldest)
            for b in bodies
        ]
        typed = [decode_sample_batch(b, gateway=gateway, now=now, oldest=oldest) for b in bodies]
        same = all(
            t is not None and (t.result, t.rows) == (g.result, g.rows)
            for t, g in zip(typed, general, strict=True)
        )
        old_us = best_of(
            lambda bodies=bodies: [
                check_samples(gateway, decode_message(b)["samples"], now=now, oldest=oldest)
                for b in bodies
            ]
        )
        new_us = best_of(
            lambda bodies=bodies: [
                decode_sample_batch(b, gateway=gateway, now=now, oldest=oldest) for b in bodies
            ]
        )
        print(f"bodies of {size} sample(s), decoded and checked, µs of CPU per sample:")
        print(f"  {'general: decode_message + check_samples':44} {old_us:6.2f}")
        print(f"  {'typed: decode_sample_batch':44} {new_us:6.2f}")
        print(f"  the same rows and counts from both: {same}")
        if not same:
            sys.exit(1)


if __name__ == "__main__":
    main()
