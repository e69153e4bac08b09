from django.apps import AppConfig


class AlertsConfig(AppConfig):
    name = "essmon.alerts"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = "異常のお知らせ"
