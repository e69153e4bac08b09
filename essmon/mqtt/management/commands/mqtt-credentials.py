from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from essmon.mqtt.broker import BrokerFiles, broker_address, reload_broker, write_broker_files


class Command(BaseCommand):
    help = (
        "Write the broker's password and ACL files from the gateway registry: the gateways' "
        "listener's pair and the service listener's pair (and signal the broker with "
        "--reload-pid-file). See docs/deployment.md."
    )

    def add_arguments(self, parser):
        parser.add_argument("--password-file", default=settings.MQTT_PASSWORD_FILE)
        parser.add_argument("--acl-file", default=settings.MQTT_ACL_FILE)
        parser.add_argument("--service-password-file", default=settings.MQTT_SERVICE_PASSWORD_FILE)
        parser.add_argument("--service-acl-file", default=settings.MQTT_SERVICE_ACL_FILE)
        parser.add_argument("--reload-pid-file", default=settings.MQTT_BROKER_PID_FILE)

    def handle(self, *, password_file, reload_pid_file, **options):
        if not password_file:
            raise CommandError("give --password-file (or set ESSMON_MQTT_PASSWORD_FILE)")
        try:
            service = broker_address() if settings.MQTT_URL else None
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        files = BrokerFiles.beside(
            password_file,
            options["acl_file"],
            service_password_file=options["service_password_file"],
            service_acl_file=options["service_acl_file"],
        )
        changed = write_broker_files(files, service=service)
        written = ", ".join(str(path) for path in files)
        self.stdout.write(f"{written}: {'written' if changed else 'unchanged'}")
        if changed and reload_pid_file:
            reload_broker(Path(reload_pid_file))
