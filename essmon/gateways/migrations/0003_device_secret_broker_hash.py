from django.db import migrations, models


def forget_sha256_digests(apps, schema_editor):
    # A SHA-256 digest cannot be turned into the broker's PBKDF2 format without the secret,
    # which essmon never kept: such gateways get a new secret with rotate-device-secret.
    Gateway = apps.get_model("gateways", "Gateway")
    Gateway.objects.exclude(device_secret_hash="").exclude(
        device_secret_hash__startswith="$7$"
    ).update(device_secret_hash="")


class Migration(migrations.Migration):
    dependencies = [
        ("gateways", "0002_device_secret"),
    ]

    operations = [
        migrations.AlterField(
            model_name="gateway",
            name="device_secret_hash",
            field=models.CharField(
                blank=True,
                help_text="the gateway's own protocol credential; see docs/gateway-protocol.md",
                max_length=200,
                verbose_name="デバイスシークレット(ハッシュ)",
            ),
        ),
        migrations.RunPython(forget_sha256_digests, migrations.RunPython.noop),
    ]
