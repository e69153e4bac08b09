"""What the benchmark starts and measures: the database, its own Mosquitto, the essmon
processes, and CPU time from /proc (no psutil in the project's dependencies)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")
MAX_QUEUED = 10_000_000  # messages a session of the benchmark's broker may hold


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port: int, process: subprocess.Popen, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on port {port} within {timeout:.0f} s")


# --- PostgreSQL -------------------------------------------------------------------------


@dataclass(frozen=True)
class Postgres:
    host: str
    port: int
    user: str

    def url(self, database: str) -> str:
        return f"postgres://{self.user}@{self.host}:{self.port}/{database}"

    def psql(self, database: str, *args: str, capture: bool = True) -> str:
        # left as written (fmt: skip): a command line, each option beside its value
        command = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", self.host,
                   "-p", str(self.port), "-U", self.user, "-d", database, "-At", *args]  # fmt: skip
        done = subprocess.run(command, capture_output=capture, text=True, check=False)
        if done.returncode:
            raise RuntimeError(f"psql {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout or ""

    def exists(self, database: str) -> bool:
        found = self.psql(
            "postgres", "-c", f"SELECT 1 FROM pg_database WHERE datname = '{database}'"
        )
        return found.strip() == "1"

    def create(self, database: str) -> None:
        self.psql("postgres", "-c", f'CREATE DATABASE "{database}"')

    def drop(self, database: str) -> None:
        # FORCE: a worker killed mid-transaction may leave its backend behind for a moment
        self.psql("postgres", "-c", f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')

    def version(self) -> str:
        return self.psql("postgres", "-c", "SHOW server_version").strip()


# --- Mosquitto --------------------------------------------------------------------------


def broker_listeners(files, port: int, service_port: int) -> list[str]:
    """The gateways' listener on ``port`` and the service's on ``service_port``, as in
    production: with essmon's plugin when it is built (`make mosquitto`), else with the
    generated ACL file (``files``: essmon.mqtt.broker.BrokerFiles, written)."""
    from essmon.mqtt.broker import mosquitto_listeners

    plugin = Path(__file__).resolve().parent.parent / "build" / "essmon_gateway_acl.so"
    return mosquitto_listeners(
        files,
        gateway_listener=f"{port} 127.0.0.1",
        service_listener=f"{service_port} 127.0.0.1",
        acl_plugin=plugin if plugin.exists() else None,
    )


class Broker:
    """A Mosquitto of the benchmark's own, configured for the service as
    docs/deployment.md configures production's (except TLS): the gateways' listener on
    ``port`` and the service's on ``service_port``, with the password and ACL files essmon
    generates (``listeners``: essmon.mqtt.broker.mosquitto_listeners)."""

    def __init__(self, folder: Path, port: int, service_port: int, listeners: list[str]) -> None:
        self.folder, self.port, self.service_port = folder, port, service_port
        self.log_file = folder / "mosquitto.log"
        self.process: subprocess.Popen | None = None
        folder.mkdir(parents=True, exist_ok=True)
        lines = [
            *listeners,
            # as docs/deployment.md sets it up: sessions and queued messages saved every 60 s
            "persistence true",
            f"persistence_location {folder}/",
            "autosave_interval 60",
            # every sample of a run may wait at the broker while the workers catch up, and
            # the drain path queues them all in the workers' sessions before a worker runs
            # (production's 1,000,000 per session would cut a run of more rows)
            f"max_queued_messages {MAX_QUEUED}",
            "max_inflight_messages 0",
            "max_packet_size 1100000",
            f"log_dest file {self.log_file}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type subscribe",  # how the benchmark sees the workers' subscriptions
        ]
        if os.geteuid() == 0:
            lines.append("user root")  # else it drops to 'mosquitto', who cannot read the files
        (folder / "mosquitto.conf").write_text("\n".join(lines) + "\n")

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["mosquitto", "-c", str(self.folder / "mosquitto.conf")],
            stdout=subprocess.DEVNULL,
            stderr=open(self.folder / "mosquitto.stderr", "w"),  # noqa: SIM115 - the child's
        )
        for port in (self.port, self.service_port):
            wait_listening(port, self.process, "mosquitto", timeout=10)

    def wait_subscribed(self, client_ids: list[str], timeout: float = 30) -> None:
        """Until each worker has subscribed to the telemetry topic (the broker logs it)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            log = self.log_file.read_text() if self.log_file.exists() else ""
            lines = [line for line in log.splitlines() if "/telemetry" in line]
            if all(any(f" {cid} " in line for line in lines) for cid in client_ids):
                return
            time.sleep(0.1)
        raise RuntimeError(
            f"the workers did not subscribe within {timeout:.0f} s; see {self.log_file}"
        )

    def pause(self) -> None:
        """Stop the broker where it stands (SIGSTOP): clients connecting meanwhile are
        taken by the kernel's listen queue and wait for their CONNACK."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    @staticmethod
    def version() -> str:
        done = subprocess.run(["mosquitto", "-h"], capture_output=True, text=True, check=False)
        first = (done.stdout or done.stderr).splitlines()[:1]
        return first[0].replace("mosquitto version ", "") if first else "unknown"


def connections_to(port: int) -> int:
    """Established TCP connections to ``port`` on 127.0.0.1, counted from the clients'
    side (/proc/net/tcp): those a paused server has not accepted yet count too."""
    found = 0
    with open("/proc/net/tcp") as table:
        next(table)
        for line in table:
            fields = line.split()
            if fields[3] == "01" and int(fields[2].rpartition(":")[2], 16) == port:
                found += 1
    return found


# --- processes ------------------------------------------------------------------------


class Processes:
    """Every process the benchmark starts, so that all of them end with it, whatever happens."""

    def __init__(self) -> None:
        self.popen: list[subprocess.Popen] = []
        self.mp: list = []

    def start(self, command: list[str], *, env: dict, log: Path) -> subprocess.Popen:
        with open(log, "w") as handle:
            process = subprocess.Popen(command, env=env, stdout=handle, stderr=subprocess.STDOUT)
        self.popen.append(process)
        return process

    def add(self, process) -> None:
        if isinstance(process, subprocess.Popen):
            self.popen.append(process)
        else:
            self.mp.append(process)

    @staticmethod
    def stop(process: subprocess.Popen, timeout: float = 15) -> None:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.send_signal(signal.SIGCONT)  # a paused broker must see the SIGTERM
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def stop_all(self) -> None:
        for process in self.mp:
            if process.is_alive():
                process.terminate()
        for process in reversed(self.popen):
            self.stop(process)
        for process in self.mp:
            process.join(5)
            if process.is_alive():
                process.kill()
                process.join()


def essmon_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "essmon.cli", *args]


def py_spy() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


# --- CPU --------------------------------------------------------------------------------


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()  # the name in parentheses may hold spaces


def cpu_seconds(pid: int, *, with_children: bool = False) -> float:
    """CPU time of ``pid``; with_children adds that of its children that have ended (a
    parent's cutime and cstime), so a server's exited workers still count."""
    fields = _stat_fields(pid)
    if fields is None:
        return 0.0
    ticks = int(fields[11]) + int(fields[12])
    if with_children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / TICK


def all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def descendants(pid: int) -> list[int]:
    parents = {}
    for other in all_pids():
        fields = _stat_fields(other)
        if fields:
            parents[other] = int(fields[1])
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        children = [p for p, pp in parents.items() if pp == parent]
        found += children
        frontier += children
    return found


def postgres_server() -> int | None:
    """The postmaster: the postgres process whose parent is not one."""
    names = {pid: _comm(pid) for pid in all_pids()}
    for pid, name in names.items():
        fields = _stat_fields(pid)
        if name == "postgres" and fields and names.get(int(fields[1])) != "postgres":
            return pid
    return None


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def machine_busy() -> float:
    """CPU seconds all CPUs have spent busy (neither idle nor waiting for I/O) since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return (sum(values) - values[3] - values[4]) / TICK


@dataclass(frozen=True)
class Snapshot:
    at: float
    groups: dict[str, float]
    machine: float


@dataclass
class CpuMeter:
    """CPU time of groups of processes, read from /proc at chosen moments; the difference
    between two snapshots, divided by the wall time between them, is in cores (1.0 = one
    CPU busy all along).

    A group named in ``trees`` is a server counted whole: its processes, their live
    descendants and, through each one's cutime, the descendants that ended, so that a
    PostgreSQL backend or gunicorn worker that exits between two snapshots still counts.
    A process that ended is then in the second sum only through its parent, and the
    difference is exactly the time spent in between."""

    groups: Callable[[], dict[str, list[int]]]
    trees: frozenset[str] = frozenset()

    def snap(self) -> Snapshot:
        totals = {}
        for name, pids in self.groups().items():
            tree = name in self.trees
            members = [*pids, *(d for pid in pids for d in descendants(pid))] if tree else pids
            totals[name] = sum(cpu_seconds(p, with_children=tree) for p in members)
        return Snapshot(time.monotonic(), totals, machine_busy())

    @staticmethod
    def cores(a: Snapshot, b: Snapshot) -> dict[str, float]:
        """Each group's cores between the snapshots, then ``other`` (what the machine spent
        beyond the groups) and ``machine`` (all of it)."""
        seconds = max(b.at - a.at, 1e-9)
        used = {n: max(0.0, b.groups.get(n, 0.0) - a.groups[n]) / seconds for n in a.groups}
        machine = (b.machine - a.machine) / seconds
        used["other"] = max(0.0, machine - sum(used.values()))
        used["machine"] = machine
        return used

    @staticmethod
    def line(a: Snapshot, b: Snapshot, label: str) -> str:
        used = CpuMeter.cores(a, b)
        machine = used.pop("machine")
        parts = ", ".join(f"{name} {cores:.2f}" for name, cores in used.items())
        return (
            f"CPU {label} ({b.at - a.at:.1f} s), in cores: {parts}; "
            f"machine {machine:.2f} of {os.cpu_count()}"
        )


# --- running a benchmark ----------------------------------------------------------------


def run_main(name: str, bench, *, database_errors: bool = False) -> int:
    """Run ``bench.run()`` with the exit codes both benchmarks share: 130 interrupted (any
    of SIGINT, SIGTERM, SIGHUP, so that ``finally`` stops what the run started), 2 for a
    failure it can name; ``bench.cleanup()`` always. With ``database_errors``, a database
    error (PostgreSQL restarted by something else on the machine) is such a failure."""

    def interrupted(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGHUP, interrupted)
    # even when started in the background, where the shell has SIGINT ignored
    signal.signal(signal.SIGINT, interrupted)
    try:
        return bench.run()
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except RuntimeError as exc:
        print(f"benchmarks/{name}: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        if not database_errors or not type(exc).__module__.startswith(("django.db", "psycopg")):
            raise
        print(f"benchmarks/{name}: database error: {exc}", file=sys.stderr)
        return 2
    finally:
        bench.cleanup()
