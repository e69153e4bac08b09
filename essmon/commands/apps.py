from django.apps import AppConfig


class CommandsConfig(AppConfig):
    name = "essmon.commands"
    label = "commands"
    verbose_name = "遠隔設定"
