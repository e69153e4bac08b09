from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from essmon.gateways.services.factory_list import GatewayListError, import_gateways


class Command(BaseCommand):
    help = "Load a factory list of gateways (CSV: gateway_id,password,model[,part_number])."

    def add_arguments(self, parser):
        parser.add_argument("csv", type=Path)

    def handle(self, *, csv, **options):
        try:
            count = import_gateways(path=csv).count
        except GatewayListError as exc:
            for problem in exc.problems:
                self.stderr.write(f"{csv}: {problem}")
            raise CommandError(f"{csv}: nothing imported ({len(exc.problems)} problems)") from exc
        self.stdout.write(
            f"imported {count} gateways from {csv} (print-sheets prints their sheets)"
        )
