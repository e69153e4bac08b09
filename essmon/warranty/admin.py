from django.contrib import admin

from essmon.core.text import SafeTextAdmin
from essmon.warranty.models import DateChange, OfflineWarning, RecordedLapse, WarrantyDates


class ReadOnlyAdmin(SafeTextAdmin):
    """The dates are the customer's statement and the rest is record: operators look, and
    corrections go through the warranty page, where they are audited."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(WarrantyDates)
class WarrantyDatesAdmin(ReadOnlyAdmin):
    list_display = ["gateway", "grid_connection_date", "received_date", "updated_at"]
    search_fields = ["gateway__gateway_id"]


@admin.register(DateChange)
class DateChangeAdmin(ReadOnlyAdmin):
    list_display = ["changed_at", "gateway", "field", "before", "after", "changed_as"]
    list_filter = ["field"]
    search_fields = ["gateway__gateway_id", "changed_as"]


@admin.register(OfflineWarning)
class OfflineWarningAdmin(ReadOnlyAdmin):
    list_display = ["sent_at", "gateway", "days", "offline_since", "recipients"]
    search_fields = ["gateway__gateway_id"]


@admin.register(RecordedLapse)
class RecordedLapseAdmin(SafeTextAdmin):
    """Read-only, but deletable: deleting a lapse (after an outage on essmon's side, say)
    is the one way an extension comes back, and the admin's history records who did it."""

    list_display = ["gateway", "offline_since", "lapsed_at", "recorded_at"]
    search_fields = ["gateway__gateway_id"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
