"""Mails sent before bodies were scrubbed still hold their token links: remove them."""

from django.db import migrations


def scrub_sent(apps, schema_editor):
    from essmon.notifications.services import scrub_secret_links

    OutboxMessage = apps.get_model("notifications", "OutboxMessage")
    for message in OutboxMessage.objects.filter(state="sent").only("pk", "body").iterator():
        scrubbed = scrub_secret_links(message.body)
        if scrubbed != message.body:
            OutboxMessage.objects.filter(pk=message.pk).update(body=scrubbed)


class Migration(migrations.Migration):
    dependencies = [("notifications", "0001_initial")]

    operations = [migrations.RunPython(scrub_sent, migrations.RunPython.noop)]
