import logging
import signal
import time

from django.core.management.base import BaseCommand

from essmon.core.scheduler import run_due_jobs

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Run periodic jobs (expiry sweeps, outbox requeue); safe to run in several processes."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="run due jobs once and exit")
        parser.add_argument("--tick", type=float, default=5.0, help="seconds between checks")

    def handle(self, *, once, tick, **options):
        if once:
            ran = run_due_jobs()
            self.stdout.write(f"ran: {', '.join(ran) or 'nothing due'}")
            return
        stopping = False

        def stop(signum, frame):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        logger.info("scheduler started")
        while not stopping:
            try:
                run_due_jobs()
            except Exception:  # a database hiccup must not end the scheduler
                logger.exception("scheduler tick failed")
            deadline = time.monotonic() + tick
            while not stopping and time.monotonic() < deadline:
                time.sleep(0.2)
        logger.info("scheduler stopped")
