from django.core.management.base import BaseCommand, CommandError

from essmon.telemetry.rollups import rollup_energy


class Command(BaseCommand):
    help = (
        "Recompute every hour, day and month of energy from the samples still kept, e.g. "
        "after an upgrade changed how rollups are counted (rollups older than the samples' "
        "retention stay as they are)."
    )

    def handle(self, **options):
        # from the start within the run's own lease: a scheduled run that takes the lease
        # first leaves this one with nothing done, and it must say so, not "0 hours"
        hours = rollup_energy(from_start=True)
        if hours is None:
            raise CommandError(
                "a rollup run is going on (the scheduler's, every minute); nothing was "
                "recomputed: try again when it has finished"
            )
        self.stdout.write(f"hours recomputed: {hours}")
