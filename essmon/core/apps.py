from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "essmon.core"
    label = "core"
    verbose_name = "基盤"

    def ready(self) -> None:
        from essmon.core import checks  # noqa: F401  (registers the deployment checks)
