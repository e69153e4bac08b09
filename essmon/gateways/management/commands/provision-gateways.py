import getpass
import os
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from essmon.gateways.services.provisioning import (
    DEFAULT_MODEL,
    ProvisioningError,
    check_provisioning,
    provision_gateways,
    write_gateway_csv,
)


class Command(BaseCommand):
    help = (
        "Create unclaimed gateways with fresh registration passwords and write ID, password "
        "and model to a CSV (with the device secrets for the gateways), recorded as a batch "
        "whose sheets print-sheets prints."
    )

    def add_arguments(self, parser):
        parser.add_argument("--count", type=int, required=True, help="how many gateways")
        parser.add_argument("--model", default=DEFAULT_MODEL, help="形式 (default %(default)s)")
        parser.add_argument("--part-number", default="", help="品番 printed on the sheet")
        parser.add_argument("--lot", default=None, help="2-digit prefix of the IDs (default: year)")
        parser.add_argument("--out", required=True, type=Path, help="CSV file to write")

    def handle(self, *, count, model, part_number, lot, out, **options):
        try:  # before the file checks: the run's own rules, as the console checks them
            check_provisioning(count=count, model=model, part_number=part_number, lot=lot)
        except ProvisioningError as exc:
            raise CommandError(exc.message) from exc
        if out.exists():
            raise CommandError(f"{out} exists; refusing to overwrite a sheet list")
        if not out.parent.is_dir():
            raise CommandError(f"{out.parent} is not a directory")
        # The CSV is written inside provisioning's transaction: gateways whose passwords
        # were never written down could not be registered, so a failed write keeps none.
        try:
            rows = provision_gateways(
                count=count,
                model=model,
                part_number=part_number,
                lot=lot,
                origin=f"provision-gateways (OS user {_os_user()})",
                before_commit=lambda made: write_gateway_csv(out, made),
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        batch = rows[0].batch_id
        self.stdout.write(
            f"provisioned {len(rows)} gateways of model {model} as batch {batch}; wrote {out}\n"
            f"print their sheets with: essmon print-sheets --batch {batch} --out sheets.pdf"
        )


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no name for the uid (a container's)
        return f"uid {os.getuid()}"
