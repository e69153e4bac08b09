from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from essmon.gateways.models import Gateway
from essmon.mqtt.broker import sync_broker_credentials
from essmon.mqtt.certificates import CertificateError, issue_certificates, revoke_certificates
from essmon.mqtt.models import GatewayCertificate


class Command(BaseCommand):
    help = (
        "Gateways' client certificates from essmon's CA: `issue` writes each gateway's key "
        "and certificate (the key only there, once), `revoke` revokes them, `crl` rewrites "
        "the CRL; the broker is signalled (ESSMON_MQTT_BROKER_PID_FILE) when the CRL "
        "changed. See docs/deployment.md."
    )

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True)
        issue = actions.add_parser("issue", help="a key and certificate per gateway")
        issue.add_argument("gateway_ids", nargs="*", metavar="gateway_id")
        issue.add_argument("--batch", type=int, help="every gateway of a provisioning batch")
        issue.add_argument("--out", required=True, help="folder for <ID>.key and <ID>.pem")
        issue.add_argument("--days", type=int, help="validity (ESSMON_GATEWAY_CERT_DAYS)")
        revoke = actions.add_parser("revoke", help="revoke certificates, then rewrite the CRL")
        revoke.add_argument("gateway_ids", nargs="*", metavar="gateway_id")
        revoke.add_argument("--serial", action="append", default=[], help="one certificate")
        revoke.add_argument(
            "--reason",
            default=GatewayCertificate.Reason.UNSPECIFIED,
            choices=GatewayCertificate.Reason.values,
        )
        actions.add_parser("crl", help="rewrite the CRL now if it is not current")

    def handle(self, *, action, **options):
        try:
            if action == "issue":
                self._issue(**options)
            elif action == "revoke":
                if not options["gateway_ids"] and not options["serial"]:
                    raise CommandError("give gateway IDs or --serial")
                count = revoke_certificates(
                    gateway_ids=options["gateway_ids"],
                    serials=options["serial"],
                    reason=options["reason"],
                )
                self.stdout.write(f"{count} certificate(s) revoked")
        except CertificateError as exc:
            raise CommandError(str(exc)) from exc
        except OSError as exc:  # the folder or the CA's files: not writable, not readable
            raise CommandError(f"{exc.filename or ''}: {exc.strerror or exc}") from exc
        changed = sync_broker_credentials()
        self.stdout.write(f"broker files and CRL: {'written' if changed else 'unchanged'}")

    def _issue(self, *, gateway_ids, batch, out, days, **options):
        ids = list(gateway_ids)
        if batch is not None:
            in_batch = Gateway.objects.filter(batch_id=batch).order_by("gateway_id")
            ids += in_batch.values_list("gateway_id", flat=True)
            if not in_batch.exists():
                raise CommandError(f"no gateways in provisioning batch {batch}")
        issued = issue_certificates(gateway_ids=ids, out_dir=Path(out), days=days)
        for row in issued:
            self.stdout.write(
                f"{row.gateway_id} serial {row.serial} until {row.not_after:%Y-%m-%d} "
                f"{row.certificate_file}"
            )
