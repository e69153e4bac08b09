from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "essmon.core"
    label = "core"
    verbose_name = "基盤"
