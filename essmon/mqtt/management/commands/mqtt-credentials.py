from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from essmon.mqtt.broker import broker_address, reload_broker, write_broker_files


class Command(BaseCommand):
    help = (
        "Write the broker's password and ACL files from the gateway registry "
        "(and signal the broker with --reload-pid-file). See docs/deployment.md."
    )

    def add_arguments(self, parser):
        parser.add_argument("--password-file", default=settings.MQTT_PASSWORD_FILE)
        parser.add_argument("--acl-file", default=settings.MQTT_ACL_FILE)
        parser.add_argument("--reload-pid-file", default=settings.MQTT_BROKER_PID_FILE)

    def handle(self, *, password_file, acl_file, reload_pid_file, **options):
        if not password_file or not acl_file:
            raise CommandError(
                "give --password-file and --acl-file "
                "(or set ESSMON_MQTT_PASSWORD_FILE and ESSMON_MQTT_ACL_FILE)"
            )
        try:
            service = broker_address() if settings.MQTT_URL else None
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        changed = write_broker_files(
            password_file=Path(password_file), acl_file=Path(acl_file), service=service
        )
        self.stdout.write(f"{password_file}, {acl_file}: {'written' if changed else 'unchanged'}")
        if changed and reload_pid_file:
            reload_broker(Path(reload_pid_file))
