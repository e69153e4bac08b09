import socket
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from essmon.mqtt.broker import broker_address
from essmon.mqtt.worker import IngestWorker


class Command(BaseCommand):
    help = (
        "Ingest gateways' MQTT messages from ESSMON_MQTT_URL on a shared subscription. "
        "Run several side by side, each with its own --client-id."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--client-id",
            default=f"essmon-ingest-{socket.gethostname()}",
            help="stable across restarts: the broker keeps this worker's unacknowledged "
            "messages under it",
        )
        parser.add_argument("--batch-size", type=int, default=1000)
        parser.add_argument("--seconds", type=float, default=None, help="stop after this long")

    def handle(self, *, client_id, batch_size, seconds, **options):
        if not settings.MQTT_URL:
            raise CommandError("set ESSMON_MQTT_URL (mqtt://user:password@host:1883)")
        try:
            address = broker_address()
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        if not 1 <= batch_size <= 10_000:
            raise CommandError("--batch-size: from 1 to 10000")
        worker = IngestWorker(
            address, client_id=client_id, share_group=settings.MQTT_SHARE_GROUP,
            batch_size=batch_size,
        )  # fmt: skip
        worker.install_signal_handlers()
        worker.run(until=time.monotonic() + seconds if seconds else None)
