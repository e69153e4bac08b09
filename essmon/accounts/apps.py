from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "essmon.accounts"
    label = "accounts"
    verbose_name = "アカウント"
