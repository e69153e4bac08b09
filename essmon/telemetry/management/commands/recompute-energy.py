from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q
from django.utils import timezone

from essmon.telemetry.models import RollupWatermark
from essmon.telemetry.rollups import WATERMARK, rollup_energy


class Command(BaseCommand):
    help = (
        "Recompute every hour, day and month of energy from the samples still kept, e.g. "
        "after an upgrade changed how rollups are counted (rollups older than the samples' "
        "retention stay as they are)."
    )

    def handle(self, **options):
        RollupWatermark.objects.get_or_create(name=WATERMARK)
        free = Q(running_until__isnull=True) | Q(running_until__lt=timezone.now())
        # from the start: the next run, this one or the scheduler's, reads every sample
        if not RollupWatermark.objects.filter(free, name=WATERMARK).update(received_upto=None):
            raise CommandError("a rollup run is going on; try again in a minute")
        hours = rollup_energy()
        self.stdout.write(f"hours recomputed: {hours}")
