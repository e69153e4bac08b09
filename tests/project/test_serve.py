"""`essmon serve --demo` (what `make run` starts): the whole service comes up and stops cleanly."""

import contextlib
import http.cookiejar
import json
import os
import re
import signal
import sqlite3
import stat
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.services import free_port
from tests.waiting import wait_until

# the services it starts get an environment without the suite's ESSMON_* (and so their own
# SQLite database), whichever engine the suite runs on: the PostgreSQL pass leaves it out
pytestmark = pytest.mark.engine_independent

ROOT = Path(__file__).resolve().parents[2]


def page_at(url: str, timeout: float = 30.0) -> str:
    """The page at ``url`` once something answers there."""

    def answer() -> str | None:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.read().decode()
        except OSError:
            return None

    return wait_until(answer, timeout, f"{url} answering")


@pytest.fixture
def served(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ESSMON_", "DJANGO_SETTINGS"))}
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o755)  # as an older essmon left it: others could read the files
    data_dir.chmod(0o755)
    env.update(
        ESSMON_DATA_DIR=str(data_dir),
        ESSMON_PORT=str(port),
        ESSMON_EMAIL_URL=f"file://{tmp_path}/mail",
    )
    log = (tmp_path / "serve.log").open("w+")
    proc = subprocess.Popen(
        [sys.executable, "-m", "essmon.cli", "serve", "--demo"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        umask=0o022,  # a login shell's usual mask: essmon must narrow it itself
    )
    try:
        yield port, proc, data_dir, env
    finally:
        # the whole group, even when serve itself has ended: a child it left behind must
        # not outlive the test
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


def test_serve_demo_starts_web_worker_and_scheduler(served):
    port, proc, data_dir, served_env = served
    landing = page_at(f"http://127.0.0.1:{port}/")
    assert "お客様情報の登録" in landing and "すでにアカウントをお持ちの方" in landing
    assert "htmx" in page_at(f"http://127.0.0.1:{port}/static/vendor/htmx.min.js")[:2000]
    assert (data_dir / "essmon.sqlite3").exists()
    # the demo's logins come last, after every child's start lines, so that they are the
    # first thing a newcomer sees; and they are kept in the data directory (issue 12 §6)
    serve_log = data_dir.parent / "serve.log"
    printed = wait_until(
        lambda: text_holding(serve_log, "(kept in "),
        60,
        "the demo's logins printed",
    )
    logins = printed.index("=== essmon demo data ===")
    for start_line in ("Listening at:", "Starting worker", "scheduler started", "simulating 6"):
        assert -1 < printed.find(start_line) < logins, start_line
    assert "Subject:" not in printed[logins:]  # the demo's mails were printed above them
    kept = data_dir / "demo-logins.txt"
    assert f"(kept in {kept})" in printed
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert "operator@essmon.example" in printed
    assert re.search(r"customer\s+: \S+ / (\S+)", printed)[1] in kept.read_text()
    assert len(re.findall(r"^\s+\d{2}[A-Z]{2}\d{8}\s+[a-z0-9]{13}$", printed, re.M)) >= 3

    # a mail queued through the service reaches the file backend via the real task worker
    env = {**served_env, "DJANGO_SETTINGS_MODULE": "essmon.settings"}
    script = (
        "import django; django.setup();"
        "from django.db import transaction;"
        "from essmon.accounts.models import User;"
        "from essmon.notifications.services import queue_mail;"
        "u = User.objects.get(email='operator@essmon.example');\n"
        "with transaction.atomic(): queue_mail(recipient=u.email, kind='email_change_conflict', context={'user': u})"
    )
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, check=True, timeout=60)
    wait_until(
        lambda: list((data_dir.parent / "mail").glob("*.log")),
        20,
        "the task worker delivering the queued mail",
    )

    # what essmon wrote is the service's alone: the database with its WAL, the key, the
    # demo's sheets with their gateway passwords (issue 11 §5)
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    for name in (
        "essmon.sqlite3",
        "essmon.sqlite3-wal",
        "essmon.sqlite3-shm",
        "secret_key",
        "demo-gateways.csv",
        "demo-credentials.txt",
        "demo-logins.txt",
        "demo-staff.txt",
    ):
        assert stat.S_IMODE((data_dir / name).stat().st_mode) == 0o600, name

    # the access log records token paths (here, as path and as Referer) without the token
    secret = "Tk9secretActivation42"
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/activate/{secret}/password/",
        headers={"Referer": f"http://127.0.0.1:{port}/activate/{secret}/"},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:  # an unknown token is gone
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 410

    def access_line() -> str | None:
        # Django's own warning names the path first; gunicorn's access line, with the
        # Referer, is written a moment later
        text = serve_log.read_text()
        rest = text.replace("/activate/[redacted]/password/", "")
        return text if "/activate/[redacted]/" in rest and len(rest) < len(text) else None

    log = wait_until(access_line, 10, "the request and its Referer in the access log")
    assert secret not in log

    # the demo's simulated gateways report through the public protocol
    def samples() -> int:
        with sqlite3.connect(data_dir / "essmon.sqlite3", timeout=10) as db:
            return db.execute("SELECT count(*) FROM telemetry_sample").fetchone()[0]

    wait_until(samples, 40, "a sample from the demo's simulated gateways")

    # the demo household: its owner logs in to the monitoring site and finds the gateway
    # with two days of history behind it
    login = re.search(r"customer\s+: (\S+) / (\S+)", printed)
    assert login and re.search(r"dealer\s+: dealer@essmon.example / \S+", printed)
    jar = http.cookiejar.CookieJar()
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    base = f"http://127.0.0.1:{port}"
    browser.open(f"{base}/monitoring/login/", timeout=10).read()
    token = next(c.value for c in jar if c.name == "csrftoken")
    form = urllib.parse.urlencode(
        {"email": login[1], "password": login[2], "csrfmiddlewaretoken": token}
    ).encode()
    page = browser.open(f"{base}/monitoring/login/", data=form, timeout=10)
    assert page.url.startswith(f"{base}/monitoring/") and "嵯峨野の家" in page.read().decode()
    gateway_id = page.url.rstrip("/").rsplit("/", 1)[1]
    history = browser.open(
        f"{base}/monitoring/{gateway_id}/history/data/?view=lifetime", timeout=10
    )
    assert sum(json.loads(history.read())["energy"]["pv_kwh"]) > 0
    warranty = browser.open(f"{base}/monitoring/{gateway_id}/warranty/", timeout=10).read()
    assert "延長保証" in warranty.decode()

    # the dealer's technician logs in with a login of their own and finds the same system
    staff = re.search(r"dealer's staff\s+: (staff@essmon.example) / (\S+)  \(技術担当\)", printed)
    assert staff
    staff_jar = http.cookiejar.CookieJar()
    colleague = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(staff_jar))
    colleague.open(f"{base}/monitoring/login/", timeout=10).read()
    token = next(c.value for c in staff_jar if c.name == "csrftoken")
    form = urllib.parse.urlencode(
        {"email": staff[1], "password": staff[2], "csrfmiddlewaretoken": token}
    ).encode()
    page = colleague.open(f"{base}/monitoring/login/", data=form, timeout=10)
    assert page.url.startswith(f"{base}/monitoring/") and "嵯峨野の家" in page.read().decode()

    # the maker's support desk finds the household by its reading in hiragana
    support = re.search(r"support desk\s+: \S+/support/  (support@essmon.example) / (\S+)", printed)
    assert support
    desk_jar = http.cookiejar.CookieJar()
    desk = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(desk_jar))
    desk.open(f"{base}/login/", timeout=10).read()
    token = next(c.value for c in desk_jar if c.name == "csrftoken")
    form = urllib.parse.urlencode(
        {"email": support[1], "password": support[2], "csrfmiddlewaretoken": token}
    ).encode()
    desk.open(f"{base}/login/", data=form, timeout=10).read()
    found = desk.open(f"{base}/support/?q=" + urllib.parse.quote("さが"), timeout=10)
    assert found.url.startswith(f"{base}/support/") and "嵯峨 花子" in found.read().decode()

    # a part that dies is started again, and the rest serve on meanwhile
    scheduler = children_named(proc.pid, "scheduler")
    assert len(scheduler) == 1
    os.kill(scheduler[0], signal.SIGKILL)
    # SIGKILL is delivered asynchronously: for a moment the old pid is still alive and
    # not yet a zombie, so wait for a scheduler other than the one killed
    again = wait_until(
        lambda: [p for p in children_named(proc.pid, "scheduler") if p not in scheduler],
        20,
        "the scheduler started again",
    )
    assert len(again) == 1, again
    assert "scheduler exited with -9; starting it again in 1s" in serve_log.read_text()
    assert "お客様情報の登録" in page_at(f"http://127.0.0.1:{port}/")

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0


