from django.apps import AppConfig


class DealersConfig(AppConfig):
    name = "essmon.dealers"
    label = "dealers"
    verbose_name = "販売店"
