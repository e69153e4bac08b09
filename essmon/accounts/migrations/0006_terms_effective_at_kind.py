"""Terms that change (issue 14): a version takes effect at ``effective_at`` (the former
``published_at``, which was already the date from which a version was in force), a
document kind (利用規約 / プライバシーポリシー), a summary of what changed and when the
version was announced by mail."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("accounts", "0005_dealer_terms_v1")]

    operations = [
        migrations.RenameField("termsversion", "published_at", "effective_at"),
        migrations.AlterField(
            model_name="termsversion",
            name="effective_at",
            field=models.DateTimeField(
                "施行日時",
                help_text="この日時から、ログイン中の方も含め、次の操作の前に同意をお願いします。"
                "施行後、またはお知らせメールの送信後は変更できません。",
            ),
        ),
        migrations.AddField(
            model_name="termsversion",
            name="kind",
            field=models.CharField(
                "種類",
                max_length=10,
                choices=[("terms", "利用規約"), ("privacy", "プライバシーポリシー")],
                default="terms",
            ),
        ),
        migrations.AddField(
            model_name="termsversion",
            name="changes",
            field=models.TextField(
                "主な変更点", blank=True, help_text="改定の同意画面で、本文の前にお示しします。"
            ),
        ),
        migrations.AddField(
            model_name="termsversion",
            name="announced_at",
            field=models.DateTimeField(
                "お知らせメール送信日時", null=True, blank=True, editable=False
            ),
        ),
        migrations.AlterField(
            model_name="termsversion",
            name="privacy_purpose",
            field=models.TextField("個人情報の利用目的", blank=True),
        ),
        migrations.AlterModelOptions(
            name="termsversion",
            options={
                "ordering": ["-effective_at", "-pk"],
                "verbose_name": "利用規約",
                "verbose_name_plural": "利用規約",
            },
        ),
        migrations.RemoveConstraint(model_name="termsversion", name="accounts_terms_version"),
        migrations.AddConstraint(
            model_name="termsversion",
            constraint=models.UniqueConstraint(
                fields=["audience", "kind", "version"], name="accounts_terms_version"
            ),
        ),
        migrations.AlterField(
            model_name="termsacceptance",
            name="context",
            field=models.CharField(
                "同意した画面",
                max_length=20,
                choices=[
                    ("registration", "お客様情報の登録"),
                    ("activation", "本登録"),
                    ("renewal", "改定への同意"),
                ],
            ),
        ),
        migrations.AddIndex(
            model_name="termsacceptance",
            index=models.Index(fields=["user", "terms"], name="accounts_te_user_id_8f827b_idx"),
        ),
    ]
