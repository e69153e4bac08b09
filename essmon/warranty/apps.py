from django.apps import AppConfig


class WarrantyConfig(AppConfig):
    name = "essmon.warranty"
    label = "warranty"
    verbose_name = "保証"

    def ready(self) -> None:
        from essmon.warranty import (
            checks,  # noqa: F401  (registers the settings check)
            receivers,  # noqa: F401  (what accounts tells warranty)
        )
