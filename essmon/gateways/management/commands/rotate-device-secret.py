from django.core.management.base import BaseCommand, CommandError

from essmon.gateways.selectors import gateway_with_id
from essmon.gateways.services.credentials import rotate_device_secret


class Command(BaseCommand):
    help = "Give a gateway a new device secret (printed once); the old one stops working at once."

    def add_arguments(self, parser):
        parser.add_argument("gateway_id")

    def handle(self, *, gateway_id, **options):
        gateway = gateway_with_id(gateway_id)
        if gateway is None:
            raise CommandError(f"no gateway {gateway_id!r}")
        self.stdout.write(rotate_device_secret(gateway=gateway))
