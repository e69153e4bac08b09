from django.apps import AppConfig


class SupportConfig(AppConfig):
    name = "essmon.support"
    label = "support"
    verbose_name = "サポートデスク"
