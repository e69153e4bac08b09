"""The scenario tests/core/test_read_replica.py runs in a subprocess: essmon with a real
primary (``ESSMON_DATABASE_URL``) and a real streaming standby
(``ESSMON_DATABASE_REPLICA_URLS``), no test database. Each step prints its name; any
failed check raises, and the last line says that all passed."""

from __future__ import annotations

import logging
import os
import subprocess
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connections, router  # noqa: E402
from django.test import Client  # noqa: E402
from django.utils import timezone  # noqa: E402

from essmon.core import replicas  # noqa: E402
from tests import factories  # noqa: E402
from tests.waiting import wait_until  # noqa: E402

REPLICA = "replica_1"


def step(name: str) -> None:
    print(f"step: {name}", flush=True)


@contextmanager
def queries() -> Iterator[dict[str, list[str]]]:
    """The SQL each alias ran inside the block."""
    seen: dict[str, list[str]] = defaultdict(list)
    hooks = []
    for alias in ("default", REPLICA):

        def hook(execute, sql, params, many, context, alias=alias):
            seen[alias].append(sql)
            return execute(sql, params, many, context)

        manager = connections[alias].execute_wrapper(hook)
        manager.__enter__()
        hooks.append(manager)
    try:
        yield seen
    finally:
        for manager in reversed(hooks):
            manager.__exit__(None, None, None)


class Caught(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def standby_sql(sql: str):
    with connections[REPLICA].cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchone()


def caught_up() -> bool:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_lsn()::text")
        (lsn,) = cursor.fetchone()
    with connections[REPLICA].cursor() as cursor:
        cursor.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [lsn])
        return cursor.fetchone()[0]


