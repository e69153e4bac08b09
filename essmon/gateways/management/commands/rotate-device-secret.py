from django.core.management.base import BaseCommand, CommandError

from essmon.gateways.models import Gateway
from essmon.gateways.services import rotate_device_secret


class Command(BaseCommand):
    help = "Give a gateway a new device secret (printed once); the old one stops working at once."

    def add_arguments(self, parser):
        parser.add_argument("gateway_id")

    def handle(self, *, gateway_id, **options):
        gateway = Gateway.objects.filter(gateway_id=gateway_id).first()
        if gateway is None:
            raise CommandError(f"no gateway {gateway_id!r}")
        self.stdout.write(rotate_device_secret(gateway=gateway))
