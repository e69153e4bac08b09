from django.apps import AppConfig


class CommandsConfig(AppConfig):
    name = "essmon.commands"
    label = "commands"
    verbose_name = "遠隔設定"

    def ready(self) -> None:
        from essmon.commands import receivers  # noqa: F401  (what dealers tells commands)
