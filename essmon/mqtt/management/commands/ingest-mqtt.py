import socket
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from essmon.mqtt.broker import broker_address
from essmon.mqtt.worker import IngestWorker, worker_client_id


class Command(BaseCommand):
    help = (
        "Ingest gateways' MQTT messages from ESSMON_MQTT_URL on a shared subscription. "
        "Run several side by side, each with its own --name."
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
        parser.add_argument("--batch-size", type=int, default=1000)
        parser.add_argument("--seconds", type=float, default=None, help="stop after this long")

    def handle(self, *, name, client_id, print_client_id, batch_size, seconds, **options):
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
        worker = IngestWorker(
            address,
            client_id=client_id,
            share_group=settings.MQTT_SHARE_GROUP,
            batch_size=batch_size,
        )
        worker.install_signal_handlers()
        worker.run(until=time.monotonic() + seconds if seconds else None)
