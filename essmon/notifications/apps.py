from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "essmon.notifications"
    label = "notifications"
    verbose_name = "メール送信"
