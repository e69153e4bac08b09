"""Read replicas against a real PostgreSQL streaming replica (docs/scaling.md, "Read
replicas"): a primary and a standby of the test's own, made with initdb and pg_basebackup
on free ports, never the shared server's configuration. essmon runs in a subprocess
(tests/core/replica_scenario.py) whose default and replica databases are these two, so the
module never reaches the suite's test database and runs once, in the SQLite pass."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
import pytest

from tests.services import free_port, require
from tests.waiting import wait_until

pytestmark = pytest.mark.engine_independent

ROOT = Path(__file__).resolve().parents[2]
BIN = Path("/usr/local/bin")
BASEBACKUP = Path("/usr/bin/pg_basebackup")


def _as_server_user() -> list[str]:
    """initdb and postgres refuse to run as root: then they run as the postgres user."""
    if os.geteuid() != 0:
        return []
    require(shutil.which("runuser") is not None, "runuser (to run PostgreSQL as postgres)")
    return ["runuser", "-u", "postgres", "--"]


class Cluster:
    def __init__(self, data: Path, port: int, prefix: list[str]) -> None:
        self.data, self.port, self.prefix = data, port, prefix

    def run(self, *command: str, timeout: float = 60) -> None:
        done = subprocess.run(
            [*self.prefix, *command], capture_output=True, text=True, timeout=timeout
        )
        assert done.returncode == 0, f"{command[0]} failed:\n{done.stdout}\n{done.stderr}"

    def start(self) -> None:
        self.run(
            str(BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.data / "server.log"),
            "-o", f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1",
            "-w", "-t", "30", "start",
        )  # fmt: skip

    def stop(self) -> None:
        subprocess.run(
            [*self.prefix, str(BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"],
            capture_output=True,
            timeout=30,
        )

    def url(self, database: str = "essmon") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"


def _streaming(standby: Cluster) -> bool:
    try:
        with psycopg.connect(standby.url(), connect_timeout=2) as conn:
            row = conn.execute(
                "SELECT pg_is_in_recovery(), (SELECT status FROM pg_stat_wal_receiver)"
            ).fetchone()
    except psycopg.OperationalError:
        return False
    return row == (True, "streaming")


@pytest.fixture(scope="module")
def clusters():
    """A primary (wal_level=replica, replication allowed from 127.0.0.1 with trust) and a
    standby streaming from it; both stopped and removed afterwards."""
    require(
        all(os.access(BIN / name, os.X_OK) for name in ("initdb", "pg_ctl", "postgres"))
        and os.access(BASEBACKUP, os.X_OK),
        "PostgreSQL's initdb, pg_ctl and postgres in /usr/local/bin and /usr/bin/pg_basebackup",
    )
    prefix = _as_server_user()
    root = Path(tempfile.mkdtemp(prefix="essmon-replica-"))
    if prefix:
        shutil.chown(root, "postgres", "postgres")
    primary = Cluster(root / "primary", free_port(), prefix)
    standby = Cluster(root / "standby", free_port(), prefix)
    try:
        primary.run(
            str(BIN / "initdb"), "-D", str(primary.data), "-U", "postgres", "--auth=trust",
            "-E", "UTF8", "--locale=C.UTF-8", "--no-sync",
        )  # fmt: skip
        with open(primary.data / "postgresql.conf", "a") as conf:
            conf.write(
                "wal_level = replica\nmax_wal_senders = 4\nfsync = off\n"
                "synchronous_commit = off\nfull_page_writes = off\nshared_buffers = 32MB\n"
            )
        with open(primary.data / "pg_hba.conf", "a") as hba:
            hba.write("host replication postgres 127.0.0.1/32 trust\n")
        primary.start()
        with psycopg.connect(primary.url("postgres"), autocommit=True) as conn:
            conn.execute("CREATE DATABASE essmon")
        standby.run(
            str(BASEBACKUP), "-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres",
            "-D", str(standby.data), "-R", "-X", "stream", "-c", "fast",
        )  # fmt: skip
        standby.start()
        wait_until(lambda: _streaming(standby), 20, "the standby in recovery and streaming")
        yield primary, standby
    finally:
        standby.stop()
        primary.stop()
        shutil.rmtree(root, ignore_errors=True)


def test_monitoring_reads_the_replica_and_falls_back_to_the_primary(clusters):
    primary, standby = clusters
    started = time.monotonic()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("ESSMON_", "DJANGO_", "PYTEST"))
    }
    env.update(
        ESSMON_DATABASE_URL=primary.url(),
        ESSMON_DATABASE_REPLICA_URLS=standby.url(),
        REPLICA_TEST_STANDBY_DATA=str(standby.data),
        REPLICA_TEST_SERVER_USER=" ".join(primary.prefix),
        DJANGO_SETTINGS_MODULE="tests.settings",
        ESSMON_ALLOWED_HOSTS="testserver",
    )
    done = subprocess.run(
        [sys.executable, "-m", "tests.core.replica_scenario"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    print(done.stdout)
    assert done.returncode == 0, f"the scenario failed:\n{done.stdout}\n{done.stderr}"
    # every step the scenario checks, in order: a scenario that stopped early is a failure
    assert "all steps passed" in done.stdout
    print(f"replica test: {time.monotonic() - started:.1f} s after the clusters were up")


def _settings_in_a_subprocess(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    script = (
        "import json\n"
        "from essmon import settings as s\n"
        "print(json.dumps({'routers': s.DATABASE_ROUTERS, 'replicas': {k: {'port': v['PORT'],"
        " 'test': v.get('TEST'), 'options': v.get('OPTIONS')} for k, v in s.DATABASES.items()"
        " if k != 'default'}}))\n"
    )
    base = {k: v for k, v in os.environ.items() if not k.startswith(("ESSMON_", "DJANGO_"))}
    with tempfile.TemporaryDirectory() as data:
        return subprocess.run(
            [sys.executable, "-c", script],
            cwd=ROOT,
            env={**base, "ESSMON_DATA_DIR": data, **env},
            capture_output=True,
            text=True,
            timeout=60,
        )


def test_replica_settings_name_aliases_that_tests_mirror_and_no_replica_changes_nothing():
    import json

    none = _settings_in_a_subprocess({})
    assert none.returncode == 0, none.stderr
    assert json.loads(none.stdout) == {"routers": [], "replicas": {}}
    two = _settings_in_a_subprocess(
        {
            "ESSMON_DATABASE_URL": "postgres://essmon@db:5432/essmon",
            "ESSMON_DATABASE_REPLICA_URLS": "postgres://essmon@r1:5433/essmon, postgres://essmon@r2/essmon",
        }
    )
    assert two.returncode == 0, two.stderr
    made = json.loads(two.stdout)
    assert made["routers"] == ["essmon.core.replicas.ReplicaRouter"]
    assert sorted(made["replicas"]) == ["replica_1", "replica_2"]
    assert made["replicas"]["replica_1"]["port"] == 5433
    for alias in made["replicas"].values():
        assert alias["test"] == {"MIRROR": "default"}
        assert alias["options"]["connect_timeout"] == 2


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"ESSMON_DATABASE_REPLICA_URLS": "postgres://r1/essmon"}, "needs PostgreSQL"),
        (
            {
                "ESSMON_DATABASE_URL": "postgres://db/essmon",
                "ESSMON_DATABASE_REPLICA_URLS": "sqlite:///tmp/x.sqlite3",
            },
            "PostgreSQL URLs only",
        ),
        ({"ESSMON_DATABASE_REPLICA_MAX_LAG_SECONDS": "0"}, "at least 1"),
    ],
)
def test_replica_settings_refuse_what_cannot_work(env, message):
    refused = _settings_in_a_subprocess(env)
    assert refused.returncode != 0
    assert "ImproperlyConfigured" in refused.stderr and message in refused.stderr
