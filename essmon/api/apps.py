from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "essmon.api"
    label = "api"
    verbose_name = "公開API"