def soc_on_page(client: Client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    text = response.content.decode()
    start = text.index('class="soc-value">') + len('class="soc-value">')
    return text[start : text.index("<", start)]


def ingest(gateway, soc: float, seq: int) -> None:
    from essmon.telemetry.ingest import ingest_samples

    result = ingest_samples(
        gateway=gateway, samples=[factories.sample(seq, minutes_ago=1 - seq / 10, soc_pct=soc)]
    )
    assert result.accepted == 1, result


def main() -> None:
    caught = Caught()
    logging.getLogger("essmon.core.replicas").addHandler(caught)
    assert settings.DATABASES[REPLICA]["PORT"] != settings.DATABASES["default"]["PORT"]

    step("migrate the primary; the replica alias is never migrated")
    call_command("migrate", verbosity=0)
    assert router.allow_migrate(REPLICA, "telemetry") is False
    assert router.allow_migrate("default", "telemetry") is not False
    assert standby_sql("SELECT pg_is_in_recovery()") == (True,)

    step("data on the primary: an owner's gateway with samples, a linked dealer")
    from essmon.dealers.models import DealerLink
    from essmon.dealers.services.links import link_dealer, unlink_dealer

    gateway = factories.connected_gateway()
    owner = gateway.owner
    dealer = factories.dealer()
    link_dealer(customer=owner, gateway=gateway, dealer=dealer)
    ingest(gateway, 41.0, 1)
    wait_until(caught_up, 20, "the standby replaying the primary's data")
    live_url = f"/monitoring/{gateway.gateway_id}/"
    as_owner, as_dealer = Client(), Client()
    as_owner.force_login(owner)
    as_dealer.force_login(dealer.user)

    step("the live panel, history, fleet table and CSV read the standby")
    for client, url in (
        (as_owner, live_url),
        (as_owner, f"/monitoring/{gateway.gateway_id}/history/"),
        (as_owner, f"/monitoring/{gateway.gateway_id}/history.csv"),
        (as_dealer, "/monitoring/"),
        (as_dealer, "/monitoring/fleet.csv"),
    ):
        with queries() as seen:
            response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        assert seen[REPLICA], f"{url} read nothing from the replica"
        # who may see the gateway is asked of the primary, never the replica
        for sql in seen[REPLICA]:
            assert "dealers_dealerlink" not in sql and "django_session" not in sql, (url, sql)
    assert "41" in soc_on_page(as_owner, live_url)

    step("the public API's GETs read the standby; the token is checked on the primary")
    from essmon.api.models import AccessToken
    from essmon.api.services import create_token

    secret = create_token(
        user=owner, name="replica", scopes=[AccessToken.Scope.READ], expires_at=None
    ).secret
    wait_until(caught_up, 20, "the standby replaying the token")
    bearer = {"Authorization": f"Bearer {secret}"}
    for path in ("gateways", f"gateways/{gateway.gateway_id}/live"):
        with queries() as seen:
            response = Client(headers=bearer).get(f"/api/public/v1/{path}")
        assert response.status_code == 200, (path, response.content)
        assert seen[REPLICA], f"{path} read nothing from the replica"
        assert not any("api_accesstoken" in sql for sql in seen[REPLICA]), seen[REPLICA]
    with queries() as seen:
        assert as_dealer.get(f"/monitoring/{gateway.gateway_id}/settings/").status_code == 200
    assert not seen[REPLICA], "the settings page reads the primary"

    step("replay paused: the page shows the standby's older value")
    standby_sql("SELECT pg_wal_replay_pause()")
    ingest(gateway, 77.0, 2)
    assert "41" in soc_on_page(as_owner, live_url), "read from the primary, not the standby"

    step("an unlink takes effect at once, though the standby still has the link")
    unlink_dealer(customer=owner, gateway=gateway, dealer=dealer)
    assert DealerLink.objects.using(REPLICA).filter(ended_at__isnull=True).exists()
    assert as_dealer.get(live_url).status_code == 404
    assert gateway.gateway_id not in as_dealer.get("/monitoring/").content.decode()
    assert gateway.gateway_id not in as_dealer.get("/monitoring/fleet.csv").content.decode()

    step("writes go to the primary, also inside reading_replica()")
    from essmon.dealers.models import DealerAccess

    link = link_dealer(customer=owner, gateway=gateway, dealer=dealer)  # no block: primary
    with queries() as seen:
        # the live view reads the standby and records the dealer's view (a write)
        assert as_dealer.get(live_url).status_code == 200
    assert seen[REPLICA]
    viewed = DealerAccess.objects.filter(action=DealerAccess.Action.VIEW_LIVE)
    assert viewed.using("default").count() == 1
    assert viewed.using(REPLICA).count() == 0  # replay paused: it went to the primary
    with replicas.reading_replica() as alias:
        assert alias == REPLICA
        DealerLink.objects.filter(pk=link.pk).update(created_by=owner)
    assert DealerLink.objects.using("default").get(pk=link.pk).created_by_id == owner.pk
    assert not DealerLink.objects.using(REPLICA).filter(pk=link.pk).exists()

    step("lag past the setting: the primary, logged once")
    settings.DATABASE_REPLICA_MAX_LAG_SECONDS = 1
    replicas.forget_health()
    time.sleep(1.2)
    for _ in range(3):
        with queries() as seen:
            assert "77" in soc_on_page(as_owner, live_url)
        assert not seen[REPLICA] or seen[REPLICA] == [replicas.LAG_SQL]
    assert sum("lagging" in line for line in caught.lines) == 1, caught.lines

    step("replay resumed: the standby again")
    settings.DATABASE_REPLICA_MAX_LAG_SECONDS = 10
    standby_sql("SELECT pg_wal_replay_resume()")
    wait_until(caught_up, 20, "the standby catching up")
    settings.DATABASE_REPLICA_CHECK_SECONDS = 1
    time.sleep(1.1)  # the last check is stale: the next request checks again
    with queries() as seen:
        assert "77" in soc_on_page(as_owner, live_url)
    assert len(seen[REPLICA]) > 1
    assert "used again" in caught.lines[-1], caught.lines
    settings.DATABASE_REPLICA_CHECK_SECONDS = 5

    step("the standby cut off from the primary: not streaming, so the primary")
    (conninfo,) = standby_sql("SHOW primary_conninfo")
    with connections[REPLICA].cursor() as cursor:
        cursor.execute("ALTER SYSTEM SET primary_conninfo = ''")
        cursor.execute("SELECT pg_reload_conf()")
    wait_until(
        lambda: standby_sql("SELECT count(*) FROM pg_stat_wal_receiver") == (0,),
        20,
        "the standby's WAL receiver stopping",
    )
    replicas.forget_health()
    with queries() as seen:
        assert "77" in soc_on_page(as_owner, live_url)
    assert seen[REPLICA] == [replicas.LAG_SQL], seen[REPLICA]
    assert replicas._health[REPLICA].reason == "not streaming from the primary"
    with connections[REPLICA].cursor() as cursor:
        cursor.execute("ALTER SYSTEM SET primary_conninfo = %s", [conninfo])
        cursor.execute("SELECT pg_reload_conf()")
    wait_until(
        lambda: standby_sql("SELECT status FROM pg_stat_wal_receiver") == ("streaming",),
        20,
        "the standby streaming again",
    )
    replicas.forget_health()
    with queries() as seen:
        assert "77" in soc_on_page(as_owner, live_url)
    assert len(seen[REPLICA]) > 1

    step("the standby stopped: the request in flight and the next ones read the primary")
    server_user = os.environ["REPLICA_TEST_SERVER_USER"].split()
    subprocess.run(
        [*server_user, "/usr/local/bin/pg_ctl", "-D", os.environ["REPLICA_TEST_STANDBY_DATA"],
         "-m", "immediate", "stop"],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    # the replica still counts as usable (checked a moment ago): the view meets the dead
    # connection, and runs again on the primary
    ingest(gateway, 63.0, 3)
    assert "63" in soc_on_page(as_owner, live_url)
    assert any("failed during a read" in line for line in caught.lines), caught.lines
    logged = len(caught.lines)
    settings.DATABASE_REPLICA_CHECK_SECONDS = 1
    time.sleep(1.1)
    for _ in range(3):
        assert "63" in soc_on_page(as_owner, live_url)
    # checked again and found down: the primary still, and nothing more in the log
    assert replicas._health[REPLICA].reason.startswith("unreachable"), replicas._health
    assert len(caught.lines) == logged, caught.lines
    print(f"log: {caught.lines}")
    print("all steps passed", flush=True)


if __name__ == "__main__":
    started = time.monotonic()
    main()
    print(f"scenario took {time.monotonic() - started:.1f} s at {timezone.now():%H:%M:%S}")
