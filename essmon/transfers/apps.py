from django.apps import AppConfig


class TransfersConfig(AppConfig):
    name = "essmon.transfers"
    label = "transfers"
    verbose_name = "名義変更"
