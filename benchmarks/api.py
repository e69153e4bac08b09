"""benchmarks/api: the public API's history and fleet operations, next to their SQL in psql.

The data is benchmarks/dashboard's, loaded by its code (``dashboard.Bench``: a fleet of
``--fleet`` gateways, one with ``--days`` of 1-minute samples, the rollups made by the real
job; see docs/performance.md, "Dashboard (monitoring site)"). Measured, each through
Django's whole request cycle in this process with a bearer token (``django.test.Client``,
as a script calling the API would be answered, less the network):

- as the two-year gateway's owner: the raw samples of its last whole day (one page of
  1,440) and its energies by day, month, year and lifetime;
- as the dealer linked to every gateway of the fleet: ``GET /gateways``, its first page and
  a page halfway through (by cursor).

Beside each, the statements one request ran (captured), run as many times in one psql
session: what the database alone takes. The target of each operation is relative to
that: its server p95 under ``FACTOR`` × its psql p95 + ``OVERHEAD_MS`` (docs/performance.md,
"Public API"). Exits 1 if a target is missed.

Run from anywhere as ``benchmarks/api``; ``--help`` lists the options (dashboard's).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dashboard
from dashboard import FLEET_DEALER_EMAIL, JST, View, gateway_code, percentile
from infra import run_main

# the target: the server's p95 under FACTOR × the SQL's p95 in psql + the view's overhead.
# OVERHEAD_MS is what every request costs besides its own reads: Django's request cycle,
# the token's lookup and its rate-limit counter (a row locked and updated), the access
# check, the dealer's record, the JSON; a list adds the rows turned into objects and JSON
# (docs/performance.md, "Public API")
FACTOR = 3.0
OVERHEAD_MS = 15.0
FLEET_OVERHEAD_MS = 25.0  # 50 to 100 gateways with their site, owner and live columns
SAMPLES_OVERHEAD_MS = 40.0  # 1,440 rows of 15 values: 450 kB of JSON
PREFIX = "/api/public/v1"


@dataclass
class ApiView(View):
    overhead_ms: float = OVERHEAD_MS

    def missed(self) -> str | None:
        p95 = percentile(self.server_ms, 95)
        sql = percentile(self.psql_ms, 95)
        self.target_ms = FACTOR * sql + self.overhead_ms
        if p95 < self.target_ms:
            return None
        return (
            f"{self.label}: p95 {p95:.1f} ms, target under {self.target_ms:.0f} ms "
            f"({FACTOR:g} × psql p95 {sql:.2f} ms + {self.overhead_ms:g})"
        )


class ApiBench(dashboard.Bench):
    def plan_views(self) -> list[View]:
        from essmon.api.pagination import context_of, encode_cursor

        today = datetime.fromtimestamp(self.meta["end"], UTC).astimezone(JST).date()
        yesterday = today - timedelta(days=1)
        big = self.big.gateway_id
        base = f"{PREFIX}/gateways/{big}"
        owner = f"gateway {big} ({self.meta['rows']['big']:,} samples), as its owner"
        fleet = f"GET /gateways, as a dealer with {self.args.fleet:,} gateways"
        views: list[View] = [
            ApiView(
                f"samples {yesterday} (1,440)",
                f"{base}/samples?date={yesterday}&limit=1440",
                "owner",
                0,
                owner,
                overhead_ms=SAMPLES_OVERHEAD_MS,
            ),
            ApiView(
                f"energy day {yesterday}",
                f"{base}/energy?period=day&date={yesterday}",
                "owner",
                0,
                owner,
            ),
            ApiView(
                f"energy month {today:%Y-%m}",
                f"{base}/energy?period=month&date={today}",
                "owner",
                0,
                owner,
            ),
            ApiView(
                f"energy year {today:%Y}",
                f"{base}/energy?period=year&date={today}",
                "owner",
                0,
                owner,
            ),
            ApiView("energy lifetime", f"{base}/energy?period=lifetime", "owner", 0, owner),
        ]
        # halfway through the fleet, as a client that followed next_cursor there would be
        middle = self.args.fleet // 2
        cursor = encode_cursor(after=gateway_code(middle - 1), context=context_of("gateways", None))
        views += [
            ApiView(
                "first page (50)",
                f"{PREFIX}/gateways",
                "fleet_dealer",
                0,
                fleet,
                fleet=True,
                overhead_ms=FLEET_OVERHEAD_MS,
            ),
            ApiView(
                f"page after {gateway_code(middle - 1)} (cursor)",
                f"{PREFIX}/gateways?cursor={cursor}",
                "fleet_dealer",
                0,
                fleet,
                fleet=True,
                overhead_ms=FLEET_OVERHEAD_MS,
            ),
            ApiView(
                "first page (100)",
                f"{PREFIX}/gateways?limit=100",
                "fleet_dealer",
                0,
                fleet,
                fleet=True,
                overhead_ms=FLEET_OVERHEAD_MS,
            ),
        ]
        for view in views:
            view.headers = {"Authorization": f"Bearer {self.tokens[view.who]}"}
        return views

    def log_in(self) -> None:
        """A token each (made by the service the アクセストークン page uses), and a client
        with no session: the token is the only credential."""
        from django.conf import settings
        from django.test import Client

        from essmon.accounts.models import User
        from essmon.api.services import create_token

        # the per-token limit (120 a minute by default) would answer 429 here; its counter
        # is still kept and written on every request, so its cost is measured
        settings.API_REQUESTS_PER_MINUTE = 10**9
        settings.API_REQUESTS_PER_USER_PER_MINUTE = 10**9
        who = {"owner": self.big.owner, "fleet_dealer": User.objects.get(email=FLEET_DEALER_EMAIL)}
        self.tokens = {
            key: create_token(user=user, name="benchmark", scopes=["read"], expires_at=None).secret
            for key, user in who.items()
        }
        for key in who:
            self.users[key] = Client(SERVER_NAME="127.0.0.1")

    def year_against_raw_rows(self) -> None:
        """The dashboard's comparison; not this benchmark's question."""


def main(argv: list[str] | None = None) -> int:
    args = dashboard.parse_args(
        argv,
        prog="benchmarks/api",
        description="Server time of the public API's history operations (a day's samples, "
        "energies by day, month, year, lifetime) and of the dealer's fleet list (first page, "
        "a cursor page) over benchmarks/dashboard's data, with a bearer token, next to the "
        "same SQL run in psql. Exits 1 if a target is missed.",
        database="essmon_bench_api",
    )
    return run_main("api", ApiBench(args), database_errors=True)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.exit(main())
