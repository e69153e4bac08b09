"""Server CPU per request and per sample of the gateways' HTTPS endpoint, POST
/api/v1/telemetry, without the network: each request goes through essmon's WSGI
application in this process (every middleware, the gateway's authentication, the view,
the storage and the commit), as gunicorn would hand it over, with 100 samples of one
gateway per request (the benchmark's rows, 100 gateways in turn). CPU of this process
(``time.process_time``) and of the PostgreSQL backend serving it (from /proc, so the
server must run on this machine), per request and per sample.

    ESSMON_DATABASE_URL=postgres://postgres@127.0.0.1:5432/<db> \\
        .venv/bin/python benchmarks/https_request.py [--requests 1000] [--rounds 3] \\
        [--base ../checkout --base-database postgres://…/<other db>] [--profile] \\
        [--instructions]

With ``--base`` the same measurement runs, round for round in turn, in another checkout
(its own ``essmon``, against ``--base-database``), and both are printed side by side: the
before and after of a change in one run; with ``--instructions``, also the instructions
per request this process executes (callgrind: benchmarks/checkouts.py), which other load
on the machine does not move. The databases must be migrated; the script adds
gateways ``95HT…`` and removes them and their samples before and after. gunicorn's own
work (reading the HTTP request, its threads) is not in these figures: see
benchmarks/ingest for the whole server. See docs/performance.md.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
from datetime import UTC, datetime, timedelta

import checkouts

GATEWAYS = 100
PREFIX = "95HT"


def measure(requests: int, samples: int, profile: bool) -> dict[str, float]:
    """One round in this process, against the essmon on sys.path."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "essmon.settings")
    os.environ["ESSMON_DEBUG"] = "0"  # DEBUG keeps every query in memory
    os.environ.setdefault("ESSMON_LOG_LEVEL", "WARNING")
    import rows
    from django.core.wsgi import get_wsgi_application
    from django.db import connection

    application = get_wsgi_application()
    from essmon.gateways.models import Gateway
    from essmon.gateways.services.credentials import generate_device_secret, hash_device_secret

    checkouts.remove_gateways(PREFIX)
    now = datetime.now(UTC)
    secrets = [generate_device_secret() for _ in range(GATEWAYS)]
    Gateway.objects.bulk_create(
        Gateway(
            gateway_id=f"{PREFIX}{g:08d}",
            password_hash="!",
            device_secret_hash=hash_device_secret(secrets[g]),
            provisioned_at=now - timedelta(days=30),
        )
        for g in range(GATEWAYS)
    )
    warm = GATEWAYS  # one untimed request per gateway: connections, caches, the stage table
    total = warm + requests
    per_gateway = -(-total // GATEWAYS) * samples
    plan = rows.Plan.make(gateways=GATEWAYS, total=per_gateway * GATEWAYS, now=now)
    bodies = []
    for k in range(total):
        chunk, g = divmod(k, GATEWAYS)
        gateway_id = f"{PREFIX}{g:08d}"
        first = chunk * samples
        body = rows.batch_json(
            gateway_id,
            [rows.sample_json(g, s, plan.ts(s)) for s in range(first, first + samples)],
        ).encode()
        bodies.append((f"Gateway {gateway_id}:{secrets[g]}", body))

    status: list[str] = []

    def start_response(line: str, headers: list, exc_info=None) -> None:
        status.append(line)

    def call(authorization: str, body: bytes) -> dict:
        environ = {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": "/api/v1/telemetry",
            "SCRIPT_NAME": "",
            "QUERY_STRING": "",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "8000",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1",
            "HTTP_HOST": "127.0.0.1:8000",
            "HTTP_AUTHORIZATION": authorization,
            "CONTENT_TYPE": "application/json",
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.input": io.BytesIO(body),
            "wsgi.url_scheme": "http",
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
            "wsgi.version": (1, 0),
        }
        response = application(environ, start_response)
        try:
            content = b"".join(response)
        finally:
            response.close()  # request_finished: what gunicorn does after each request
        return json.loads(content)

    try:
        for authorization, body in bodies[:warm]:
            call(authorization, body)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            backend = cursor.fetchone()[0]
        status.clear()
        accepted = 0
        server = checkouts.backend_cpu(backend)
        with checkouts.timed_part(profile) as spent:
            for authorization, body in bodies[warm:]:
                accepted += call(authorization, body)["accepted"]
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            same_backend = cursor.fetchone()[0] == backend
        server = checkouts.backend_cpu(backend) - server if same_backend else float("nan")
    finally:
        checkouts.remove_gateways(PREFIX)
    if accepted != requests * samples or any(not s.startswith("200") for s in status):
        sys.exit(f"{requests * samples - accepted} samples not accepted; statuses {set(status)}")
    return {
        "request_us": spent["cpu"] / requests * 1e6,
        "sample_us": spent["cpu"] / requests / samples * 1e6,
        "server_request_us": server / requests * 1e6,
        "wall_request_us": spent["wall"] / requests * 1e6,
        "units": requests,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000, help="timed, per round")
    parser.add_argument("--samples", type=int, default=100, help="per request")
    checkouts.add_arguments(parser)
    args = parser.parse_args()
    if checkouts.one_round(args, lambda: measure(args.requests, args.samples, args.profile)):
        return
    figures = checkouts.run_rounds(
        __file__,
        args,
        parser,
        passed=["--requests", str(args.requests), "--samples", str(args.samples)],
        describe=lambda row: (
            f"{row['request_us']:,.0f} µs per request, {row['sample_us']:.1f} µs per sample;"
            f" PostgreSQL backend {row['server_request_us']:,.0f} µs per request"
        ),
    )
    print(
        f"\n{args.requests:,} requests of {args.samples} samples per round, {args.rounds}"
        " round(s); medians, CPU in µs:"
    )
    checkouts.print_medians(
        figures,
        [
            ("per request", "request_us", ",.0f"),
            ("per sample", "sample_us", ".1f"),
            ("PostgreSQL/request", "server_request_us", ",.0f"),
        ],
        instructions=args.instructions,
    )


if __name__ == "__main__":
    main()
