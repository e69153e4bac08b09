import os
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from essmon.gateways.identifiers import normalize_gateway_id
from essmon.gateways.models import ProvisioningBatch
from essmon.gateways.services.sheets import SIZES, SheetError, render_sheets


class Command(BaseCommand):
    help = (
        "Print the sheets 「お客様用 遠隔モニタリングサービス ご登録にあたって」 of a "
        "provisioning batch (or of given gateways) to a PDF: A4, or 62x29 mm labels. Only "
        "gateways not yet claimed can be printed (their passwords are kept until then)."
    )

    def add_arguments(self, parser):
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--batch", type=int, help="the batch number provision-gateways printed")
        which.add_argument("--gateway", nargs="+", default=[], help="gateway IDs")
        parser.add_argument("--size", choices=SIZES, default="a4", help="(default %(default)s)")
        parser.add_argument("--out", required=True, type=Path, help="PDF file to write")

    def handle(self, *, batch, gateway, size, out, **options):
        if out.exists():
            raise CommandError(f"{out} exists; refusing to overwrite")
        if not out.parent.is_dir():
            raise CommandError(f"{out.parent} is not a directory")
        found = None
        if batch is not None:
            found = ProvisioningBatch.objects.filter(pk=batch).first()
            if found is None:
                raise CommandError(f"no provisioning batch {batch}")
        try:
            pdf = render_sheets(
                batch=found, gateway_ids=[normalize_gateway_id(g) for g in gateway], size=size
            )
        except SheetError as exc:
            raise CommandError(exc.message) from exc
        # owner-only from the start: the sheets carry the passwords in plain text
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with open(fd, "wb") as fh:
            fh.write(pdf)
        self.stdout.write(f"wrote {out} ({size})")
