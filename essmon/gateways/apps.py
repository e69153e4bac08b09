from django.apps import AppConfig


class GatewaysConfig(AppConfig):
    name = "essmon.gateways"
    label = "gateways"
    verbose_name = "ゲートウェイ"