def test_serve_stops_its_children_when_the_terminal_is_closed(served):
    """SIGHUP (the terminal `make run` runs in was closed) ended serve alone: gunicorn,
    which reloads on SIGHUP, went on holding the port, orphaned. Now it stops like SIGTERM:
    every child stopped, the port free, the simulator's state written."""
    import socket

    port, proc, data_dir, _ = served
    page_at(f"http://127.0.0.1:{port}/")
    wait_until(lambda: children_named(proc.pid, "simulate"), 40, "the simulator started")
    children = children_named(proc.pid, "")
    assert len(children) >= 4  # web, worker, scheduler, simulator
    workers = [pid for child in children for pid in children_named(child, "")]
    proc.send_signal(signal.SIGHUP)  # to serve alone, as a test cannot close a terminal
    assert proc.wait(timeout=60) == 0
    wait_until(
        lambda: not [pid for pid in children + workers if alive(pid)], 10, "every child stopped"
    )
    with socket.socket() as sock:
        # A connection gunicorn closed first leaves the port in TIME_WAIT, which refuses a
        # plain bind now and then; SO_REUSEADDR passes that but still fails on a listener.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen()  # nobody holds it
    assert (data_dir / "demo-simulator-state.json").exists()


def text_holding(path: Path, word: str) -> str | None:
    """The file's text once it holds ``word``."""
    text = path.read_text()
    return text if word in text else None


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def children_named(parent: int, word: str) -> list[int]:
    """The living child processes of ``parent`` whose command line holds ``word``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        state, ppid = fields[0], int(fields[1])
        if ppid == parent and state != "Z" and word.encode() in cmdline:
            found.append(int(entry.name))
    return found
