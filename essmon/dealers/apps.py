from django.apps import AppConfig


class DealersConfig(AppConfig):
    name = "essmon.dealers"
    label = "dealers"
    verbose_name = "販売店"

    def ready(self) -> None:
        from essmon.dealers import receivers  # noqa: F401  (what accounts tells dealers)
