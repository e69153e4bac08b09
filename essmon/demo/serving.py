"""``essmon serve --demo``'s part: the demo data and its logins, the simulator as one more
child, and when the children have all started. Registered with core's ``serve`` through
``essmon.core.serving`` (core sits below every app and cannot import this one)."""

from __future__ import annotations

import socket
from datetime import datetime

from django.conf import settings
from django.utils import timezone

from essmon.core.models import PeriodicJob
from essmon.core.serving import Demo
from essmon.demo.data import SIMULATOR_STATE, ensure_demo_data
from essmon.notifications.models import OutboxMessage
from essmon.telemetry.models import GatewayLiveState

# well within the supervisor's STOP_TIMEOUT (serve), so the simulator ends on its own
DEMO_DRAIN_S = 10
DEMO_LOGINS_FILE = "demo-logins.txt"


def _local(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "::") else host


def demo_logins(host: str, port: int) -> str:
    """The demo data (made now, before the children start) and its logins as printed,
    also kept in the data directory's demo-logins.txt (mode 600, like the directory's
    other files), where they stay after the simulator's log has scrolled them away."""
    demo = ensure_demo_data()
    base = f"http://{host}:{port}"
    kept = settings.DATA_DIR / DEMO_LOGINS_FILE
    lines = [
        f"registration site : {base}/",
        f"operator login    : {base}/admin/  {demo.operator_email} / {demo.operator_password}",
        f"support desk      : {base}/support/  {demo.support_email} / {demo.support_password}",
        *_mail_hint(),
        f"monitoring site   : {base}/monitoring/login/",
        f"  customer        : {demo.customer_email} / {demo.customer_password}",
        f"  dealer          : {demo.dealer_email} / {demo.dealer_password}",
        f"  dealer's staff  : {demo.staff_email} / {demo.staff_password}  (技術担当)",
        "unclaimed gateways (ゲートウェイID / ゲートウェイパスワード):",
        *(f"  {g.gateway_id}  {g.password}" for g in demo.gateways),
    ]
    kept.write_text("\n".join(lines) + "\n")
    kept.chmod(0o600)
    return "\n".join(["", "=== essmon demo data ===", *lines, f"(kept in {kept})", ""])


def _mail_hint() -> list[str]:
    """Where a newcomer reads the activation mail: never the admin, which hides bodies."""
    backend = settings.EMAIL_BACKEND.rsplit(".", 2)[-2]
    if backend == "console":
        where = "printed in this output by the task worker as it sends them (ESSMON_EMAIL_URL=console://)"
    elif backend == "filebased":
        # set (by settings' email_settings_from_url) only for file:// URLs, as here
        where = f"written as files into {settings.EMAIL_FILE_PATH}"  # type: ignore[misc]
    else:
        where = f"sent through {settings.EMAIL_URL.split('@')[-1]}"
    return [f"mails             : {where}"]


def simulator_command(cli: list[str], host: str, port: int) -> list[str]:
    """The demo's gateways report like real ones, through the public protocol."""
    return [
        *cli,
        "simulate",
        "--csv",
        str(settings.DATA_DIR / "demo-gateways.csv"),
        "--url",
        f"http://{_local(host)}:{port}",
        "--interval",
        "10",
        "--report-every",
        "600",
        "--state",
        str(settings.DATA_DIR / SIMULATOR_STATE),
        "--drain-timeout",
        str(DEMO_DRAIN_S),
    ]


def demo_started(host: str, port: int, since: datetime) -> bool:
    """True once every child of a demo has started and done its first work, each leaving
    its start lines on the terminal: the web server answers, the scheduler has finished a
    job, the task worker has no mail left due (it printed the demo's mails), and the
    simulator's first samples have arrived."""
    try:
        with socket.create_connection((_local(host), port), timeout=1):
            pass
    except OSError:
        return False
    return (
        PeriodicJob.objects.filter(last_finished_at__gte=since).exists()
        and not OutboxMessage.objects.filter(
            state=OutboxMessage.State.PENDING, next_attempt_at__lte=timezone.now()
        ).exists()
        and GatewayLiveState.objects.filter(last_seen_at__gte=since).exists()
    )


DEMO = Demo(prepare=demo_logins, simulator=simulator_command, started=demo_started)
