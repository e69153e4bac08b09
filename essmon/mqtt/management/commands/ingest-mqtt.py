import socket
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from essmon.core.heap import settle_after_startup
from essmon.mqtt.broker import broker_address
from essmon.mqtt.client import reason
from essmon.mqtt.worker import IngestWorker, worker_client_id


class Command(BaseCommand):
    help = (
        "Ingest gateways' MQTT messages from ESSMON_MQTT_URL on a shared subscription. "
        "Run several side by side, each with its own --name. --retire ends the session "
        "of a worker removed for good."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--name",
            default=socket.gethostname(),
            help="this worker's name, unique among the workers (default: the host's name); "
            "its client ID is made from it and ESSMON_SECRET_KEY, the same at every start, "
            "so its persistent session resumes",
        )
        parser.add_argument(
            "--client-id",
            default=None,
            help="the client ID itself, instead of the one made from --name: stable across "
            "restarts, and not guessable",
        )
        parser.add_argument(
            "--print-client-id", action="store_true", help="print the client ID and exit"
        )
        parser.add_argument(
            "--retire",
            action="store_true",
            help="for a worker removed for good, once its process is stopped: take its "
            "session over (--name or --client-id), unsubscribe it from the shared "
            "subscription, ingest the messages it still holds, and end it, so the broker "
            "routes nothing more to it (docs/deployment.md, Several workers)",
        )
        parser.add_argument("--batch-size", type=int, default=1000)
        parser.add_argument("--seconds", type=float, default=None, help="stop after this long")

    def handle(self, *, name, client_id, print_client_id, retire, batch_size, seconds, **options):
        client_id = client_id or worker_client_id(name)
        if print_client_id:
            self.stdout.write(client_id)
            return
        if not settings.MQTT_URL:
            raise CommandError("set ESSMON_MQTT_URL (mqtt://user:password@host:1883)")
        try:
            address = broker_address()
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        if not 1 <= batch_size <= 10_000:
            raise CommandError("--batch-size: from 1 to 10000")
        if retire and seconds is not None:
            raise CommandError("--retire stops by itself, once the session is empty: no --seconds")
        worker = IngestWorker(
            address,
            client_id=client_id,
            share_group=settings.MQTT_SHARE_GROUP,
            batch_size=batch_size,
            retiring=retire,
        )
        worker.install_signal_handlers()
        settle_after_startup()
        if retire:
            self._retire(worker)
        else:
            worker.run(until=time.monotonic() + seconds if seconds else None)

    def _retire(self, worker: IngestWorker) -> None:
        done = worker.retire()
        if not worker.generation:
            raise CommandError(f"{done.client_id}: {done.failure}; nothing done")
        if not done.ended:
            raise CommandError(
                f"{done.client_id}: stopped before the session was empty ({done.failure}). "
                "If that worker is still running, it took its session back: stop it for "
                "good first. The session is kept, unsubscribed, with what it still holds "
                f"({done.messages} messages ingested so far): run --retire again"
            )
        if not done.session_found:
            self.stdout.write(
                f"{done.client_id}: the broker held no session under this ID (it expired, was "
                "retired already, or the name or ID is not a worker's): nothing to drain; the "
                "session this connection opened is ended"
            )
            return
        codes = ", ".join(reason(c) for c in done.unsuback)
        self.stdout.write(
            f"{done.client_id}: unsubscribed from the shared subscription (UNSUBACK {codes}); "
            f"ingested the {done.messages} messages the session held "
            f"({dict(worker.totals)}); session ended (Session Expiry Interval 0): the broker "
            "routes nothing to this ID any more"
        )
