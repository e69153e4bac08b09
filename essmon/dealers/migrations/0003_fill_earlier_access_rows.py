from django.db import migrations, models


def fill_earlier_rows(apps, schema_editor):
    """Each earlier row was one view at ``at`` (its last time the same), by the dealer's
    account, which was then, as now, the dealer's one login."""
    DealerAccess = apps.get_model("dealers", "DealerAccess")
    DealerAccess.objects.update(last_at=models.F("at"))
    for row in DealerAccess.objects.select_related("dealer__user").iterator():
        row.user = row.dealer.user
        row.actor_name = row.dealer.user.name
        row.save(update_fields=["user", "actor_name"])


class Migration(migrations.Migration):
    """Apart from 0002: on PostgreSQL the indexes 0002 makes at its end cannot be made
    in a transaction whose updates still have foreign-key checks pending."""

    dependencies = [("dealers", "0002_dealer_access_record")]

    operations = [migrations.RunPython(fill_earlier_rows, migrations.RunPython.noop)]
