from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "essmon.demo"
    label = "demo"
    verbose_name = "デモ"

    def ready(self) -> None:
        from essmon.core.serving import register_demo
        from essmon.demo import serving

        register_demo(serving.DEMO)
