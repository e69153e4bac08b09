from django.core.management.base import BaseCommand, CommandError

from essmon.mqtt.certificates import CAFiles, CertificateError, init_ca


class Command(BaseCommand):
    help = (
        "essmon's CA for gateways' client certificates: `init` makes its key (mode 600) and "
        "certificate in ESSMON_GATEWAY_CA_DIR, and an empty CRL; `show` prints the paths the "
        "broker's listener needs. See docs/deployment.md."
    )

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True)
        init = actions.add_parser("init", help="make the CA (refuses to overwrite one)")
        init.add_argument("--name", default="essmon gateway CA", help="the CA's common name")
        actions.add_parser("show", help="the CA's files")

    def handle(self, *, action, **options):
        files = CAFiles.from_settings()
        if action == "init":
            try:
                init_ca(files=files, name=options["name"])
            except CertificateError as exc:
                raise CommandError(str(exc)) from exc
            except OSError as exc:
                raise CommandError(f"{exc.filename or ''}: {exc.strerror or exc}") from exc
        elif not files.exists():
            raise CommandError(f"no CA in {files.key.parent}: essmon gateway-ca init")
        # the key's path only, never its contents
        self.stdout.write(f"cafile {files.certificate}\ncrlfile {files.crl}\nkey {files.key}")
