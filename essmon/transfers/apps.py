from django.apps import AppConfig


class TransfersConfig(AppConfig):
    name = "essmon.transfers"
    label = "transfers"
    verbose_name = "名義変更"

    def ready(self) -> None:
        from essmon.transfers import receivers  # noqa: F401  (connects the receivers)
