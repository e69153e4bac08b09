"""Dealer terms 1.1: article 9 lists what is recorded of a dealer's actions, and 故障交換
(a linked dealer replacing a failed gateway, recorded in the customer's record since this
release) was not in it. A new version rather than an edit, since a version in force is fixed
and dealers are asked to agree to the new one at their next login (docs/architecture.md,
"Terms that change")."""

import importlib

from django.db import migrations
from django.utils import timezone

V1 = importlib.import_module("essmon.accounts.migrations.0005_dealer_terms_v1")

RECORDED_BEFORE = "設定や系統連系日・受取日を変更したこと、異常を確認済みにしたこと"
RECORDED_NOW = (
    "設定や系統連系日・受取日を変更したこと、異常を確認済みにしたこと、"
    "故障したゲートウェイを交換したこと"
)
assert RECORDED_BEFORE in V1.DEALER_TERMS_BODY  # the sentence this version amends

VERSION = "1.1"
TITLE = "遠隔モニタリングサービス 販売店様利用規約"
BODY = V1.DEALER_TERMS_BODY.replace(RECORDED_BEFORE, RECORDED_NOW)
CHANGES = "第9条(閲覧・変更の記録)に、故障したゲートウェイを交換したことの記録を加えました。"


def create(apps, schema_editor):
    TermsVersion = apps.get_model("accounts", "TermsVersion")
    TermsVersion.objects.get_or_create(
        audience="dealer",
        kind="terms",
        version=VERSION,
        defaults={
            "title": TITLE,
            "body": BODY,
            "privacy_purpose": V1.DEALER_PRIVACY_PURPOSE,
            "changes": CHANGES,
            "effective_at": timezone.now(),
        },
    )


def remove(apps, schema_editor):
    apps.get_model("accounts", "TermsVersion").objects.filter(
        audience="dealer", kind="terms", version=VERSION
    ).delete()


class Migration(migrations.Migration):
    dependencies = [("accounts", "0006_terms_effective_at_kind")]
    operations = [migrations.RunPython(create, remove)]
