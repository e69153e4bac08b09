"""Dealer terms 1.2: article 2.2 still said the dealer's employees share the dealer's login
(「ログイン情報を知る従業者は…パスワードを変更する」). Since dealer staff logins (docs/dealers.md,
"Staff logins") each 保守担当者 may have a login of their own with a role, given and ended by
the dealer's administrator, and what each person does is recorded with their name. Every
other article is 1.1's. A new version rather than an edit, as 1.1 was (docs/architecture.md,
"Terms that change")."""

import importlib

from django.db import migrations
from django.utils import timezone

V1 = importlib.import_module("essmon.accounts.migrations.0005_dealer_terms_v1")
V1_1 = importlib.import_module("essmon.accounts.migrations.0007_dealer_terms_1_1")

ARTICLE_2_2_BEFORE = (
    "2. ユーザID(メールアドレス)およびパスワードは販売店の責任で管理するものとします。"
    "ログイン情報を知る従業者は保守業務に必要な者に限り、その者が退職・異動したときは"
    "パスワードを変更するものとします。"
)
ARTICLE_2_2_NOW = (
    "2. 販売店アカウントを登録した者(以下「管理者」)のユーザID(メールアドレス)および"
    "パスワードは、販売店の責任で管理するものとします。管理者は、保守担当者ごとに、"
    "その者のメールアドレスをユーザIDとし、その者が自ら設定するパスワードによるログインを、"
    "役割(技術担当または閲覧のみ)を定めて与えることができます。ログインを与えられた者は"
    "本規約に自ら同意したうえで利用し、ログイン情報を他人と共有してはなりません。"
    "管理者は、ログインを与える者を保守業務に必要な者に限り、その者が退職・異動したときは"
    "直ちにそのログインを停止するものとします。第4条第9項の記録は、操作した者ごとに、"
    "その氏名とともに残ります。"
)
assert ARTICLE_2_2_BEFORE in V1_1.BODY  # the sentence this version amends

VERSION = "1.2"
TITLE = V1_1.TITLE
BODY = V1_1.BODY.replace(ARTICLE_2_2_BEFORE, ARTICLE_2_2_NOW)
CHANGES = (
    "第2条(販売店アカウント)第2項を、保守担当者が一人ずつ自分のログイン(役割: 技術担当"
    "または閲覧のみ)を持てること、そのログインは管理者が与えて停止すること、閲覧・変更は"
    "操作した者ごとに記録されることに改めました。"
)


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
    dependencies = [("accounts", "0009_staff_logins")]
    operations = [migrations.RunPython(create, remove)]
