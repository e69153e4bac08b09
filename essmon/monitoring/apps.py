from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "essmon.monitoring"
    label = "monitoring"
    verbose_name = "モニタリング"
