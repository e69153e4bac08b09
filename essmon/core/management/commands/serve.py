"""``essmon serve``: the whole service on one machine — web, task worker, scheduler, the
MQTT ingest when ESSMON_MQTT_URL is set, and with --demo a few simulated gateways."""

import os
import signal
import socket
import sys
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.utils import timezone

from essmon.core.supervise import Child, Supervisor
from essmon.env import env_int

STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)
# How long each child has to stop after SIGTERM before it is killed: more than gunicorn's
# graceful timeout (10 s) and the demo simulator's drain, which ends with the state file
STOP_TIMEOUT = 20.0
DEMO_DRAIN_S = 10
# The demo's logins are printed once the children have started and said so (or after this
# long, whatever they are doing), so that they are not lost above the children's start lines
DEMO_LOGINS_WAIT_S = 30.0
DEMO_LOGINS_FILE = "demo-logins.txt"


class Command(BaseCommand):
    help = (
        "Start the web server (gunicorn), the task worker and the scheduler; --demo adds demo data."
    )

    def add_arguments(self, parser):
        parser.add_argument("--demo", action="store_true", help="create demo data and print it")
        parser.add_argument("--host", default=os.environ.get("ESSMON_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=env_int("ESSMON_PORT", 8000))
        parser.add_argument("--web-workers", type=int, default=env_int("ESSMON_WEB_WORKERS", 2))
        # threads, not only processes: a gateway's long poll for commands holds one
        parser.add_argument("--web-threads", type=int, default=env_int("ESSMON_WEB_THREADS", 8))

    def handle(self, *, demo, host, port, web_workers, web_threads, **options):
        call_command("migrate", interactive=False, verbosity=0)
        if settings.PRODUCTION:
            call_command("collectstatic", interactive=False, verbosity=0)
        logins = self._demo_logins(host, port) if demo else None
        python = sys.executable
        cli = [python, "-m", "essmon.cli"]
        commands = {
            "web": [
                python, "-m", "gunicorn", "essmon.wsgi:application",
                "--bind", f"{host}:{port}", "--workers", str(web_workers),
                "--worker-class", "gthread", "--threads", str(web_threads),
                "--access-logfile", "-", "--graceful-timeout", "10", "--no-control-socket",
                "--logger-class", "essmon.core.accesslog.RedactingLogger",
            ],
            "worker": [*cli, "db_worker", "--no-reload", "--interval", "0.5"],
            "scheduler": [*cli, "scheduler"],
        }  # fmt: skip
        if settings.MQTT_URL:
            commands["ingest-mqtt"] = [*cli, "ingest-mqtt"]
        # the demo's gateways report like real ones, through the public protocol; the
        # service does not depend on them, so one ending does not stop the service
        optional = {}
        if demo:
            from essmon.core.demo import SIMULATOR_STATE

            optional["simulator"] = [
                *cli, "simulate", "--csv", str(settings.DATA_DIR / "demo-gateways.csv"),
                "--url", f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}",
                "--interval", "10", "--report-every", "600",
                "--state", str(settings.DATA_DIR / SIMULATOR_STATE),
                # well within the supervisor's STOP_TIMEOUT, so it ends on its own
                "--drain-timeout", str(DEMO_DRAIN_S),
            ]  # fmt: skip
        # every part is started again when it exits (with a growing pause while it keeps
        # failing): one message or request that kills a worker must not stop the service
        supervisor = Supervisor(
            [Child(name, cmd) for name, cmd in commands.items()]
            + [Child(name, cmd, restart=False) for name, cmd in optional.items()],
            say=lambda line: self.stderr.write(line),
        )
        started = timezone.now()
        supervisor.start()
        self.stdout.write(f"essmon is serving http://{host}:{port}/ (Ctrl-C stops)")
        logins_due = time.monotonic() + DEMO_LOGINS_WAIT_S

        def stop(signum, frame):
            # once: a second signal must not cut short the stopping of the children
            for sig in STOP_SIGNALS:
                signal.signal(sig, signal.SIG_IGN)
            raise KeyboardInterrupt

        # SIGHUP: the terminal was closed. Its default would end serve alone and leave
        # gunicorn (which reloads on SIGHUP) holding the port
        for sig in STOP_SIGNALS:
            signal.signal(sig, stop)
        try:
            while True:
                supervisor.check()
                if logins and (
                    time.monotonic() >= logins_due or _demo_started(host, port, since=started)
                ):
                    time.sleep(1.0)  # the last of their start lines
                    self.stdout.write(logins)
                    self.stdout.flush()
                    logins = None
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            supervisor.stop(timeout=STOP_TIMEOUT)

    def _demo_logins(self, host: str, port: int) -> str:
        """The demo data (made now, before the children start) and its logins as printed,
        also kept in the data directory's demo-logins.txt (mode 600, like the directory's
        other files), where they stay after the simulator's log has scrolled them away."""
        from essmon.core.demo import ensure_demo_data

        demo = ensure_demo_data()
        base = f"http://{host}:{port}"
        kept = settings.DATA_DIR / DEMO_LOGINS_FILE
        lines = [
            f"registration site : {base}/",
            f"operator login    : {base}/admin/  {demo.operator_email} / {demo.operator_password}",
            *self._mail_hint(),
            f"monitoring site   : {base}/monitoring/login/",
            f"  customer        : {demo.customer_email} / {demo.customer_password}",
            f"  dealer          : {demo.dealer_email} / {demo.dealer_password}",
            "unclaimed gateways (ゲートウェイID / ゲートウェイパスワード):",
            *(f"  {g.gateway_id}  {g.password}" for g in demo.gateways),
        ]
        kept.write_text("\n".join(lines) + "\n")
        kept.chmod(0o600)
        return "\n".join(["", "=== essmon demo data ===", *lines, f"(kept in {kept})", ""])

    @staticmethod
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


def _demo_started(host: str, port: int, *, since) -> bool:
    """True once every child of a demo has started and done its first work, each leaving
    its start lines on the terminal: the web server answers, the scheduler has finished a
    job, the task worker has no mail left due (it printed the demo's mails), and the
    simulator's first samples have arrived."""
    from essmon.core.models import PeriodicJob
    from essmon.notifications.models import OutboxMessage
    from essmon.telemetry.models import GatewayLiveState

    address = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    try:
        with socket.create_connection((address, port), timeout=1):
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
