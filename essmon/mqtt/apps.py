from django.apps import AppConfig


class MqttConfig(AppConfig):
    name = "essmon.mqtt"
    label = "mqtt"
    verbose_name = "MQTT"
