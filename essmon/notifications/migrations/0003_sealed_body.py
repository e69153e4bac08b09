"""Mails still to be delivered keep their token links only sealed: the whole body moves
into ``sealed_body`` (encrypted), and ``body`` keeps the mail without those links."""

from django.db import migrations, models


def seal_unsent(apps, schema_editor):
    from essmon.notifications.services import scrub_secret_links, seal

    OutboxMessage = apps.get_model("notifications", "OutboxMessage")
    unsent = OutboxMessage.objects.exclude(state="sent").only("pk", "body")
    for message in unsent.iterator():
        scrubbed = scrub_secret_links(message.body)
        if scrubbed != message.body:
            OutboxMessage.objects.filter(pk=message.pk).update(
                body=scrubbed, sealed_body=seal(message.body)
            )


class Migration(migrations.Migration):
    dependencies = [("notifications", "0002_scrub_sent_bodies")]

    operations = [
        migrations.AddField(
            model_name="outboxmessage",
            name="sealed_body",
            field=models.TextField(
                blank=True, editable=False, verbose_name="本文(暗号化、送信まで)"
            ),
        ),
        migrations.RunPython(seal_unsent, migrations.RunPython.noop),
    ]
