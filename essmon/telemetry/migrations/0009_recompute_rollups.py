"""Rollups made before 0008 counted a counter that went down with its whole new value (a
demo's restart added about 9,200 kWh): the next scheduled rollup recomputes every hour of
the samples still kept, under the rules of 0008, instead of only the newly received."""

from django.db import migrations


def recompute_from_start(apps, schema_editor):
    apps.get_model("telemetry", "RollupWatermark").objects.filter(name="energy").update(
        received_upto=None
    )


class Migration(migrations.Migration):
    dependencies = [
        ("telemetry", "0008_counter_discontinuity"),
    ]

    operations = [
        migrations.RunPython(recompute_from_start, migrations.RunPython.noop),
    ]
