from django.contrib import admin
from django.contrib.admin.models import LogEntry

from essmon.core.models import PeriodicJob
from essmon.core.text import SafeTextAdmin


@admin.register(PeriodicJob)
class PeriodicJobAdmin(SafeTextAdmin):
    list_display = ["name", "next_run_at", "last_started_at", "last_finished_at", "last_error"]


@admin.register(LogEntry)
class LogEntryAdmin(SafeTextAdmin):
    """Every change an operator makes in the admin, searchable (Django writes these)."""

    list_display = ["action_time", "user", "content_type", "object_repr", "action_flag"]
    list_filter = ["action_flag", "content_type"]
    search_fields = ["object_repr", "user__email", "change_message"]
    date_hierarchy = "action_time"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
