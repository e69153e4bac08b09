"""``essmon serve``: the whole service on one machine — web, task worker, scheduler, the
MQTT ingest when ESSMON_MQTT_URL is set, and with --demo a few simulated gateways."""

import os
import signal
import sys
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from essmon.core.serving import registered_demo
from essmon.core.supervise import Child, Supervisor
from essmon.env import env_int

STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)
# How long each child has to stop after SIGTERM before it is killed: more than gunicorn's
# graceful timeout (10 s) and the demo simulator's drain (essmon.demo.serving.DEMO_DRAIN_S),
# which ends with the state file
STOP_TIMEOUT = 20.0
# The demo's logins are printed once the children have started and said so (or after this
# long, whatever they are doing), so that they are not lost above the children's start lines
DEMO_LOGINS_WAIT_S = 30.0


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
        # the demo app sits above every other and registers itself (essmon/core/serving.py)
        demo_hooks = registered_demo() if demo else None
        if demo and demo_hooks is None:
            raise CommandError("--demo needs the app essmon.demo in INSTALLED_APPS")
        logins = demo_hooks.prepare(host, port) if demo_hooks else None
        python = sys.executable
        cli = [python, "-m", "essmon.cli"]
        # left as written (fmt: skip): command lines, each option beside its value (the
        # formatter would put one word a line)
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
        if demo_hooks:
            optional["simulator"] = demo_hooks.simulator(cli, host, port)
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
                if (
                    logins
                    and demo_hooks
                    and (time.monotonic() >= logins_due or demo_hooks.started(host, port, started))
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
