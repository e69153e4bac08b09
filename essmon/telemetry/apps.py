from django.apps import AppConfig


class TelemetryConfig(AppConfig):
    name = "essmon.telemetry"
    label = "telemetry"
    verbose_name = "計測データ"
