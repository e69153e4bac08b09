from django.contrib import admin

from essmon.alerts.models import Alert, FaultCode
from essmon.core.text import SafeTextAdmin


@admin.register(FaultCode)
class FaultCodeAdmin(SafeTextAdmin):
    """The catalogue is data operators keep: new gateway firmware brings new codes."""

    list_display = ("code", "severity", "title")
    list_filter = ("severity",)
    search_fields = ("code", "title", "description")


@admin.register(Alert)
class AlertAdmin(SafeTextAdmin):
    list_display = (
        "gateway",
        "kind",
        "code",
        "severity",
        "since",
        "opened_at",
        "closed_at",
        "acknowledged_as",
    )
    list_filter = ("kind", "severity", ("closed_at", admin.EmptyFieldListFilter))
    search_fields = ("gateway__gateway_id", "code", "title")
    date_hierarchy = "opened_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # opened and closed by the checks, acknowledged on the monitoring site
