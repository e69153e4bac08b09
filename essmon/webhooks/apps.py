from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "essmon.webhooks"
    label = "webhooks"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = "Webhook"

    def ready(self) -> None:
        from essmon.webhooks import receivers  # noqa: F401  (what the apps below tell)
