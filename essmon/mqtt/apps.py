from django.apps import AppConfig


class MqttConfig(AppConfig):
    name = "essmon.mqtt"
    label = "mqtt"
    verbose_name = "MQTT"

    def ready(self) -> None:
        from essmon.mqtt import receivers  # noqa: F401  (what dealers tells the broker)
