from django.apps import AppConfig
from django.db.models.signals import post_migrate


class TelemetryConfig(AppConfig):
    name = "essmon.telemetry"
    label = "telemetry"
    verbose_name = "計測データ"

    def ready(self) -> None:
        post_migrate.connect(make_sample_partitions, sender=self)


def make_sample_partitions(sender, using: str, **kwargs) -> None:
    """A freshly migrated PostgreSQL database (the test database too) accepts samples at
    once, without waiting for the hourly maintain-partitions job."""
    from essmon.telemetry.partitions import ensure_partitions

    ensure_partitions(using=using)
