from django.contrib import admin

from essmon.commands.models import Command
from essmon.core.text import SafeTextAdmin


@admin.register(Command)
class CommandAdmin(SafeTextAdmin):
    """Read-only: commands are made on the monitoring site and answered by the gateway."""

    list_display = ("gateway", "setting", "value", "status", "requested_by", "requested_at")
    list_filter = ("status", "setting")
    search_fields = ("gateway__gateway_id",)
    date_hierarchy = "requested_at"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
