from django.contrib import admin

from essmon.core.text import SafeTextAdmin
from essmon.support.models import SupportAction


@admin.register(SupportAction)
class SupportActionAdmin(SafeTextAdmin):
    """The desk's record: read only, as a record must be."""

    list_display = ["at", "operator_name", "action", "target_label", "outcome", "reason"]
    list_filter = ["action", "outcome"]
    search_fields = ["operator_name", "target_label", "reason"]
    readonly_fields = [f.name for f in SupportAction._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
